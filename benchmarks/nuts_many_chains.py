"""W5 ``nuts_many_chains``: NUTS on eight schools with 128 chains (BENCHMARKS.md).

500 warmup + 500 draws per chain, 2 repeats, configs interleaved. ``numpyro_vectorized`` and
``pyrolite_batched`` (``MCMC(num_chains=128)``; ``pyrolite_batched_jit`` with
``NUTS(jit_compile=True)``) run all 128 chains. Pyro is not run at 128
chains: ``pyro_seq`` runs 2 chains one after another (each ``MCMC(num_chains=1)``) and the
128-chain figures are EXTRAPOLATED: sequential wall = 128 x seconds per chain; the
"2-process ideal" = that / 2 (a perfect use of two cores, not measured); total ESS = 128 x
(ESS of the measured chains / 2). "Total ESS" is the min over the 10 scalars of the ESS of
all chains pooled.

    python benchmarks/nuts_many_chains.py [--chains 128] [--pyro-chains 2] [--repeats 2]
"""

from __future__ import annotations

import argparse

from harness import pin_threads
from nuts_common import (
    add_common_args,
    config_names,
    make_named_configs,
    print_table,
    run_workload,
    write_workload,
)
from nuts_eight_schools import SIGMA, SITES, Y, numpyro_model, ppl_model

DEFAULT = ["numpyro_vectorized", "pyro_seq", "pyrolite_batched", "pyrolite_batched_jit"]


def extrapolate(measured: dict, measured_chains: int, chains: int) -> dict:
    """Pyro's ``chains``-chain figures from a run of ``measured_chains`` chains."""
    factor = chains / measured_chains
    wall = measured["wall_s"] * factor
    bulk, ess = measured["bulk_ess_min"] * factor, measured["ess_min"] * factor
    return {
        "EXTRAPOLATED": True,
        "measured_chains": measured_chains,
        "wall_s_sequential": wall,
        "wall_s_2_process_ideal": wall / 2,
        "ess_min": ess,
        "bulk_ess_min": bulk,
        "bulk_ess_per_s_sequential": bulk / wall,
        "bulk_ess_per_s_2_process_ideal": bulk / (wall / 2),
        "ess_per_s_sequential": ess / wall,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, warmup=500, samples=500, repeats=2)
    parser.add_argument("--chains", type=int, default=128)
    parser.add_argument("--pyro-chains", type=int, default=2)
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    names = config_names(args, DEFAULT, DEFAULT)
    configs = make_named_configs(
        names,
        ppl_model,
        numpyro_model,
        (SIGMA, Y),
        args.chains,
        args.warmup,
        args.samples,
        pyro_chains=args.pyro_chains,
    )
    result = run_workload(configs, args, "W5 nuts_many_chains", SITES)
    summary = result["configs"]
    if "pyro_seq" in summary:
        result["pyro_extrapolated"] = extrapolate(
            summary["pyro_seq"], args.pyro_chains, args.chains
        )
    print_table(summary, lambda n: f"  (measured: {args.pyro_chains} chains)" * (n == "pyro_seq"))
    if "pyro_extrapolated" in result:
        e = result["pyro_extrapolated"]
        print(
            f"pyro, {args.chains} chains EXTRAPOLATED: sequential {e['wall_s_sequential']:.1f} s "
            f"(2-process ideal {e['wall_s_2_process_ideal']:.1f} s), total bulk ESS "
            f"{e['bulk_ess_min']:.0f}, bulk ESS/s {e['bulk_ess_per_s_sequential']:.1f} "
            f"(ideal {e['bulk_ess_per_s_2_process_ideal']:.1f})"
        )
    write_workload(result, args, "nuts_many_chains")
    return result


if __name__ == "__main__":
    main()
