"""W1 ``svi_overhead``: cost of one SVI step on Bayesian linear regression (BENCHMARKS.md).

Contenders (those installed): ``pyrolite``, ``pyrolite_compiled`` (``SVI(compile=True)``),
``torch`` (hand-written with torch.distributions, the baseline), ``torch_raw`` (closed-form
densities), ``pyro``, ``pyro_jit``, ``numpyro`` (``jax.jit(svi.update)`` once per step plus
``float(loss)``). Each runs an untimed 200-step warm-up (its seconds, compilation included,
are reported as ``warmup_s_incl_compile``), then 2000 timed ``step`` calls per repeat,
contenders interleaved with their order rotated each repeat; ratios are medians of
per-repeat ratios to ``torch``, and ``compiled_to_numpyro`` is the median per-repeat ratio
of ``pyrolite_compiled`` to ``numpyro`` (the target: at most 2).

    python benchmarks/svi_overhead.py [--repeats 5] [--steps 2000] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
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

LR = 0.01


def make_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """W1 data: X (100, 3), y = X @ [1, -2, 0.5] + 0.5 + 0.5 * noise (float32)."""
    rng = np.random.RandomState(seed)
    X = rng.randn(100, 3)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.5 + 0.5 * rng.randn(100)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


class Contender:
    """``setup(seed)`` makes fresh params; ``step()`` returns the loss as a float."""

    def __init__(self, setup: Callable[[int], Callable[[], float]], final_w: Callable) -> None:
        self.setup = setup
        self.final_w = final_w


def ppl_contender(pyro, X, y, loss_cls, **svi_kwargs) -> Contender:
    """The model and guide of W1 in a library with Pyro's API (pyro or pyrolite);
    ``svi_kwargs`` go to ``SVI`` (``compile=True`` for ``pyrolite_compiled``)."""
    dist = pyro.distributions
    constraints = dist.constraints

    def model(X, y):
        w = pyro.sample("w", dist.Normal(torch.zeros(3), torch.ones(3)).to_event(1))
        b = pyro.sample("b", dist.Normal(0.0, 1.0))
        sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
        with pyro.plate("data", 100):
            pyro.sample("obs", dist.Normal(X @ w + b, sigma), obs=y)

    def guide(X, y):
        w_loc = pyro.param("w_loc", lambda: torch.zeros(3))
        w_scale = pyro.param("w_scale", lambda: torch.full((3,), 0.1), constraints.positive)
        b_loc = pyro.param("b_loc", lambda: torch.tensor(0.0))
        b_scale = pyro.param("b_scale", lambda: torch.tensor(0.1), constraints.positive)
        s_loc = pyro.param("sigma_loc", lambda: torch.tensor(0.0))
        s_scale = pyro.param("sigma_scale", lambda: torch.tensor(0.1), constraints.positive)
        pyro.sample("w", dist.Normal(w_loc, w_scale).to_event(1))
        pyro.sample("b", dist.Normal(b_loc, b_scale))
        pyro.sample("sigma", dist.LogNormal(s_loc, s_scale))

    def setup(seed: int) -> Callable[[], float]:
        step = svi_stepper(pyro, model, guide, LR, loss_cls(), seed, **svi_kwargs)
        return lambda: step(X, y)

    return Contender(setup, lambda: pyro.param("w_loc").detach().clone())


def numpyro_contender(X, y) -> Contender:
    """W1 in NumPyro: the same model and guide, the jitted update called once per step."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as ndist
    from numpyro.distributions import constraints

    def model(X, y):
        w = numpyro.sample("w", ndist.Normal(jnp.zeros(3), jnp.ones(3)).to_event(1))
        b = numpyro.sample("b", ndist.Normal(0.0, 1.0))
        sigma = numpyro.sample("sigma", ndist.HalfNormal(1.0))
        with numpyro.plate("data", 100):
            numpyro.sample("obs", ndist.Normal(X @ w + b, sigma), obs=y)

    def guide(X, y):
        positive = constraints.positive
        w_loc = numpyro.param("w_loc", jnp.zeros(3))
        w_scale = numpyro.param("w_scale", jnp.full((3,), 0.1), constraint=positive)
        b_loc = numpyro.param("b_loc", jnp.array(0.0))
        b_scale = numpyro.param("b_scale", jnp.array(0.1), constraint=positive)
        s_loc = numpyro.param("sigma_loc", jnp.array(0.0))
        s_scale = numpyro.param("sigma_scale", jnp.array(0.1), constraint=positive)
        numpyro.sample("w", ndist.Normal(w_loc, w_scale).to_event(1))
        numpyro.sample("b", ndist.Normal(b_loc, b_scale))
        numpyro.sample("sigma", ndist.LogNormal(s_loc, s_scale))

    setup, read_param = numpyro_stepper(model, guide, LR, (X.numpy(), y.numpy()))
    return Contender(setup, lambda: read_param("w_loc"))


