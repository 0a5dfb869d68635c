"""``Unit``: the trivially-valued distribution that carries a ``pyro.factor`` term."""

from __future__ import annotations

import torch
from torch.distributions import constraints

from pyrolite.distributions.rsample_flag import keep_rsample_flag
from pyrolite.distributions.torch_distribution import TorchDistribution

__all__ = ["Unit"]

_EMPTY_SHAPE = torch.Size()


class Unit(TorchDistribution):
    """A distribution over the empty vector whose log density is ``log_factor``.

    Shapes: ``batch_shape = log_factor.shape``, ``event_shape = (0,)``. ``sample`` and
    ``rsample`` return an empty tensor of shape ``sample_shape + batch_shape + (0,)``;
    ``log_prob(value)`` is ``log_factor`` broadcast to ``value.shape[:-1]``.
    ``has_rsample`` (default True) says whether the factor's gradient is pathwise.
    """

    arg_constraints = {"log_factor": constraints.real}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        log_factor: torch.Tensor | float,
        *,
        has_rsample: bool | None = None,
        validate_args: bool | None = None,
    ) -> None:
        log_factor = torch.as_tensor(log_factor)
        if not log_factor.is_floating_point():
            log_factor = log_factor.to(torch.get_default_dtype())
        self.log_factor = log_factor
        if has_rsample is not None:
            self.has_rsample = bool(has_rsample)
        super().__init__(log_factor.shape, torch.Size((0,)), validate_args=validate_args)

    def expand(self, batch_shape: torch.Size, _instance=None) -> Unit:
        """A ``Unit`` with ``log_factor`` expanded to ``batch_shape``."""
        new = self._get_checked_instance(Unit, _instance)
        batch_shape = torch.Size(batch_shape)
        new.log_factor = self.log_factor.expand(batch_shape)
        super(Unit, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        keep_rsample_flag(self, new)
        return new

    def sample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """An empty tensor of shape ``sample_shape + batch_shape + (0,)``."""
        return self.log_factor.new_empty(self._extended_shape(sample_shape))

    def rsample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """Same as ``sample`` (there is nothing to differentiate)."""
        return self.log_factor.new_empty(self._extended_shape(sample_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log_factor`` broadcast to ``broadcast(value.shape[:-1], batch_shape)``."""
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
        return self.log_factor.expand(shape)
