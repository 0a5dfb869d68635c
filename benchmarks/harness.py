"""What every benchmark script shares: repeats with rotated order, ratios, JSON output."""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def rotated(names: list[str], repeat: int) -> list[str]:
    """``names`` rotated by ``repeat`` places, so each contender runs first in turn."""
    k = repeat % len(names)
    return names[k:] + names[:k]


def time_steps(step: Callable[[], float], steps: int) -> tuple[float, list[float]]:
    """Seconds per call of ``step`` over ``steps`` calls, and the values it returned."""
    values = [0.0] * steps
    gc.collect()
    start = time.perf_counter()
    for i in range(steps):
        values[i] = step()
    return (time.perf_counter() - start) / steps, values


def median_ratios(per_repeat: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Median over repeats of each contender's time divided by the baseline's."""
    base = per_repeat[baseline]
    return {
        name: statistics.median(t / b for t, b in zip(times, base, strict=True))
        for name, times in per_repeat.items()
    }


def optimiser_step(loss: torch.Tensor, opt: torch.optim.Optimizer) -> float:
    """The tail of every hand-written step: backward, step, clear grads; the loss as float."""
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


def svi_stepper(pyro, model: Callable, guide: Callable, lr: float, loss, seed=None, **svi_kwargs):
    """A fresh ``pyro.infer.SVI`` (empty param store, optional seed) with Adam(lr); returns
    its ``step``. ``pyro`` is pyrolite or Pyro: both have the same API; ``svi_kwargs`` (such
    as pyrolite's ``compile=True``) go to ``SVI``."""
    pyro.clear_param_store()
    if seed is not None:
        pyro.set_rng_seed(seed)
    return pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": lr}), loss, **svi_kwargs).step


def pin_threads(threads: int) -> None:
    """Pin torch's intra-op threads and, if JAX is not imported yet, XLA's CPU thread pool."""
    torch.set_num_threads(threads)
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
        ).strip()


def numpyro_stepper(model: Callable, guide: Callable, lr: float, args: tuple):
    """NumPyro's SVI (Trace_ELBO, Adam(lr)) on ``args`` (numpy arrays): returns
    ``(setup, read_param)``. ``setup(seed)`` initialises fresh params and returns a ``step``
    that calls ``jax.jit(svi.update)`` once and returns ``float(loss)``; the jitted update is
    shared by every setup, so it compiles once, in the first steps run."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.optim import Adam

    svi = SVI(model, guide, Adam(lr), Trace_ELBO())
    update = jax.jit(svi.update)
    args = tuple(jnp.asarray(a) for a in args)
    holder = {}

    def setup(seed: int) -> Callable[[], float]:
        holder["state"] = svi.init(jax.random.PRNGKey(seed), *args)

        def step() -> float:
            holder["state"], loss = update(holder["state"], *args)
            return float(loss)

        return step

    def read_param(name: str) -> torch.Tensor:
        return torch.tensor(np.asarray(svi.get_params(holder["state"])[name]))

    return setup, read_param


def environment(threads: int) -> dict:
    return {"threads": threads, "torch": torch.__version__, "machine": platform.machine()}


def write_results(result: dict, out: str) -> None:
    """Write ``result`` as JSON to ``out`` atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, out)
    print(f"results written to {out}")
