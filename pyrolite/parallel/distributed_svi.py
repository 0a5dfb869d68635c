"""``DistributedSVI``: data-parallel SVI over an initialised ``torch.distributed`` process group.

Every process (rank) builds the same model, guide and optimiser and calls ``step`` with its
own shard of the data. A step:

1. computes the loss and its gradients on the shard, as :class:`pyrolite.infer.SVI` does;
2. the first time a param is read, sets every rank's copy to rank 0's value (one broadcast)
   and computes the step's gradients again from those values, so that ranks never start
   from different initial values (a param initialised at random, a network's weights);
3. all-reduces the gradients of the params read in the step (one flat buffer per step) and
   the loss, then each rank takes the same optimiser step, so params stay identical.

Reduction. ``grad_reduction="mean"`` (the default, like ``DistributedDataParallel``) averages
the gradients over ranks: right when each rank's loss already estimates the loss of the whole
data set, i.e. the data plate is declared with the full size and the shard as its subsample
(``pyro.plate("data", size=N, subsample=shard)``), or the loss is a mean per datum.
``grad_reduction="sum"`` adds them: right when each rank's loss is the sum over its shard
only (``pyro.plate("data", len(shard))``), so the loss of the whole batch is the sum over
ranks. With ``"sum"``, a site outside the data plate (a global latent and its guide site) is
scored on every rank, so it must be scaled by ``1 / world_size``
(``with pyro.poutine.scale(scale=1 / world_size):``) to be counted once; ``"mean"`` needs no
such care, which is why it is the default. Either way the loss ``step`` returns is reduced
the same way, and equals the loss one process would compute on the whole batch.

Devices. Collectives run on the backend's device: CPU tensors for gloo, the current CUDA
device for NCCL; gradients living elsewhere are copied there and back.

Differences from ``SVI``: ``compile=True`` is not offered, and every rank must read the same
params in the same order in each step (true when all ranks run the same program).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as tdist

from pyrolite.infer.elbo import ELBO
from pyrolite.infer.svi import SVI

__all__ = ["DistributedSVI"]


def _require_process_group() -> None:
    if not (tdist.is_available() and tdist.is_initialized()):
        raise RuntimeError(
            "DistributedSVI needs an initialised torch.distributed process group: call "
            "torch.distributed.init_process_group('gloo') (CPU) or ('nccl') (CUDA) in every "
            "process first, e.g. under `torchrun --nproc_per_node N script.py`; for a single "
            "process use pyrolite.infer.SVI"
        )


class DistributedSVI(SVI):
    """SVI whose gradients are all-reduced across ranks before each optimiser step.

    Same interface as :class:`pyrolite.infer.SVI` (``step``, ``evaluate_loss``, checkpoints),
    plus ``grad_reduction`` (``"mean"`` or ``"sum"``, see the module docstring) and
    ``process_group`` (``None``: the default group).

    Example (in each of N processes started by torchrun)::

        torch.distributed.init_process_group("gloo")
        svi = DistributedSVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
        for x in batches:  # x: the full batch; each rank takes its slice
            loss = svi.step(x[rank::world_size])
    """

    def __init__(
        self,
        model: Callable,
        guide: Callable,
        optim: Callable,
        loss: ELBO | Callable,
        loss_and_grads: Callable | None = None,
        grad_reduction: str = "mean",
        process_group: Any = None,
    ) -> None:
        _require_process_group()
        if grad_reduction not in ("mean", "sum"):
            raise ValueError(f"grad_reduction must be 'mean' or 'sum', got {grad_reduction!r}")
        super().__init__(model, guide, optim, loss, loss_and_grads)
        self.grad_reduction = grad_reduction
        self.process_group = process_group
        self.world_size = tdist.get_world_size(process_group)
        backend = tdist.get_backend(process_group)
        self._comm_device = (
            torch.device("cuda", torch.cuda.current_device())
            if backend == "nccl"
            else torch.device("cpu")
        )
        self._synced: set[str] = set()

    def _loss_and_grads(self, args: tuple, kwargs: dict) -> tuple[float, dict[str, torch.Tensor]]:
        """The loss over all ranks, with every rank's grads reduced onto the params the step
        read. ``SVI.step`` then checks them (every rank holds the same reduced grads, so all
        ranks raise together or none) and takes the same optimiser step on each rank."""
        _require_process_group()
        loss, params = super()._loss_and_grads(args, kwargs)
        new = [name for name in params if name not in self._synced]
        if new:
            self._broadcast_from_rank_0([params[name] for name in new])
            self._synced.update(new)
            for p in params.values():
                p.grad = None
            loss, params = super()._loss_and_grads(args, kwargs)
        return self._all_reduce(list(params.values()), float(loss)), params

    def evaluate_loss(self, *args: Any, **kwargs: Any) -> float:
        """The loss over all ranks (reduced like the gradients), with no parameter change."""
        _require_process_group()
        return self._all_reduce([], super().evaluate_loss(*args, **kwargs))

    def _broadcast_from_rank_0(self, params: list[torch.Tensor]) -> None:
        group = self.process_group
        src = 0 if group is None else tdist.get_global_rank(group, 0)
        flat = torch.cat([p.detach().reshape(-1).to(self._comm_device) for p in params])
        tdist.broadcast(flat, src=src, group=group)
        with torch.no_grad():
            for p, chunk in zip(params, flat.split([p.numel() for p in params]), strict=True):
                p.copy_(chunk.view_as(p))

    def _all_reduce(self, params: list[torch.Tensor], loss: float) -> float:
        """Reduce the grads of ``params`` and the loss, in one collective on one flat buffer.

        A rank where a param has no grad contributes zeros; a param with no grad on any rank
        keeps ``grad = None`` (so the optimiser skips it, as in one process).
        """
        device = self._comm_device
        grad_dtypes = [p.grad.dtype for p in params if p.grad is not None]
        dtype = functools.reduce(torch.promote_types, grad_dtypes) if grad_dtypes else torch.float32
        has_grad = [float(p.grad is not None) for p in params]
        flat = torch.cat(
            [
                (p.grad if p.grad is not None else torch.zeros_like(p))
                .reshape(-1)
                .to(device, dtype)
                for p in params
            ]
            + [torch.tensor(has_grad + [loss], dtype=dtype, device=device)]
        )
        tdist.all_reduce(flat, group=self.process_group)
        if self.grad_reduction == "mean":
            flat.mul_(1.0 / self.world_size)
        sizes = [p.numel() for p in params]
        *grads, flags = flat.split(sizes + [len(params) + 1])
        for p, grad, flag in zip(params, grads, flags[:-1].tolist(), strict=True):
            if flag == 0:
                continue
            grad = grad.view_as(p).to(p.device, p.dtype)
            if p.grad is None:
                p.grad = grad.clone()
            else:
                p.grad.copy_(grad)
        return float(flags[-1])
