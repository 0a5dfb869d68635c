"""W1b ``many_sites``: per-site cost of an SVI step with 100 scalar latents (BENCHMARKS.md).

Model: z_i ~ Normal(0, 1) for i < 100 (a Python loop); plate "data" of 10: y_j ~ Normal(sum z, 1).
Guide: z_i ~ Normal(z_loc_i, z_scale_i) with 200 scalar params. Trace_ELBO, Adam lr 0.01.
Contenders (those installed): ``torch`` (baseline: the same loop with torch.distributions),
``torch_raw`` (closed-form densities), ``torch_vec`` (two 100-vectors, vectorised: the math
floor), ``pyrolite``, ``pyro``, ``numpyro`` (``jax.jit(svi.update)`` once per step plus
``float(loss)``; its warm-up compiles). 10 untimed warm-up steps, then 100 timed steps per
repeat; ratios to ``torch`` and, when NumPyro is installed, to ``numpyro``.

    python benchmarks/many_sites.py [--repeats 5] [--steps 100] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
from collections.abc import Callable

import torch
from harness import (
    RESULTS_DIR,
    environment,
    median_ratios,
    numpyro_stepper,
    optimiser_step,
    pin_threads,
    rotated,
    svi_stepper,
    time_steps,
    write_results,
)
from overhead import NUM_LATENTS, NUM_OBS, make_data

LR = 0.01
SITES = NUM_LATENTS


def ppl_setup(pyro, y: torch.Tensor) -> Callable[[int], Callable[[], float]]:
    dist = pyro.distributions
    positive = dist.constraints.positive
    names = [(f"z_{i}", f"z_loc_{i}", f"z_scale_{i}") for i in range(NUM_LATENTS)]

    def model(y):
        zs = [pyro.sample(z, dist.Normal(0.0, 1.0)) for z, _, _ in names]
        total = torch.stack(zs).sum()
        with pyro.plate("data", NUM_OBS):
            pyro.sample("obs", dist.Normal(total, 1.0), obs=y)

    def guide(y):
        for z, loc_name, scale_name in names:
            loc = pyro.param(loc_name, lambda: torch.tensor(0.0))
            scale = pyro.param(scale_name, lambda: torch.tensor(0.1), constraint=positive)
            pyro.sample(z, dist.Normal(loc, scale))

    def setup(seed: int) -> Callable[[], float]:
        step = svi_stepper(pyro, model, guide, LR, pyro.infer.Trace_ELBO(), seed)
        return lambda: step(y)

    return setup


def numpyro_setup(
    y: torch.Tensor, sites: int = NUM_LATENTS
) -> Callable[[int], Callable[[], float]]:
    """W1b in NumPyro: the same Python loops over ``sites`` latents (100 in the workload),
    traced once by ``jax.jit``."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as ndist
    from numpyro.distributions import constraints

    names = [(f"z_{i}", f"z_loc_{i}", f"z_scale_{i}") for i in range(sites)]

    def model(y):
        zs = [numpyro.sample(z, ndist.Normal(0.0, 1.0)) for z, _, _ in names]
        total = jnp.stack(zs).sum()
        with numpyro.plate("data", NUM_OBS):
            numpyro.sample("obs", ndist.Normal(total, 1.0), obs=y)

    def guide(y):
        for z, loc_name, scale_name in names:
            loc = numpyro.param(loc_name, jnp.array(0.0))
            scale = numpyro.param(scale_name, jnp.array(0.1), constraint=constraints.positive)
            numpyro.sample(z, ndist.Normal(loc, scale))

    setup, _ = numpyro_stepper(model, guide, LR, (y.numpy(),))
    return setup


