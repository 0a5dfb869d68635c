"""``ImproperUniform``: a flat, unnormalised density over a constraint's support."""

from __future__ import annotations

import torch
from torch.distributions import constraints

from pyrolite.distributions.rsample_flag import keep_rsample_flag
from pyrolite.distributions.torch_distribution import TorchDistribution

__all__ = ["ImproperUniform"]

_EMPTY_SHAPE = torch.Size()


class ImproperUniform(TorchDistribution):
    """Log density 0 everywhere on ``support``; it cannot be sampled.

    Use it as a prior that MCMC explores through ``biject_to(support)``, or for a latent
    that a guide will provide. ``support``'s event dims must not exceed
    ``len(event_shape)``; extra event dims are added with ``constraints.independent``.
    ``log_prob(value)`` is zeros of shape ``broadcast(value batch shape, batch_shape)``
    (values outside the support raise ``ValueError`` only while validation is on).

    Example: ``ImproperUniform(constraints.positive, (3,), ())``.
    """

    arg_constraints: dict = {}

    def __init__(
        self,
        support: constraints.Constraint,
        batch_shape: torch.Size | tuple[int, ...],
        event_shape: torch.Size | tuple[int, ...],
        validate_args: bool | None = None,
    ) -> None:
        batch_shape = torch.Size(batch_shape)
        event_shape = torch.Size(event_shape)
        extra = len(event_shape) - support.event_dim
        if extra < 0:
            raise ValueError(
                f"ImproperUniform: support {support} has event_dim {support.event_dim}, more "
                f"than len(event_shape) = {len(event_shape)} (event_shape={tuple(event_shape)})"
            )
        self._support = constraints.independent(support, extra) if extra else support
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @property
    def support(self) -> constraints.Constraint:
        """The constraint given at construction (with ``event_dim == len(event_shape)``)."""
        return self._support

    def expand(self, batch_shape: torch.Size, _instance=None) -> ImproperUniform:
        """The same improper density with batch shape ``batch_shape``."""
        new = self._get_checked_instance(ImproperUniform, _instance)
        new._support = self._support
        super(ImproperUniform, new).__init__(
            torch.Size(batch_shape), self.event_shape, validate_args=False
        )
        new._validate_args = self._validate_args
        keep_rsample_flag(self, new)
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Zeros of shape ``broadcast(value.shape[:-len(event_shape)], batch_shape)``."""
        if self._validate_args:
            self._validate_sample(value)
        batch_shape = value.shape[: value.dim() - len(self.event_shape)]
        shape = torch.broadcast_shapes(batch_shape, self.batch_shape)
        dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
        return torch.zeros(shape, dtype=dtype, device=value.device)

    def sample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """Always raises ``NotImplementedError``: an improper distribution has no samples."""
        raise NotImplementedError(
            "ImproperUniform is an improper distribution and cannot be sampled; it is meant "
            "as a prior for MCMC (initialise the chain with an init strategy) or for a "
            "latent whose value a guide provides."
        )

    def rsample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """Always raises ``NotImplementedError``, like ``sample``."""
        return self.sample(sample_shape)
