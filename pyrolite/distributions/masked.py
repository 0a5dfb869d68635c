"""``MaskedDistribution``: a distribution whose log density is zeroed where a mask is False."""

from __future__ import annotations

import torch
from torch.distributions import constraints

from pyrolite.distributions.rsample_flag import base_rsample_flag, keep_rsample_flag
from pyrolite.distributions.score_parts import ScoreParts
from pyrolite.distributions.torch_distribution import TorchDistribution, TorchDistributionMixin

__all__ = ["MaskedDistribution"]

_EMPTY_SHAPE = torch.Size()


class MaskedDistribution(TorchDistribution):
    """``base_dist`` with ``log_prob`` replaced by 0 wherever ``mask`` is False.

    ``mask`` is a Python bool or a bool tensor; a tensor mask broadcasts with
    ``base_dist.batch_shape`` and the result has the broadcast batch shape (``base_dist`` is
    expanded if the mask is larger, as in Pyro). ``event_shape``, ``support``,
    ``has_rsample`` and sampling are those of ``base_dist``.

    Masked-out entries get exactly zero gradient, even where the base log density (or its
    gradient) would be ``-inf``/NaN there, e.g. for missing data stored as NaN: before
    calling the base ``log_prob`` their values are replaced by a point of the support
    (when the support is one whose points can be named), and the result is selected
    with ``torch.where``.
    """

    arg_constraints: dict = {}
    has_rsample = base_rsample_flag

    def __init__(self, base_dist: torch.distributions.Distribution, mask: bool | torch.Tensor):
        _check_mask_type(mask)
        batch_shape = base_dist.batch_shape
        if isinstance(mask, torch.Tensor):
            if mask.shape != batch_shape:
                try:
                    batch_shape = torch.broadcast_shapes(mask.shape, batch_shape)
                except RuntimeError as e:
                    raise ValueError(
                        f"mask of shape {tuple(mask.shape)} does not broadcast with the "
                        f"batch_shape {tuple(base_dist.batch_shape)} of {type(base_dist).__name__}"
                    ) from e
                mask = mask.expand(batch_shape)
                if base_dist.batch_shape != batch_shape:
                    base_dist = base_dist.expand(batch_shape)
        self.base_dist = base_dist
        self._mask = mask
        super().__init__(batch_shape, base_dist.event_shape, validate_args=False)

    def expand(self, batch_shape: torch.Size, _instance=None) -> MaskedDistribution:
        """The masked ``base_dist.expand(batch_shape)`` (a tensor mask is expanded too)."""
        new = self._get_checked_instance(MaskedDistribution, _instance)
        batch_shape = torch.Size(batch_shape)
        new.base_dist = self.base_dist.expand(batch_shape)
        mask = self._mask
        new._mask = mask.expand(batch_shape) if isinstance(mask, torch.Tensor) else mask
        super(MaskedDistribution, new).__init__(batch_shape, self.event_shape, validate_args=False)
        keep_rsample_flag(self, new)
        return new

    def mask(self, mask: bool | torch.Tensor) -> MaskedDistribution:
        """Mask again: one ``MaskedDistribution`` whose mask is the AND of both."""
        _check_mask_type(mask)
        if mask is True:
            return self
        if mask is False or self._mask is False:
            new = MaskedDistribution(self.base_dist, False)
        elif self._mask is True:
            new = MaskedDistribution(self.base_dist, mask)
        else:
            new = MaskedDistribution(self.base_dist, self._mask & mask)
        keep_rsample_flag(self, new)
        return new

    @property
    def support(self) -> constraints.Constraint:
        """The base distribution's support."""
        return self.base_dist.support

    @property
    def has_enumerate_support(self) -> bool:
        """The base distribution's ``has_enumerate_support``."""
        return self.base_dist.has_enumerate_support

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """The base distribution's ``enumerate_support``."""
        return self.base_dist.enumerate_support(expand=expand)

    def sample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """A draw from ``base_dist`` (the mask does not change sampling)."""
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """A reparameterised draw from ``base_dist``."""
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``base_dist.log_prob(value)`` where ``mask``, else 0; shape: broadcast batch shape."""
        mask = self._mask
        if mask is True:
            return self.base_dist.log_prob(value)
        event_dim = len(self.event_shape)
        if mask is False:
            shape = torch.broadcast_shapes(value.shape[: value.dim() - event_dim], self.batch_shape)
            dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
            return torch.zeros((), dtype=dtype, device=value.device).expand(shape)
        feasible = feasible_point(self.base_dist.support, value)
        if feasible is not None:
            if isinstance(feasible, torch.Tensor):
                feasible = feasible.to(value.dtype)
            event_mask = mask.reshape(mask.shape + (1,) * event_dim) if event_dim else mask
            value = torch.where(event_mask, value, feasible)
        return torch.where(mask, self.base_dist.log_prob(value), 0.0)

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        """``ScoreParts`` of ``value``: the base's parts masked as ``ScoreParts.scale_and_mask``
        does, i.e. ``log_prob`` and ``entropy_term`` zero where ``mask`` is False and
        ``score_function`` left unmasked (as in Pyro: the cost it multiplies carries the mask).

        A bool mask gives the parts of the masked ``log_prob`` (``False``: zeros, the base is
        never called). Unless the base has its own ``score_parts``, ``log_prob`` and
        ``entropy_term`` are the masked ``log_prob`` (finite gradients under the mask).
        """
        if isinstance(self._mask, bool):
            return super().score_parts(value)
        if type(self.base_dist).score_parts is not TorchDistributionMixin.score_parts:
            return self.base_dist.score_parts(value).scale_and_mask(mask=self._mask)
        log_prob = self.log_prob(value)
        if self.has_rsample:
            return ScoreParts(log_prob, 0, log_prob)
        return ScoreParts(log_prob, self.base_dist.log_prob(value), 0)

    @property
    def mean(self) -> torch.Tensor:
        """The base distribution's mean."""
        return self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        """The base distribution's variance."""
        return self.base_dist.variance


