"""``DistributedSVI``: data-parallel SVI over an initialised ``torch.distributed`` process group.

Every process (rank) builds the same model, guide and optimiser and calls ``step`` with its
own shard of the data. A step:

1. computes the loss and its gradients on the shard, with the checks :class:`pyrolite.infer.SVI`
   makes (a non-finite loss; with validation on, a non-finite gradient), catching any error;
2. all-reduces ``[failed, loss]`` (two float64 numbers, one collective): the flag that says
   whether any rank failed rides with the loss, so a healthy step costs one tiny extra
   collective;
3. the first time a param is read, sets every rank's copy to rank 0's value (one broadcast)
   and repeats 1-2 from those values, so that ranks never start from different initial
   values (a param initialised at random, a network's weights);
4. all-reduces the gradients of the params read in the step (one flat buffer per step), then
   each rank takes the same optimiser step, so params stay identical.

Failures: all ranks raise together, or none. If step 2 finds that any rank failed (in either
pass of a first step), the ranks exchange the failed ranks' error messages
(``all_gather_object``), no rank broadcasts, reduces or steps the optimiser, every rank clears
its gradients, and every rank raises: a failed rank its own error (the one ``SVI`` would raise,
naming the site or param), the others an error naming the failed ranks and quoting their
messages (a ``ValueError`` if every failed rank raised one, else a ``RuntimeError``). Params read
before the step are left unchanged and equal on all ranks; params created in a failed first
pass take rank 0's values at the next step that reads them. ``evaluate_loss`` follows the same
protocol (its one collective is the flag-and-loss all-reduce).

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
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as tdist

from pyrolite.infer.elbo import ELBO
from pyrolite.infer.svi import SVI, _clear_grads

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
        read, after every rank has reported that its own pass succeeded (see the module
        docstring: a failure on any rank raises on every rank, and no rank steps)."""
        _require_process_group()
        loss, params, error = self._local_loss_and_grads(args, kwargs)
        total = self._agree(loss, params, error, "step")
        new = [name for name in params if name not in self._synced]
        if new:  # the same on every rank: all ranks read the same params
            self._broadcast_from_rank_0([params[name] for name in new])
            self._synced.update(new)
            _clear_grads(params.values())
            loss, params, error = self._local_loss_and_grads(args, kwargs)
            total = self._agree(loss, params, error, "step")
        self._all_reduce_grads(list(params.values()))
        return total, params

    def _local_loss_and_grads(
        self, args: tuple, kwargs: dict
    ) -> tuple[float, dict[str, torch.Tensor], Exception | None]:
        """This rank's loss and grads, with the checks ``SVI.step`` makes, and the error they
        raised (caught, so that every rank can learn of it before raising)."""
        try:
            loss, params = super()._loss_and_grads(args, kwargs)  # grads cleared if it raises
        except Exception as error:  # noqa: BLE001 - re-raised by _agree, on every rank
            # an interrupt (a BaseException) is not reported to the other ranks: their next
            # collective times out
            return math.nan, {}, error
        return loss, params, None

    def _check_grads(
        self, params: dict[str, torch.Tensor], args: tuple, kwargs: dict, loss: float
    ) -> None:
        # grads from values about to be replaced by rank 0's are dropped: check them then
        if all(name in self._synced for name in params):
            super()._check_grads(params, args, kwargs, loss)

    def evaluate_loss(self, *args: Any, **kwargs: Any) -> float:
        """The loss over all ranks (reduced like the gradients), with no parameter change.
        Raises on every rank or on none, like ``step``."""
        _require_process_group()
        try:
            loss, error = super().evaluate_loss(*args, **kwargs), None
        except Exception as caught:  # noqa: BLE001 - re-raised by _agree, on every rank
            loss, error = math.nan, caught
        return self._agree(loss, {}, error, "evaluate_loss")

    def _agree(
        self,
        loss: float,
        params: dict[str, torch.Tensor],
        error: Exception | None,
        method: str,
    ) -> float:
        """All-reduce ``[failed, loss]`` (one collective, two float64 numbers) and return the
        loss over ranks; if any rank failed, clear the grads of ``params`` and raise on every
        rank: ``error`` itself where it is set, else an error quoting the failed ranks'."""
        flags = torch.tensor(
            [float(error is not None), 0.0 if error is not None else loss],
            dtype=torch.float64,
            device=self._comm_device,
        )
        tdist.all_reduce(flags, group=self.process_group)
        failed, total = flags.tolist()
        if failed:
            _clear_grads(params.values())
            self._raise_on_every_rank(error, method)
        return total / self.world_size if self.grad_reduction == "mean" else total

    def _raise_on_every_rank(self, error: Exception | None, method: str) -> None:
        """Gather each failed rank's error (type name, message) and raise on this rank."""
        report = None if error is None else _report(error)
        reports: list[Any] = [None] * self.world_size
        tdist.all_gather_object(reports, report, group=self.process_group)
        if error is not None:
            raise error
        failed = [(self._global_rank(i), r) for i, r in enumerate(reports) if r is not None]
        kind = ValueError if all(report[2] for _, report in failed) else RuntimeError
        ranks = ", ".join(str(rank) for rank, _ in failed)
        messages = "\n".join(f"rank {rank}: {name}: {text}" for rank, (name, text, _) in failed)
        raise kind(
            f"DistributedSVI.{method} failed on rank(s) {ranks} of {self.world_size} (this is "
            f"rank {tdist.get_rank()}): every rank raises and none stepped the optimiser (the "
            f"gradients were cleared). Fix the failing rank's error:\n{messages}"
        )

    def _global_rank(self, group_rank: int) -> int:
        group = self.process_group
        return group_rank if group is None else tdist.get_global_rank(group, group_rank)

    def _broadcast_from_rank_0(self, params: list[torch.Tensor]) -> None:
        group = self.process_group
        src = 0 if group is None else tdist.get_global_rank(group, 0)
        flat = torch.cat([p.detach().reshape(-1).to(self._comm_device) for p in params])
        tdist.broadcast(flat, src=src, group=group)
        with torch.no_grad():
            for p, chunk in zip(params, flat.split([p.numel() for p in params]), strict=True):
                p.copy_(chunk.view_as(p))

    def _all_reduce_grads(self, params: list[torch.Tensor]) -> None:
        """Reduce the grads of ``params`` in one collective on one flat buffer.

        A rank where a param has no grad contributes zeros; a param with no grad on any rank
        keeps ``grad = None`` (so the optimiser skips it, as in one process).
        """
        if not params:
            return
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
            + [torch.tensor(has_grad, dtype=dtype, device=device)]
        )
        tdist.all_reduce(flat, group=self.process_group)
        if self.grad_reduction == "mean":
            flat.mul_(1.0 / self.world_size)
        *grads, flags = flat.split([p.numel() for p in params] + [len(params)])
        for p, grad, flag in zip(params, grads, flags.tolist(), strict=True):
            if flag == 0:
                continue
            grad = grad.view_as(p).to(p.device, p.dtype)
            if p.grad is None:
                p.grad = grad.clone()
            else:
                p.grad.copy_(grad)


def _report(error: Exception) -> tuple[str, str, bool]:
    """What the other ranks learn of ``error``: plain strings, which always pickle."""
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not leave other ranks waiting
        text = repr(type(error))
    return type(error).__name__, text, isinstance(error, ValueError)
