"""``AutoRegressiveNN``: a masked autoencoder for distribution estimation (MADE).

Given an order of the ``D`` input variables (``permutation[k]`` is the ``k``-th variable),
every output belonging to variable ``i`` is a function of only the variables that come
before ``i`` in that order. So the Jacobian of any output block with respect to the input,
with rows and columns both put in that order, is strictly lower triangular. This is what
makes the affine autoregressive flow's Jacobian triangular.

How the masks are built: variable ``i`` gets the rank ``r(i)`` (its position in the order,
``0 .. D-1``). Every hidden unit gets a degree ``m`` in ``0 .. D-2`` (assigned in turn, so
every degree is used when a layer has at least ``D-1`` units). A weight is kept when

- input ``j`` -> first hidden unit: ``r(j) <= m``;
- hidden unit -> next hidden unit: ``m_in <= m_out``;
- last hidden unit -> output of variable ``i``: ``m < r(i)``;
- input ``j`` -> output of variable ``i`` (skip connection): ``r(j) < r(i)``.

A path from input ``j`` to output ``i`` therefore needs ``r(j) <= m <= ... < r(i)``.
(Germain, Gregor, Murray, Larochelle 2015, arXiv:1502.03509.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyrolite.nn.masked_linear import MaskedLinear

__all__ = ["AutoRegressiveNN", "create_masks"]


def create_masks(
    input_dim: int, hidden_dims: Sequence[int], permutation: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """The MADE masks for one output per variable (see the module docstring).

    Returns ``(layer_masks, output_mask, skip_mask)``: ``layer_masks[0]`` has shape
    ``(hidden_dims[0], input_dim)``, ``layer_masks[k]`` ``(hidden_dims[k], hidden_dims[k-1])``,
    ``output_mask`` ``(input_dim, hidden_dims[-1])`` and ``skip_mask``
    ``(input_dim, input_dim)``; all boolean.
    """
    rank = torch.empty(input_dim, dtype=torch.long)
    rank[permutation] = torch.arange(input_dim)
    degrees = [torch.arange(h) % max(1, input_dim - 1) for h in hidden_dims]
    layer_masks = [rank.unsqueeze(0) <= degrees[0].unsqueeze(1)]
    for d_in, d_out in zip(degrees[:-1], degrees[1:], strict=True):
        layer_masks.append(d_in.unsqueeze(0) <= d_out.unsqueeze(1))
    output_mask = degrees[-1].unsqueeze(0) < rank.unsqueeze(1)
    skip_mask = rank.unsqueeze(0) < rank.unsqueeze(1)
    return layer_masks, output_mask, skip_mask


class AutoRegressiveNN(nn.Module):
    """MADE with ``len(hidden_dims)`` masked hidden layers (Pyro's ``AutoRegressiveNN``).

    Called on ``x`` of shape ``(..., input_dim)`` it returns, for each ``p`` in
    ``param_dims``, a tensor of shape ``(..., input_dim)`` when ``p == 1`` or
    ``(..., p, input_dim)`` when ``p > 1``: one tensor when ``param_dims`` has one entry,
    else a tuple. Entry ``[..., i]`` of every output depends only on the variables before
    ``i`` in the order ``permutation`` (a random permutation when not given; the identity
    gives ``x[..., :i]``).

    ``skip_connections`` adds a masked linear map from the input straight to the output;
    ``nonlinearity`` (default ``nn.ReLU()``) follows every hidden layer. Every hidden layer
    should have at least ``input_dim - 1`` units (checked), or some orders lose inputs.

    Example::

        arn = AutoRegressiveNN(5, [16], param_dims=[1, 1])
        mean, log_scale = arn(torch.randn(100, 5))   # each (100, 5)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int],
        param_dims: Sequence[int] = (1, 1),
        permutation: torch.Tensor | None = None,
        skip_connections: bool = False,
        nonlinearity: nn.Module | None = None,
    ) -> None:
        super().__init__()
        hidden_dims = list(hidden_dims)
        if input_dim < 1 or not hidden_dims or any(p < 1 for p in param_dims):
            raise ValueError(
                f"AutoRegressiveNN: need input_dim >= 1, at least one hidden layer and positive "
                f"param_dims; got input_dim={input_dim}, hidden_dims={hidden_dims}, "
                f"param_dims={list(param_dims)}"
            )
        if any(h < input_dim - 1 for h in hidden_dims):
            raise ValueError(
                f"AutoRegressiveNN: every hidden layer needs at least input_dim - 1 = "
                f"{input_dim - 1} units so that every variable can reach the later outputs; "
                f"got hidden_dims={hidden_dims}"
            )
        if permutation is None:
            permutation = torch.randperm(input_dim)
        permutation = torch.as_tensor(permutation, dtype=torch.long)
        if sorted(permutation.tolist()) != list(range(input_dim)):
            raise ValueError(
                f"AutoRegressiveNN: permutation must be a permutation of 0..{input_dim - 1}, "
                f"got {permutation.tolist()}"
            )
        self.input_dim = input_dim
        self.hidden_dims = hidden_dims
        self.param_dims = list(param_dims)
        self.count_params = len(self.param_dims)
        self.output_multiplier = sum(self.param_dims)
        self.register_buffer("permutation", permutation)

        layer_masks, output_mask, skip_mask = create_masks(input_dim, hidden_dims, permutation)
        # output unit (row r, variable i) sits at index r * input_dim + i
        output_mask = output_mask.repeat(self.output_multiplier, 1)
        sizes = [input_dim] + hidden_dims
        self.layers = nn.ModuleList(
            MaskedLinear(a, b, mask)
            for a, b, mask in zip(sizes[:-1], sizes[1:], layer_masks, strict=True)
        )
        self.layers.append(
            MaskedLinear(hidden_dims[-1], input_dim * self.output_multiplier, output_mask)
        )
        self.skip_layer = (
            MaskedLinear(
                input_dim,
                input_dim * self.output_multiplier,
                skip_mask.repeat(self.output_multiplier, 1),
                bias=False,
            )
            if skip_connections
            else None
        )
        self.f = nn.ReLU() if nonlinearity is None else nonlinearity

    def get_permutation(self) -> torch.Tensor:
        """The order of the variables: ``permutation[k]`` is the ``k``-th, shape ``(D,)``."""
        return self.permutation

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``(..., input_dim)`` -> the parameter blocks described in the class docstring."""
        h = x
        for layer in self.layers[:-1]:
            h = self.f(layer(h))
        h = self.layers[-1](h)
        if self.skip_layer is not None:
            h = h + self.skip_layer(x)
        h = h.reshape(x.shape[:-1] + (self.output_multiplier, self.input_dim))
        blocks = [
            b.squeeze(-2) if p == 1 else b
            for b, p in zip(h.split(self.param_dims, -2), self.param_dims, strict=True)
        ]
        return blocks[0] if self.count_params == 1 else tuple(blocks)
