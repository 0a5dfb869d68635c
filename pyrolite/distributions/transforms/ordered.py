"""``OrderedTransform``: unconstrained vectors to strictly increasing vectors."""

from __future__ import annotations

import torch
from torch.distributions.transforms import Transform

from pyrolite.distributions import constraints

__all__ = ["OrderedTransform"]


class OrderedTransform(Transform):
    """Map ``x`` (shape ``(..., n)``) to ``y`` with ``y[0] = x[0]``, ``y[i] = y[i-1] + exp(x[i])``.

    The result strictly increases along the last dim. ``log|det J| = sum(x[..., 1:])``,
    of shape ``x.shape[:-1]``.
    """

    domain = constraints.real_vector
    codomain = constraints.ordered_vector
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrderedTransform)

    def __hash__(self) -> int:
        return hash(OrderedTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        steps = torch.cat([x[..., :1], x[..., 1:].exp()], dim=-1)
        return steps.cumsum(dim=-1)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([y[..., :1], (y[..., 1:] - y[..., :-1]).log()], dim=-1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum(x[..., 1:], -1)``: the Jacobian is triangular with diagonal ``1, exp(x[1:])``."""
        return x[..., 1:].sum(dim=-1)
