"""``Radial``: the radial flow of Rezende & Mohamed (2015)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from pyrolite.distributions import constraints
from pyrolite.distributions.transforms.transform_module import TransformModule

__all__ = ["Radial", "radial"]


class Radial(TransformModule):
    """``y = x + beta * h(r) * (x - x0)`` with ``r = |x - x0|``, ``h(r) = 1 / (alpha + r)``,
    on vectors of size ``D = input_dim`` (``event_dim = 1``).

    Params: ``x0`` ``(D,)``, ``alpha_prime`` ``(1,)``, ``beta_prime`` ``(1,)``, initialised
    ``Uniform(-1/sqrt(D), 1/sqrt(D))``. For invertibility ``alpha = softplus(alpha_prime) > 0``
    and ``beta = softplus(beta_prime) - alpha > -alpha``.
    ``log|det J| = (D - 1) log(1 + beta h) + log(1 + beta h - beta h^2 r)``, shape
    ``x.shape[:-1]``.

    No closed-form inverse: ``.inv`` works only on the value this transform last produced.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, input_dim: int) -> None:
        super().__init__(cache_size=1)
        if input_dim < 1:
            raise ValueError(f"Radial: input_dim must be >= 1, got {input_dim}")
        self.x0 = nn.Parameter(torch.empty(input_dim))
        self.alpha_prime = nn.Parameter(torch.empty(1))
        self.beta_prime = nn.Parameter(torch.empty(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from ``Uniform(-1/sqrt(D), 1/sqrt(D))``."""
        bound = 1.0 / math.sqrt(self.x0.numel())
        for p in (self.x0, self.alpha_prime, self.beta_prime):
            nn.init.uniform_(p, -bound, bound)

    def _alpha_beta_h_r(self, x: torch.Tensor):
        alpha = functional.softplus(self.alpha_prime)
        beta = functional.softplus(self.beta_prime) - alpha
        diff = x - self.x0
        r = diff.norm(dim=-1, keepdim=True)
        return alpha, beta, 1.0 / (alpha + r), r, diff

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        _, beta, h, _, diff = self._alpha_beta_h_r(x)
        return x + beta * h * diff

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            "Radial has no closed-form inverse; .inv works only on the value this transform "
            "last returned (cached). To evaluate densities of arbitrary points, use a flow "
            "with an inverse (AffineCoupling, or AffineAutoregressive's .inv)"
        )

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """See the class docstring; shape ``x.shape[:-1]``."""
        alpha, beta, h, r, _ = self._alpha_beta_h_r(x)
        bh = beta * h  # > -alpha h >= -1
        # 1 + beta h - beta h^2 r = 1 + beta h (1 - h r) = 1 + beta alpha h^2 > 0
        terms = (x.size(-1) - 1) * torch.log1p(bh) + torch.log1p(bh * alpha * h)
        return terms.squeeze(-1)


def radial(input_dim: int) -> Radial:
    """A fresh :class:`Radial` on vectors of size ``input_dim``."""
    return Radial(input_dim)