# Constraint classes torch does not name publicly, recovered from its public instances.
_BOOLEAN = type(constraints.boolean)
_INTEGER_GREATER_THAN = type(constraints.nonnegative_integer)
_SIMPLEX = type(constraints.simplex)
_ONE_HOT = type(constraints.one_hot)
_REAL = type(constraints.real)
_MATRICES_WITH_IDENTITY = (
    type(constraints.lower_cholesky),
    type(constraints.corr_cholesky),
    type(constraints.positive_definite),
    type(constraints.positive_semidefinite),
    type(constraints.lower_triangular),
    type(constraints.square),
    type(constraints.symmetric),
)


def feasible_point(
    support: constraints.Constraint, value: torch.Tensor
) -> torch.Tensor | float | None:
    """A point of ``support`` that broadcasts with ``value`` (``None`` if none is known).

    Used to stand in for masked-out values, so that their (ignored) log density and its
    gradient stay finite. Known supports: real, bounded intervals and half-lines, integer
    ranges, booleans, simplex, one-hot, and the matrix supports that contain the identity;
    ``independent`` of any of these.
    """
    if isinstance(support, constraints.independent):
        return feasible_point(support.base_constraint, value)
    if isinstance(support, constraints.MixtureSameFamilyConstraint):
        return feasible_point(support.base_constraint, value)
    if isinstance(support, (_REAL, _BOOLEAN)):
        return 0.0
    if isinstance(support, (constraints.greater_than, constraints.greater_than_eq)):
        return support.lower_bound + 1  # interior: densities can be infinite at the bound
    if isinstance(support, _INTEGER_GREATER_THAN):
        return support.lower_bound
    if isinstance(support, constraints.less_than):
        return support.upper_bound - 1
    if isinstance(support, (constraints.interval, constraints.half_open_interval)):
        return (support.lower_bound + support.upper_bound) / 2
    if isinstance(support, constraints.integer_interval):
        return support.lower_bound
    if isinstance(support, _SIMPLEX):
        return 1.0 / value.shape[-1]
    if isinstance(support, _ONE_HOT):
        point = torch.zeros(value.shape[-1], dtype=value.dtype, device=value.device)
        point[0] = 1
        return point
    if isinstance(support, _MATRICES_WITH_IDENTITY):
        return torch.eye(value.shape[-1], dtype=value.dtype, device=value.device)
    return None


def _check_mask_type(mask: object) -> None:
    if isinstance(mask, bool):
        return
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool or a bool tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool or a bool tensor, got a tensor of {mask.dtype}")
