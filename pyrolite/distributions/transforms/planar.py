"""``Planar``: the planar flow of Rezende & Mohamed (2015)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from pyrolite.distributions.transforms.cached_inverse import CachedInverseTransformModule

__all__ = ["Planar", "planar"]


class Planar(CachedInverseTransformModule):
    """``y = x + u_hat * tanh(w . x + b)`` on vectors of size ``input_dim`` (``event_dim = 1``).

    Params: ``bias`` ``(1,)``, ``u`` ``(input_dim,)``, ``w`` ``(input_dim,)``, initialised
    ``Uniform(-1/sqrt(input_dim), 1/sqrt(input_dim))``. To keep the map invertible ``u`` is
    replaced by ``u_hat = u + (m(w . u) - w . u) w / |w|^2`` with ``m(a) = softplus(a) - 1``,
    so ``w . u_hat > -1``. ``log|det J| = log(1 + (1 - tanh^2(w . x + b)) w . u_hat)``,
    shape ``x.shape[:-1]``.

    There is no closed-form inverse: ``.inv`` works only on the value this transform last
    produced (the cached ``(x, y)`` pair), which is all ``TransformedDistribution.log_prob``
    needs for its own draws.
    """

    def __init__(self, input_dim: int) -> None:
        super().__init__(input_dim)
        self.bias = nn.Parameter(torch.empty(1))
        self.u = nn.Parameter(torch.empty(input_dim))
        self.w = nn.Parameter(torch.empty(input_dim))
        self.reset_parameters()

    def u_hat(self) -> torch.Tensor:
        """The reparameterised ``u`` with ``w . u_hat > -1``, shape ``(input_dim,)``."""
        wu = self.w @ self.u
        return self.u + (functional.softplus(wu) - 1 - wu) * self.w / (self.w @ self.w)

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        """``tanh(w . x + b)``, shape ``x.shape[:-1]``."""
        return torch.tanh(x @ self.w + self.bias.squeeze(-1))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        act = self._act(x)
        self._stash(act)
        return x + self.u_hat() * act.unsqueeze(-1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log(1 + (1 - tanh^2(w . x + b)) w . u_hat)``, shape ``x.shape[:-1]``."""
        act = self._stashed(x, y)
        if act is None:
            act = self._act(x)
        # w . u_hat = softplus(w . u) - 1 > -1 and 1 - tanh^2 lies in (0, 1]
        w_u_hat = functional.softplus(self.w @ self.u) - 1
        return torch.log1p((1 - act.pow(2)) * w_u_hat)


def planar(input_dim: int) -> Planar:
    """A fresh :class:`Planar` on vectors of size ``input_dim``."""
    return Planar(input_dim)
