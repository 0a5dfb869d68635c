"""``AffineCoupling``: the affine coupling layer of Real NVP (Dinh et al. 2017).

Split ``x`` along ``dim`` into ``x1 = x[:split_dim]`` and ``x2 = x[split_dim:]``;
``(mean, log_scale) = hypernet(x1)``; then ``y1 = x1``, ``y2 = mean + exp(log_scale) * x2``.
The Jacobian is block triangular with diagonal ``(1, exp(log_scale))``, so
``log|det J| = sum(log_scale)``; both directions take one network pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from pyrolite.distributions import constraints
from pyrolite.distributions.reductions import sum_rightmost
from pyrolite.distributions.transforms.clamp import clamp_preserve_gradients
from pyrolite.distributions.transforms.transform_module import TransformModule
from pyrolite.nn.dense_nn import DenseNN

__all__ = ["AffineCoupling", "affine_coupling"]


class AffineCoupling(TransformModule):
    """An affine coupling transform (see the module docstring).

    ``hypernet`` maps the first part, flattened to ``(..., n1)`` (``n1`` its number of
    entries per event), to ``(mean, log_scale)``, each with as many entries as the second
    part (e.g. ``DenseNN(split_dim, [H], param_dims=[D - split_dim, D - split_dim])``).
    ``dim`` is negative and sets ``event_dim = -dim``. ``log_scale`` is clamped in value to
    ``[log_scale_min_clip, log_scale_max_clip]``. Caches the last ``(x, y)`` pair.
    """

    bijective = True

    def __init__(
        self,
        split_dim: int,
        hypernet: torch.nn.Module,
        *,
        dim: int = -1,
        log_scale_min_clip: float = -5.0,
        log_scale_max_clip: float = 3.0,
    ) -> None:
        super().__init__(cache_size=1)
        if dim >= 0:
            raise ValueError(f"AffineCoupling: dim must be negative, got {dim}")
        if split_dim < 1:
            raise ValueError(f"AffineCoupling: split_dim must be >= 1, got {split_dim}")
        self.split_dim = split_dim
        self.nn = hypernet
        self.dim = dim
        self._event_dim = -dim
        self.log_scale_min_clip = log_scale_min_clip
        self.log_scale_max_clip = log_scale_max_clip

    @constraints.dependent_property(is_discrete=False)
    def domain(self):
        return constraints.independent(constraints.real, self._event_dim)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self):
        return constraints.independent(constraints.real, self._event_dim)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = x.size(self.dim)
        if not 0 < self.split_dim < size:
            raise ValueError(
                f"AffineCoupling: split_dim={self.split_dim} must lie strictly inside the "
                f"size {size} of dim {self.dim} (input shape {tuple(x.shape)})"
            )
        x1, x2 = x.split([self.split_dim, size - self.split_dim], dim=self.dim)
        return x1, x2

    def _mean_log_scale(self, x1: torch.Tensor, x2_shape: torch.Size):
        batch = x1.shape[: x1.dim() - self._event_dim]
        mean, log_scale = self.nn(x1.reshape(batch + (-1,)))
        log_scale = clamp_preserve_gradients(
            log_scale, self.log_scale_min_clip, self.log_scale_max_clip
        )
        return mean.reshape(x2_shape), log_scale.reshape(x2_shape)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self._split(x)
        mean, log_scale = self._mean_log_scale(x1, x2.shape)
        self._stash(log_scale)
        return torch.cat([x1, mean + log_scale.exp() * x2], dim=self.dim)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = self._split(y)
        mean, log_scale = self._mean_log_scale(y1, y2.shape)
        x = torch.cat([y1, (y2 - mean) * (-log_scale).exp()], dim=self.dim)
        self._stash(log_scale)
        return x

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log_scale`` summed over the event dims, shape ``x.shape[:dim]``."""
        log_scale = self._stashed(x, y)
        if log_scale is None:
            x1, x2 = self._split(x)
            log_scale = self._mean_log_scale(x1, x2.shape)[1]
        return sum_rightmost(log_scale, self._event_dim)


def affine_coupling(
    input_dim: int | Sequence[int],
    hidden_dims: Sequence[int] | None = None,
    split_dim: int | None = None,
    dim: int = -1,
    **kwargs: Any,
) -> AffineCoupling:
    """An :class:`AffineCoupling` over a fresh :class:`~pyrolite.nn.DenseNN` hypernet.

    ``input_dim`` is the size of a vector event (``dim=-1``) or, for ``dim < -1``, the whole
    event shape (a sequence of length ``-dim``). The event is split along ``dim`` into
    ``split_dim`` (default: half its size) and the rest; with ``k`` the number of entries of
    the event dims right of ``dim``, the hypernet maps ``split_dim * k`` inputs to two outputs
    of ``(size - split_dim) * k`` each. ``hidden_dims`` defaults to ``[10 * size * k]``;
    ``kwargs`` go to :class:`AffineCoupling` (``log_scale_min_clip``, ``log_scale_max_clip``).

    Example: ``affine_coupling((4, 3), dim=-2)`` couples events of shape ``(4, 3)``, split
    into rows ``[:2]`` and ``[2:]``.
    """
    if isinstance(input_dim, int):
        event_shape = [input_dim]
    else:
        event_shape = list(input_dim)
        if len(event_shape) != -dim:
            raise ValueError(
                f"event shape {tuple(event_shape)} must have same length as event_dim {-dim}"
            )
    if -dim > len(event_shape):
        raise ValueError(
            f"affine_coupling: dim={dim} needs an event shape of length {-dim}; pass "
            f"input_dim as that shape, got {input_dim!r}"
        )
    size = event_shape[dim]
    trailing = math.prod(event_shape[len(event_shape) + dim + 1 :])
    if size < 2:
        raise ValueError(
            f"affine_coupling: input_dim must be >= 2 to split (size {size} along dim {dim})"
        )
    if split_dim is None:
        split_dim = size // 2
    if hidden_dims is None:
        hidden_dims = [10 * size * trailing]
    rest = (size - split_dim) * trailing
    hypernet = DenseNN(split_dim * trailing, hidden_dims, param_dims=[rest, rest])
    return AffineCoupling(split_dim, hypernet, dim=dim, **kwargs)
