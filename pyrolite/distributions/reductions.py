"""Reductions over a tensor's event dims, shared by distributions, transforms and guides."""

from __future__ import annotations

import torch


def sum_rightmost(value: torch.Tensor, n: int) -> torch.Tensor:
    """Sum the rightmost ``n`` dims of ``value`` (``n <= 0``: unchanged)."""
    if n <= 0:
        return value
    return value.reshape(value.shape[: value.dim() - n] + (-1,)).sum(-1)
