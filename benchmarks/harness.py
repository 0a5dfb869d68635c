"""What every benchmark script shares: repeats with rotated order, ratios, JSON output."""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

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


def svi_stepper(pyro, model: Callable, guide: Callable, lr: float, loss, seed=None):
    """A fresh ``pyro.infer.SVI`` (empty param store, optional seed) with Adam(lr); returns
    its ``step``. ``pyro`` is pyrolite or Pyro: both have the same API."""
    pyro.clear_param_store()
    if seed is not None:
        pyro.set_rng_seed(seed)
    return pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": lr}), loss).step


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
