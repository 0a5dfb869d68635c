"""``clamp_preserve_gradients``: clamp a value but let its gradient through unchanged."""

from __future__ import annotations

import torch


def clamp_preserve_gradients(x: torch.Tensor, min: float, max: float) -> torch.Tensor:
    """``x.clamp(min, max)`` in value; in the backward pass the identity (the gradient is
    not zeroed outside ``[min, max]``, so a clipped log-scale can still learn back).
    Same shape as ``x``."""
    return x + (x.clamp(min, max) - x).detach()
