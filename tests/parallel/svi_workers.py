"""What each process of the DistributedSVI tests runs (importable by spawned children)."""

from __future__ import annotations

import os

import torch
from torch import nn

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import SVI, Trace_ELBO

N, D, STEPS = 16, 3, 6


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


def rank_main(rank: int, world: int, out_dir: str, reduction: str) -> None:
    """One gloo rank: a different seed (so inits differ until broadcast), its half of the data.

    The ranks meet through a file in ``out_dir`` (no port to pick, so no port to race for).
    """
    from pyrolite.parallel import DistributedSVI

    init = "file://" + os.path.join(out_dir, "rendezvous")
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        pyro.set_rng_seed(rank)
        x, y = data()
        rows = torch.arange(rank * N // world, (rank + 1) * N // world)
        result = train(
            DistributedSVI, x[rows], y[rows], rows, reduction, world, grad_reduction=reduction
        )
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
        # no rank tears gloo down while the other may still be using it (an abort otherwise)
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()
