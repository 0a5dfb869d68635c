"""Sums of per-site tensors across plates, for ELBOs that track which plates each cost
lives in (``TraceGraph_ELBO``'s downstream costs): a site's vectorised plate stack, the dims
to sum out for sites in different plates, and :class:`MultiFrameTensor`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace, is_subsample

__all__ = ["MultiFrameTensor", "get_dependent_plate_dims", "get_plate_stacks", "torch_sum"]


def get_plate_stacks(trace: Trace) -> dict[str, list]:
    """Site name -> the vectorised plate frames (outermost first) of each sample site that is
    not a plate's index site."""
    return {
        name: [frame for frame in site.cond_indep_stack if frame.vectorized]
        for name, site in trace.nodes.items()
        if site.type == "sample" and not is_subsample(site)
    }


def get_dependent_plate_dims(sites: Iterable[Message]) -> list[int]:
    """The sorted dims of the vectorised plates that enclose some but not all of ``sites``."""
    stacks = [set(site.cond_indep_stack) for site in sites if site.type == "sample"]
    if not stacks:
        return []
    some = set().union(*stacks)
    every = some.intersection(*stacks)
    return sorted({frame.dim for frame in some - every if frame.dim is not None})


def torch_sum(tensor: torch.Tensor, dims: Iterable[int]) -> torch.Tensor:
    """``tensor.sum(dims)`` over those of the negative ``dims`` that ``tensor`` has."""
    dims = list(dims)
    if any(d >= 0 for d in dims):
        raise ValueError(f"torch_sum: dims must be negative, got {dims}")
    present = [d for d in dims if d >= -tensor.dim()]
    return tensor.sum(present) if present else tensor


class MultiFrameTensor(dict):
    """Tensors summed per set of enclosing vectorised plates.

    Keys are frozensets of plate frames; values are tensors broadcastable over those plates'
    dims. ``sum_to(frames)`` adds everything up after summing out the dims of plates not in
    ``frames``::

        cost = MultiFrameTensor((site["cond_indep_stack"], site["log_prob"]) for ...)
        total = cost.sum_to(target_site["cond_indep_stack"])
    """

    def __init__(self, *items: tuple[Any, torch.Tensor]) -> None:
        super().__init__()
        self.add(*items)

    def add(self, *items: tuple[Any, torch.Tensor]) -> None:
        """Add ``(cond_indep_stack, tensor)`` pairs, summing tensors of the same plates."""
        for stack, value in items:
            frames = frozenset(frame for frame in stack if frame.vectorized)
            for frame in frames:
                if not -value.dim() <= frame.dim < 0:
                    raise ValueError(
                        f"MultiFrameTensor: a tensor of shape {tuple(value.shape)} has no dim "
                        f"{frame.dim} for plate {frame.name!r}"
                    )
            self[frames] = self[frames] + value if frames in self else value

    def sum_to(self, target_frames: Iterable) -> torch.Tensor | float:
        """The total over all entries, with the dims of plates outside ``target_frames``
        summed out (kept as size 1) and leading size-1 dims dropped; 0.0 when empty."""
        target = set(target_frames)
        total = None
        for frames, value in self.items():
            for frame in frames:
                if frame not in target and value.shape[frame.dim] != 1:
                    value = value.sum(frame.dim, keepdim=True)
            while value.dim() and value.shape[0] == 1:
                value = value.squeeze(0)
            total = value if total is None else total + value
        return 0.0 if total is None else total

    def __repr__(self) -> str:
        inner = ",\n\t".join(f"({frames}, ...)" for frames in self)
        return f"{type(self).__name__}({inner})"