def torch_setup(y: torch.Tensor, closed_form: bool) -> Callable[[int], Callable[[], float]]:
    Normal = torch.distributions.Normal
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def setup(seed: int) -> Callable[[], float]:
        torch.manual_seed(seed)
        locs = [torch.tensor(0.0, requires_grad=True) for _ in range(NUM_LATENTS)]
        log_scales = [torch.tensor(0.1).log().requires_grad_(True) for _ in range(NUM_LATENTS)]
        opt = torch.optim.Adam(locs + log_scales, lr=LR)

        def step() -> float:
            log_p, log_q, zs = 0.0, 0.0, []
            for loc, log_scale in zip(locs, log_scales, strict=True):
                scale = log_scale.exp()
                if closed_form:
                    eps = torch.randn(())
                    z = loc + scale * eps
                    log_q = log_q - 0.5 * eps**2 - log_scale - half_log_2pi
                    log_p = log_p - 0.5 * z**2 - half_log_2pi
                else:
                    q = Normal(loc, scale)
                    z = q.rsample()
                    log_q = log_q + q.log_prob(z)
                    log_p = log_p + Normal(0.0, 1.0).log_prob(z)
                zs.append(z)
            total = torch.stack(zs).sum()
            if closed_form:
                log_p = log_p + (-0.5 * (y - total) ** 2 - half_log_2pi).sum()
            else:
                log_p = log_p + Normal(total, 1.0).log_prob(y).sum()
            loss = -(log_p - log_q)
            return optimiser_step(loss, opt)

        return step

    return setup


def torch_vec_setup(y: torch.Tensor) -> Callable[[int], Callable[[], float]]:
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def setup(seed: int) -> Callable[[], float]:
        torch.manual_seed(seed)
        loc = torch.zeros(NUM_LATENTS, requires_grad=True)
        log_scale = torch.full((NUM_LATENTS,), 0.1).log().requires_grad_(True)
        opt = torch.optim.Adam([loc, log_scale], lr=LR)

        def step() -> float:
            eps = torch.randn(NUM_LATENTS)
            z = loc + log_scale.exp() * eps
            log_q = (-0.5 * eps**2 - log_scale - half_log_2pi).sum()
            log_p = (-0.5 * z**2 - half_log_2pi).sum()
            log_p = log_p + (-0.5 * (y - z.sum()) ** 2 - half_log_2pi).sum()
            loss = -(log_p - log_q)
            return optimiser_step(loss, opt)

        return step

    return setup


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contenders", default="", help="comma list (default: all installed)")
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "many_sites.json"))
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    y = make_data(args.seed)

    import pyrolite

    setups = {
        "torch": torch_setup(y, closed_form=False),
        "torch_raw": torch_setup(y, closed_form=True),
        "torch_vec": torch_vec_setup(y),
        "pyrolite": ppl_setup(pyrolite, y),
    }
    try:
        import pyro

        setups["pyro"] = ppl_setup(pyro, y)
    except ImportError:
        print("pyro not installed (pip install -e '.[bench]'): no Pyro contender")
    try:
        setups["numpyro"] = numpyro_setup(y)
    except ImportError:
        print("numpyro not installed (pip install -e '.[bench]'): no NumPyro contender")
    if args.contenders:
        setups = {k: v for k, v in setups.items() if k in args.contenders.split(",")}
    names = list(setups)
    for name in names:
        time_steps(setups[name](args.seed), args.warmup)
    us_per_step: dict[str, list[float]] = {n: [] for n in names}
    for repeat in range(args.repeats):
        for name in rotated(names, repeat):
            seconds, _ = time_steps(setups[name](args.seed + repeat), args.steps)
            us_per_step[name].append(seconds * 1e6)
    ratio = median_ratios(us_per_step, "torch") if "torch" in us_per_step else {}
    to_numpyro = median_ratios(us_per_step, "numpyro") if "numpyro" in us_per_step else {}
    per_step = {n: statistics.median(v) for n, v in us_per_step.items()}
    result = {
        "workload": "W1b many_sites",
        "steps": args.steps,
        "repeats": args.repeats,
        **environment(args.threads),
        "us_per_step": per_step,
        "us_per_step_per_site": {n: v / SITES for n, v in per_step.items()},
        "ratio_to_torch": ratio,
        "ratio_to_numpyro": to_numpyro,
    }
    print(f"{'contender':<10} {'us/step':>10} {'us/site':>8} {'ratio':>7} {'/numpyro':>9}")
    nan = float("nan")
    for n in names:
        print(
            f"{n:<10} {per_step[n]:>10.1f} {per_step[n] / SITES:>8.2f} "
            f"{ratio.get(n, nan):>7.2f} {to_numpyro.get(n, nan):>9.2f}"
        )
    write_results(result, args.out)
    return result


if __name__ == "__main__":
    main()
