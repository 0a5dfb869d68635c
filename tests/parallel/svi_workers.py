"""What each process of the DistributedSVI tests runs (importable by spawned children)."""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator

import torch
from torch import nn

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import SVI, Trace_ELBO

N, D, STEPS = 16, 3, 6
TIMEOUT = datetime.timedelta(seconds=30)  # a stuck collective raises long before the deadline


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(N, D, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3 * torch.randn(N, generator=g)
    return x, y


def make_program(reduction: str, world: int = 1):
    """A regression: global weights w (Delta guide, random init) plus an nn.Linear offset.

    With "sum", each rank's loss is the sum over its rows, and the global site w, which every
    rank scores, is scaled by 1/world so that the sum over ranks counts it once.
    """
    net = nn.Linear(D, 1)

    def plate(x, rows):
        if reduction == "mean":  # each rank's loss estimates the whole batch's
            return pyro.plate("data", size=N, subsample=rows)
        return pyro.plate("data", x.shape[0])  # each rank's loss is the sum over its rows

    def model(x, y, rows):
        pyro.module("net", net)
        with pyro.poutine.scale(scale=1.0 if reduction == "mean" else 1.0 / world):
            w = pyro.sample("w", dist.Normal(torch.zeros(D), 1.0).to_event(1))
        with plate(x, rows):
            mean = x @ w + net(x).squeeze(-1)
            pyro.sample("y", dist.Normal(mean, 0.5), obs=y)

    def guide(x, y, rows):
        w_q = pyro.param("w_q", torch.randn(D))
        pyro.sample("w", dist.Delta(w_q).to_event(1))

    return model, guide


def train(svi_class, x, y, rows, reduction, world=1, **kwargs) -> dict:
    model, guide = make_program(reduction, world)
    svi = svi_class(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO(), **kwargs)
    losses = [svi.step(x, y, rows) for _ in range(STEPS)]
    params = {k: v.detach().clone() for k, v in pyro.get_param_store().items()}
    return {"losses": losses, "params": params}


def single_process(reduction: str) -> dict:
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    x, y = data()
    return train(SVI, x, y, torch.arange(N), reduction)


@contextlib.contextmanager
def _process_group(rank: int, world: int, out_dir: str) -> Iterator[None]:
    """A gloo group of ``world`` ranks that meet through a file in ``out_dir`` (no port to
    pick, so no port to race for); the block's rank waits for the others before leaving."""
    init = "file://" + os.path.join(out_dir, "rendezvous")
    torch.distributed.init_process_group(
        "gloo", init_method=init, rank=rank, world_size=world, timeout=TIMEOUT
    )
    try:
        yield
        # no rank tears gloo down while the other may still be using it (an abort otherwise)
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def rank_main(rank: int, world: int, out_dir: str, reduction: str) -> None:
    """One gloo rank: a different seed (so inits differ until broadcast), its half of the data.

    The ranks meet through a file in ``out_dir`` (no port to pick, so no port to race for).
    """
    from pyrolite.parallel import DistributedSVI

    with _process_group(rank, world, out_dir):
        pyro.set_rng_seed(rank)
        x, y = data()
        rows = torch.arange(rank * N // world, (rank + 1) * N // world)
        result = train(
            DistributedSVI, x[rows], y[rows], rows, reduction, world, grad_reduction=reduction
        )
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))


ERRORS = {"ValueError": ValueError, "TypeError": TypeError}


def faulty_program(fault: str, at_run: int, rank: int):
    """``make_program("mean")``, whose ``at_run``-th run (1-based) on rank 1 goes wrong.

    The first step runs the program twice (the second time after params are broadcast from
    rank 0), each later step once. ``fault``: ``"ValueError"``/``"TypeError"``, the model
    raises it; ``"nan_grad"``, the guide adds ``sqrt(0 * w_q)`` to ``w_q`` (the value and the
    loss stay finite, the gradient of ``w_q`` is NaN); anything else, no fault.
    """
    model, _ = make_program("mean")
    runs = 0

    def guide(x, y, rows):
        nonlocal runs
        runs += 1
        w_q = pyro.param("w_q", torch.randn(D))
        if fault == "nan_grad" and rank == 1 and runs == at_run:
            w_q = w_q + torch.sqrt(0 * w_q)
        pyro.sample("w", dist.Delta(w_q).to_event(1))

    def faulty_model(x, y, rows):
        if fault in ERRORS and rank == 1 and runs == at_run:
            raise ERRORS[fault]("user code rejects the rows of rank 1")
        model(x, y, rows)

    return faulty_model, guide


def fault_main(rank: int, world: int, out_dir: str, fault: str, at: int) -> None:
    """Three steps with ``grad_reduction="mean"``, one of which fails on rank 1 only.

    ``fault="inf"``: rank 1's shard of ``y`` holds an inf in step ``at`` (0-based); other
    faults: run ``at`` of :func:`faulty_program`. Saves, per step, ``("ok", loss)`` or
    ``("error", type name, message)``, the params after it, and whether every param's grad
    was cleared; with ``"inf"``, also the outcome of ``evaluate_loss`` on the bad shard.
    """
    from pyrolite.parallel import DistributedSVI

    with _process_group(rank, world, out_dir):
        pyro.set_rng_seed(rank)
        x, y = data()
        rows = torch.arange(rank * N // world, (rank + 1) * N // world)
        model, guide = faulty_program(fault, at, rank)
        svi = DistributedSVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
        store = pyro.get_param_store()
        outcomes, params, grads_cleared = [], [], []
        for step in range(3):
            shard = y[rows].clone()
            if fault == "inf" and rank == 1 and step == at:
                shard[0] = float("inf")
            outcomes.append(_outcome(svi.step, x[rows], shard, rows))
            params.append({k: v.detach().clone() for k, v in store.items()})
            grads_cleared.append(all(store.unconstrained(k).grad is None for k in store.keys()))
        result = {"outcomes": outcomes, "params": params, "grads_cleared": grads_cleared}
        if fault == "inf":  # evaluate_loss on rank 1's bad shard, on every rank
            shard = y[rows].clone()
            shard[0] = float("inf") if rank == 1 else shard[0]
            result["evaluate_loss"] = _outcome(svi.evaluate_loss, x[rows], shard, rows)
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))


def _outcome(method, *args) -> tuple:
    try:
        return ("ok", method(*args))
    except Exception as error:  # noqa: BLE001 - the outcome under test
        return ("error", type(error).__name__, str(error))