def torch_contender(X, y) -> Contender:
    """Hand-written: torch.distributions objects, one torch.optim.Adam over the 6 leaves."""
    D = torch.distributions
    state = {}

    def setup(seed: int) -> Callable[[], float]:
        torch.manual_seed(seed)
        leaves = {
            "w_loc": torch.zeros(3),
            "w_scale": torch.full((3,), 0.1).log(),
            "b_loc": torch.tensor(0.0),
            "b_scale": torch.tensor(0.1).log(),
            "sigma_loc": torch.tensor(0.0),
            "sigma_scale": torch.tensor(0.1).log(),
        }
        for t in leaves.values():
            t.requires_grad_(True)
        state.update(leaves)
        opt = torch.optim.Adam(list(leaves.values()), lr=LR)
        w_prior = D.Independent(D.Normal(torch.zeros(3), torch.ones(3)), 1)
        b_prior = D.Normal(0.0, 1.0)
        s_prior = D.HalfNormal(1.0)

        def step() -> float:
            qw = D.Independent(D.Normal(leaves["w_loc"], leaves["w_scale"].exp()), 1)
            qb = D.Normal(leaves["b_loc"], leaves["b_scale"].exp())
            qs = D.LogNormal(leaves["sigma_loc"], leaves["sigma_scale"].exp())
            w, b, s = qw.rsample(), qb.rsample(), qs.rsample()
            log_p = (
                w_prior.log_prob(w)
                + b_prior.log_prob(b)
                + s_prior.log_prob(s)
                + D.Normal(X @ w + b, s).log_prob(y).sum()
            )
            log_q = qw.log_prob(w) + qb.log_prob(b) + qs.log_prob(s)
            loss = -(log_p - log_q)
            return optimiser_step(loss, opt)

        return step

    return Contender(setup, lambda: state["w_loc"].detach().clone())


