"""W4 ``nuts_logreg``: NUTS on Bayesian logistic regression, N=5000, D=25 (BENCHMARKS.md).

One chain (default: configs ``pyro_seq``, ``numpyro_sequential``, ``pyrolite_batched``,
``pyrolite_batched_jit``; 2 repeats) or, with ``--chains 4 --tag 4chains``, four
(``pyro_mp``, ``pyro_seq``, ``numpyro_vectorized``, ``numpyro_sequential``,
``pyrolite_batched``, ``pyrolite_seq``, ``pyrolite_batched_jit``; 1 repeat). 500 warmup +
1000 draws; timed and reported as W3, over the 26 scalars (w, b).

    python benchmarks/nuts_logreg.py [--chains 1] [--repeats 2] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from harness import pin_threads
from nuts_common import (
    add_common_args,
    config_names,
    make_named_configs,
    print_table,
    run_workload,
    write_workload,
)

N, D = 5000, 25
SITES = ["w", "b"]
ONE_CHAIN = ["pyro_seq", "numpyro_sequential", "pyrolite_batched", "pyrolite_batched_jit"]
FOUR_CHAINS = ["pyro_mp", "pyro_seq", "numpyro_vectorized", "numpyro_sequential"]
FOUR_CHAINS += ["pyrolite_batched", "pyrolite_seq", "pyrolite_batched_jit"]


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (5000, 25) standard normal; y ~ Bernoulli(sigmoid(X w + b)) with w, b standard normal."""
    rng = np.random.RandomState(seed)
    X = rng.randn(N, D)
    w_true = rng.randn(D)
    b_true = rng.randn()
    p = 1 / (1 + np.exp(-(X @ w_true + b_true)))
    y = (rng.rand(N) < p).astype(np.float32)
    return X.astype(np.float32), y


def ppl_model(pyro):
    """The model in a library with Pyro's API (pyro or pyrolite); args (X, y)."""
    dist = pyro.distributions

    def model(X, y):
        w = pyro.sample("w", dist.Normal(torch.zeros(D), torch.ones(D)).to_event(1))
        b = pyro.sample("b", dist.Normal(0.0, 1.0))
        with pyro.plate("N", N):
            pyro.sample("obs", dist.Bernoulli(logits=X @ w + b), obs=y)

    return model


def numpyro_model(X, y):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    w = numpyro.sample("w", dist.Normal(jnp.zeros(D), jnp.ones(D)).to_event(1))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    with numpyro.plate("N", N):
        numpyro.sample("obs", dist.Bernoulli(logits=X @ w + b), obs=y)


def make_configs(names: list[str], chains: int, warmup: int, samples: int) -> dict:
    """The named configs whose library is installed."""
    data = make_data(0)
    return make_named_configs(names, ppl_model, numpyro_model, data, chains, warmup, samples)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, warmup=500, samples=1000, repeats=None)
    parser.add_argument("--chains", type=int, default=1)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.chains == 1 else 1
    pin_threads(args.threads)
    known = ONE_CHAIN + FOUR_CHAINS + ["pyro_default", "pyro_jit_seq"]
    names = config_names(args, ONE_CHAIN if args.chains == 1 else FOUR_CHAINS, known)
    configs = make_configs(names, args.chains, args.warmup, args.samples)
    result = run_workload(configs, args, "W4 nuts_logreg", SITES, tag=args.tag)
    print_table(result["configs"])
    write_workload(result, args, "nuts_logreg")
    return result


if __name__ == "__main__":
    main()
