"""``DenseNN``: a fully connected network whose output is split into parameter blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class DenseNN(nn.Module):
    """``input_dim -> hidden_dims... -> sum(param_dims)``, with ``nonlinearity`` between layers.

    Called on ``x`` of shape ``(..., input_dim)`` it returns one tensor of shape
    ``(..., param_dims[0])`` when ``param_dims`` has one entry, else a tuple of tensors of
    shapes ``(..., p)`` for ``p`` in ``param_dims``. No nonlinearity follows the last layer.

    Example: ``mean, log_scale = DenseNN(2, [16], param_dims=[3, 3])(torch.randn(10, 2))``.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int],
        param_dims: Sequence[int] = (1, 1),
        nonlinearity: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if input_dim < 1 or any(h < 1 for h in hidden_dims) or any(p < 1 for p in param_dims):
            raise ValueError(
                f"DenseNN: input_dim, hidden_dims and param_dims must be positive, got "
                f"input_dim={input_dim}, hidden_dims={list(hidden_dims)}, "
                f"param_dims={list(param_dims)}"
            )
        self.input_dim = input_dim
        self.hidden_dims = list(hidden_dims)
        self.param_dims = list(param_dims)
        sizes = [input_dim] + self.hidden_dims + [sum(self.param_dims)]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.f = nn.ReLU() if nonlinearity is None else nonlinearity

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``(..., input_dim)`` -> ``(..., p)`` per entry ``p`` of ``param_dims``."""
        h = x
        for layer in self.layers[:-1]:
            h = self.f(layer(h))
        h = self.layers[-1](h)
        if len(self.param_dims) == 1:
            return h
        return tuple(h.split(self.param_dims, dim=-1))