def torch_raw_contender(X, y) -> Contender:
    """Closed-form log densities, one torch.randn(5) per step; same math."""
    state = {}
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def normal_lp(x, loc, log_scale):
        return -((x - loc) ** 2) / (2 * log_scale.exp() ** 2) - log_scale - half_log_2pi

    def setup(seed: int) -> Callable[[], float]:
        torch.manual_seed(seed)
        loc = torch.zeros(5, requires_grad=True)  # w (3), b, log sigma
        log_scale = torch.full((5,), 0.1).log().requires_grad_(True)
        state["loc"] = loc
        opt = torch.optim.Adam([loc, log_scale], lr=LR)
        zero = torch.zeros(())

        def step() -> float:
            eps = torch.randn(5)
            z = loc + log_scale.exp() * eps
            w, b, log_s = z[:3], z[3], z[4]
            s = log_s.exp()
            log_q = normal_lp(z, loc, log_scale).sum() - log_s  # LogNormal Jacobian for sigma
            log_p = (
                normal_lp(w, zero, zero).sum()
                + normal_lp(b, zero, zero)
                + (math.log(2.0) + normal_lp(s, zero, zero))  # HalfNormal(1)
                + normal_lp(y, X @ w + b, log_s).sum()
            )
            loss = -(log_p - log_q)
            return optimiser_step(loss, opt)

        return step

    return Contender(setup, lambda: state["loc"][:3].detach().clone())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contenders", default="", help="comma list (default: all installed)")
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "svi_overhead.json"))
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    X, y = make_data(args.seed)

    import pyrolite

    contenders = {
        "torch": torch_contender(X, y),
        "torch_raw": torch_raw_contender(X, y),
        "pyrolite": ppl_contender(pyrolite, X, y, pyrolite.infer.Trace_ELBO),
        "pyrolite_compiled": ppl_contender(pyrolite, X, y, pyrolite.infer.Trace_ELBO, compile=True),
    }
    try:
        import pyro

        contenders["pyro"] = ppl_contender(pyro, X, y, pyro.infer.Trace_ELBO)
        contenders["pyro_jit"] = ppl_contender(pyro, X, y, pyro.infer.JitTrace_ELBO)
    except ImportError:
        print("pyro not installed (pip install -e '.[bench]'): no Pyro contenders")
    try:
        contenders["numpyro"] = numpyro_contender(X, y)
    except ImportError:
        print("numpyro not installed (pip install -e '.[bench]'): no NumPyro contender")
    if args.contenders:
        contenders = {k: v for k, v in contenders.items() if k in args.contenders.split(",")}

    names = list(contenders)
    warmup_s = {}
    for name in names:
        step = contenders[name].setup(args.seed)
        start = time.perf_counter()
        for _ in range(args.warmup):
            step()
        warmup_s[name] = time.perf_counter() - start

    us_per_step: dict[str, list[float]] = {n: [] for n in names}
    last_losses: dict[str, list[float]] = {n: [] for n in names}
    final_w: dict[str, list[float]] = {}
    for repeat in range(args.repeats):
        for name in rotated(names, repeat):
            step = contenders[name].setup(args.seed + repeat)
            seconds, losses = time_steps(step, args.steps)
            us_per_step[name].append(seconds * 1e6)
            last_losses[name].append(statistics.fmean(losses[-200:]))
            final_w[name] = contenders[name].final_w().tolist()

    ratio = median_ratios(us_per_step, "torch") if "torch" in us_per_step else {}
    compiled_to_numpyro = (
        median_ratios(us_per_step, "numpyro")["pyrolite_compiled"]
        if {"numpyro", "pyrolite_compiled"} <= set(us_per_step)
        else None
    )
    result = {
        "workload": "W1 svi_overhead",
        "steps": args.steps,
        "repeats": args.repeats,
        **environment(args.threads),
        "us_per_step": {n: statistics.median(v) for n, v in us_per_step.items()},
        "ratio_to_torch": ratio,
        "compiled_to_numpyro": compiled_to_numpyro,
        "warmup_s_incl_compile": warmup_s,
        "mean_loss_last_200": {n: statistics.fmean(v) for n, v in last_losses.items()},
        "final_w_loc": final_w,
    }
    print(
        f"{'contender':<18} {'us/step':>9} {'ratio':>7} {'warm-up s':>10} {'loss(last 200)':>15}"
        "  final w_loc"
    )
    for n in names:
        w = ", ".join(f"{v:.2f}" for v in final_w[n])
        print(
            f"{n:<18} {result['us_per_step'][n]:>9.1f} {ratio.get(n, float('nan')):>7.2f} "
            f"{warmup_s[n]:>10.2f} {result['mean_loss_last_200'][n]:>15.2f}  [{w}]"
        )
    if compiled_to_numpyro is not None:
        print(f"pyrolite_compiled / numpyro: {compiled_to_numpyro:.2f} (target: at most 2)")
    write_results(result, args.out)
    return result


if __name__ == "__main__":
    main()
