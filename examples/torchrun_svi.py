"""Data-parallel SVI under torchrun: each process trains on its shard of every batch.

    torchrun --nproc_per_node 2 examples/torchrun_svi.py [--steps 300] [--backend gloo]

torchrun starts the processes and sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
``init_process_group`` reads them. The model is Bayesian linear regression on a synthetic
data set of 1000 points: a global weight vector (AutoNormal guide) and a noise scale. Each
rank takes rows ``rank, rank + world_size, ...`` of every batch and declares the data plate
with the full batch size and its rows as the subsample, so its loss estimates the whole
batch's and the default ``grad_reduction="mean"`` is right. Rank 0 prints the loss (the same
on every rank) and the fitted weights, which are identical on every rank.
"""

from __future__ import annotations

import argparse

import torch
import torch.distributed as tdist

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import Trace_ELBO
from pyrolite.infer.autoguide import AutoNormal
from pyrolite.parallel import DistributedSVI

TRUE_WEIGHTS = torch.tensor([1.0, -2.0, 0.5])


def make_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (n, 3), y (n,) = x @ [1, -2, 0.5] + 0.3 * noise, the same on every rank."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return x, x @ TRUE_WEIGHTS + 0.3 * torch.randn(n, generator=g)


def model(x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, size: int) -> None:
    """x (len(rows), 3), y (len(rows),): this rank's rows of a batch of ``size`` points."""
    w = pyro.sample("w", dist.Normal(torch.zeros(3), 1.0).to_event(1))
    sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
    with pyro.plate("data", size=size, subsample=rows):
        pyro.sample("y", dist.Normal(x @ w, sigma), obs=y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--backend", default="gloo", help="gloo (CPU) or nccl (CUDA)")
    args = parser.parse_args()

    tdist.init_process_group(args.backend)
    rank, world = tdist.get_rank(), tdist.get_world_size()
    if args.backend == "nccl":
        torch.cuda.set_device(rank % torch.cuda.device_count())
    pyro.set_rng_seed(rank)  # different guide draws on each rank; params start from rank 0's
    x, y = make_data(1000)
    guide = AutoNormal(model)
    svi = DistributedSVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
    for step in range(args.steps):
        start = (step * args.batch_size) % len(x)
        batch = torch.arange(start, start + args.batch_size) % len(x)
        rows = torch.arange(rank, args.batch_size, world)  # this rank's rows of the batch
        loss = svi.step(x[batch[rows]], y[batch[rows]], rows, args.batch_size)
        if rank == 0 and step % 50 == 0:
            print(f"step {step:4d}  loss {loss:9.3f}")
    weights = pyro.param("AutoNormal.locs.w").detach()
    if rank == 0:
        print(f"fitted weights {weights.tolist()} (true {TRUE_WEIGHTS.tolist()})")
    tdist.barrier()  # no rank tears gloo down while another may still be using it
    tdist.destroy_process_group()


if __name__ == "__main__":
    main()
