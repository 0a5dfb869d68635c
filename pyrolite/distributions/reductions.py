"""Reductions over a tensor's event dims, shared by distributions, transforms and guides."""

from __future__ import annotations

import numbers

import torch


def sum_rightmost(value: torch.Tensor | float, n: int | float) -> torch.Tensor | float:
    """Sum the rightmost ``n`` dims of ``value``, as Pyro's ``sum_rightmost``.

    ``n == 0``: unchanged; ``n < 0``: keep the ``-n`` leftmost dims (sum the rest);
    ``n >= value.dim()`` (``math.inf`` included): sum everything. Plain numbers pass through.
    E.g. for shape ``(2, 3, 4)``: ``n=1`` gives ``(2, 3)``, ``n=-1`` gives ``(2,)``.
    """
    if isinstance(value, numbers.Number):
        return value
    if n < 0:
        n += value.dim()
    if n <= 0:
        return value
    if n >= value.dim():
        return value.sum()
    return value.reshape(value.shape[: value.dim() - int(n)] + (-1,)).sum(-1)
