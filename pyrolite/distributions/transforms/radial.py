"""``Radial``: the radial flow of Rezende & Mohamed (2015)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from pyrolite.distributions.transforms.cached_inverse import CachedInverseTransformModule

__all__ = ["Radial", "radial"]


class Radial(CachedInverseTransformModule):
    """``y = x + beta * h(r) * (x - x0)`` with ``r = |x - x0|``, ``h(r) = 1 / (alpha + r)``,
    on vectors of size ``D = input_dim`` (``event_dim = 1``).

    Params: ``x0`` ``(D,)``, ``alpha_prime`` ``(1,)``, ``beta_prime`` ``(1,)``, initialised
    ``Uniform(-1/sqrt(D), 1/sqrt(D))``. For invertibility ``alpha = softplus(alpha_prime) > 0``
    and ``beta = softplus(beta_prime) - alpha > -alpha``.
    ``log|det J| = (D - 1) log(1 + beta h) + log(1 + beta h - beta h^2 r)``, shape
    ``x.shape[:-1]``.

    No closed-form inverse: ``.inv`` works only on the value this transform last produced.
    """

    def __init__(self, input_dim: int) -> None:
        super().__init__(input_dim)
        self.x0 = nn.Parameter(torch.empty(input_dim))
        self.alpha_prime = nn.Parameter(torch.empty(1))
        self.beta_prime = nn.Parameter(torch.empty(1))
        self.reset_parameters()

    def _alpha_beta_h_r(self, x: torch.Tensor):
        alpha = functional.softplus(self.alpha_prime)
        beta = functional.softplus(self.beta_prime) - alpha
        diff = x - self.x0
        r = diff.norm(dim=-1, keepdim=True)
        return alpha, beta, 1.0 / (alpha + r), r, diff

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        alpha, beta, h, _, diff = self._alpha_beta_h_r(x)
        self._stash((alpha, beta, h))
        return x + beta * h * diff

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """See the class docstring; shape ``x.shape[:-1]``."""
        stashed = self._stashed(x, y)
        alpha, beta, h = stashed if stashed is not None else self._alpha_beta_h_r(x)[:3]
        bh = beta * h  # > -alpha h >= -1
        # 1 + beta h - beta h^2 r = 1 + beta h (1 - h r) = 1 + beta alpha h^2 > 0
        terms = (x.size(-1) - 1) * torch.log1p(bh) + torch.log1p(bh * alpha * h)
        return terms.squeeze(-1)


def radial(input_dim: int) -> Radial:
    """A fresh :class:`Radial` on vectors of size ``input_dim``."""
    return Radial(input_dim)
