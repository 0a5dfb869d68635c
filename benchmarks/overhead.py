"""Handler overhead per sample site, on the W1b model of BENCHMARKS.md (100 latent sites).

Measures one ``trace(replay(model, guide_trace))`` plus the log-density sum of the trace,
against the same arithmetic with no handlers at all (``torch.distributions`` objects built
and scored in a plain loop), and against Pyro doing the same when it is installed. The
overhead per site is ``(t_handlers - t_plain) / sites``. All contenders run in one process,
interleaved call by call, their order rotated each repeat; each repeat takes the median time
per call, and the reported ratios are medians of per-repeat ratios.

    python benchmarks/overhead.py [--repeats 7] [--runs 300] [--threads 1] [--seed 0] [--out F]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from harness import RESULTS_DIR, write_results

NUM_LATENTS = 100
NUM_OBS = 10


def make_data(seed: int) -> torch.Tensor:
    """W1b data: ``y = z_true.sum() + noise``, 10 observations (float32)."""
    rng = np.random.RandomState(seed)
    z_true = rng.randn(NUM_LATENTS)
    y = z_true.sum() + rng.randn(NUM_OBS)
    return torch.tensor(y, dtype=torch.float32)


def make_ppl_contender(pyro, dist, poutine, y: torch.Tensor) -> Callable[[], torch.Tensor]:
    """``trace(replay(model, guide_trace))`` + ``log_prob_sum`` for a Pyro-API library."""

    def model(y):
        zs = [pyro.sample(f"z_{i}", dist.Normal(0.0, 1.0)) for i in range(NUM_LATENTS)]
        total = torch.stack(zs).sum()
        with pyro.plate("data", NUM_OBS):
            pyro.sample("obs", dist.Normal(total, 1.0), obs=y)

    def guide(y):
        for i in range(NUM_LATENTS):
            loc = pyro.param(f"z_loc_{i}", lambda: torch.tensor(0.0))
            scale = pyro.param(
                f"z_scale_{i}", lambda: torch.tensor(0.1), constraint=dist.constraints.positive
            )
            pyro.sample(f"z_{i}", dist.Normal(loc, scale))

    pyro.clear_param_store()
    guide_trace = poutine.trace(guide).get_trace(y)

    def run() -> torch.Tensor:
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(y)
        return model_trace.log_prob_sum()

    run.guide_values = [guide_trace.nodes[f"z_{i}"]["value"] for i in range(NUM_LATENTS)]
    return run


def make_plain_contender(values: list[torch.Tensor], y: torch.Tensor) -> Callable:
    """The same arithmetic with no handlers: build each distribution, score the value."""
    Normal = torch.distributions.Normal

    def run() -> torch.Tensor:
        total = 0.0
        for z in values:
            total = total + Normal(0.0, 1.0).log_prob(z)
        loc = torch.stack(values).sum()
        return total + Normal(loc, 1.0).expand([NUM_OBS]).log_prob(y).sum()

    return run


def time_interleaved(contenders: dict[str, Callable], order: list[str], runs: int) -> dict:
    """Median seconds per call of each contender, calls interleaved one by one.

    Interleaving call by call (rather than block by block) exposes every contender to the
    same machine load; the median per call ignores the occasional stall of a shared box.
    """
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name in order}
    clock = time.perf_counter
    for _ in range(runs):
        for name in order:
            fn = contenders[name]
            start = clock()
            fn()
            samples[name].append(clock() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "overhead.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    y = make_data(args.seed)
    sites = NUM_LATENTS + 1

    import pyrolite
    import pyrolite.distributions as pl_dist
    from pyrolite import poutine as pl_poutine

    torch.manual_seed(args.seed)
    contenders = {"pyrolite": make_ppl_contender(pyrolite, pl_dist, pl_poutine, y)}
    contenders["plain"] = make_plain_contender(contenders["pyrolite"].guide_values, y)
    try:
        import pyro
        import pyro.distributions as pyro_dist
        from pyro import poutine as pyro_poutine

        torch.manual_seed(args.seed)
        contenders["pyro"] = make_ppl_contender(pyro, pyro_dist, pyro_poutine, y)
    except ImportError:
        print("pyro not installed (pip install -e '.[bench]'): comparing with plain torch only")

    # The contenders compute the same number from the same values.
    reference = contenders["plain"]()
    for name, fn in contenders.items():
        if name == "pyrolite":
            assert torch.allclose(fn(), reference), f"{name} computes another log density"

    names = list(contenders)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    time_interleaved(contenders, names, max(1, args.runs // 10))  # untimed warm-up
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name, secs in time_interleaved(contenders, order, args.runs).items():
            seconds[name].append(secs)

    def overhead_us(name: str, r: int) -> float:
        return (seconds[name][r] - seconds["plain"][r]) / sites * 1e6

    result = {
        "workload": "overhead (W1b model: trace(replay(model, guide_trace)) + log_prob_sum)",
        "sites": sites,
        "repeats": args.repeats,
        "runs_per_repeat": args.runs,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "us_per_run": {n: statistics.median(s) * 1e6 for n, s in seconds.items()},
        "overhead_us_per_site": {
            n: statistics.median(overhead_us(n, r) for r in range(args.repeats))
            for n in names
            if n != "plain"
        },
    }
    if "pyro" in contenders:
        result["overhead_ratio_pyrolite_to_pyro"] = statistics.median(
            overhead_us("pyrolite", r) / overhead_us("pyro", r) for r in range(args.repeats)
        )
        import pyro as _pyro

        result["pyro"] = _pyro.__version__

    print(f"{'contender':<10} {'us/run':>10} {'overhead us/site':>18}")
    for name in names:
        per_site = result["overhead_us_per_site"].get(name, 0.0)
        print(f"{name:<10} {result['us_per_run'][name]:>10.1f} {per_site:>18.2f}")
    if "overhead_ratio_pyrolite_to_pyro" in result:
        print(f"overhead ratio pyrolite/pyro: {result['overhead_ratio_pyrolite_to_pyro']:.3f}")
    write_results(result, args.out)
    return result


if __name__ == "__main__":
    main()
