"""``MaskedLinear``: a linear layer whose weight is multiplied by a fixed 0/1 mask."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class MaskedLinear(nn.Linear):
    """``y = x @ (weight * mask).T + bias``; ``mask`` has the weight's shape
    ``(out_features, in_features)`` and is a buffer (it moves with ``.to(device)``)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        if mask.shape != (out_features, in_features):
            raise ValueError(
                f"MaskedLinear: mask has shape {tuple(mask.shape)}, expected "
                f"(out_features, in_features) = ({out_features}, {in_features})"
            )
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape ``(..., in_features)`` -> ``(..., out_features)``."""
        return functional.linear(x, self.weight * self.mask, self.bias)
