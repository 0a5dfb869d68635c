"""W3 ``nuts_eight_schools``: NUTS on non-centred eight schools, 4 chains (BENCHMARKS.md).

Configs (those whose library is installed), interleaved with the order rotated per repeat,
seed ``seed + repeat`` for all: ``pyro_mp`` (Pyro's processes, forced on small machines),
``pyro_seq`` (4 runs of one chain), ``numpyro_vectorized``, ``numpyro_sequential``,
``pyrolite_batched`` (pyrolite's chains in one batch), ``pyrolite_seq``,
``pyrolite_batched_jit`` (the same with ``NUTS(jit_compile=True)``); optional
``pyro_default``, ``pyro_jit_seq``. Each run is timed whole (setup, 500 warmup, 1000 draws;
NumPyro's JIT compilation included, and its compile seconds reported from JAX's log).
Reported per config: wall s, min ESS and min bulk ESS over the 10 scalars, ESS/s, max split
R-hat, post-warmup divergences, mean leapfrog steps per draw, posterior means.

    python benchmarks/nuts_eight_schools.py [--repeats 2] [--chains 4] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from harness import pin_threads
from nuts_common import (
    add_common_args,
    config_names,
    make_named_configs,
    print_table,
    run_workload,
    write_workload,
)

Y = np.array([28, 8, -3, 7, -1, 1, 18, 12], dtype=np.float32)
SIGMA = np.array([15, 10, 16, 11, 9, 11, 10, 18], dtype=np.float32)
SITES = ["mu", "tau", "theta_tilde"]
DEFAULT = ["pyro_mp", "pyro_seq", "numpyro_vectorized", "numpyro_sequential"]
DEFAULT += ["pyrolite_batched", "pyrolite_seq", "pyrolite_batched_jit"]
OPTIONAL = ["pyro_default", "pyro_jit_seq"]


def ppl_model(pyro):
    """Eight schools in a library with Pyro's API (pyro or pyrolite); args (sigma, y)."""
    dist = pyro.distributions

    def model(sigma, y):
        mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = pyro.sample("tau", dist.HalfCauchy(5.0))
        with pyro.plate("J", 8):
            theta_tilde = pyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
            pyro.sample("obs", dist.Normal(mu + tau * theta_tilde, sigma), obs=y)

    return model


def numpyro_model(sigma, y):
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", 8):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        numpyro.sample("obs", dist.Normal(mu + tau * theta_tilde, sigma), obs=y)


def make_configs(names: list[str], chains: int, warmup: int, samples: int) -> dict:
    """The named configs whose library is installed."""
    data = (SIGMA, Y)
    return make_named_configs(names, ppl_model, numpyro_model, data, chains, warmup, samples)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, warmup=500, samples=1000, repeats=2)
    parser.add_argument("--chains", type=int, default=4)
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    names = config_names(args, DEFAULT, DEFAULT + OPTIONAL)
    configs = make_configs(names, args.chains, args.warmup, args.samples)
    result = run_workload(
        configs,
        args,
        "W3 nuts_eight_schools",
        SITES,
        reference_posterior_means={"mu": 4.41, "tau": 3.60},
    )
    print_table(result["configs"])
    write_workload(result, args, "nuts_eight_schools")
    return result


if __name__ == "__main__":
    main()
