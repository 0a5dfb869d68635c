"""``Delta``: a point mass, the distribution of a value known exactly."""

from __future__ import annotations

import numbers

import torch
from torch.distributions import constraints

from pyrolite.distributions.rsample_flag import keep_rsample_flag
from pyrolite.distributions.torch_distribution import TorchDistribution

__all__ = ["Delta"]

_EMPTY_SHAPE = torch.Size()


class Delta(TorchDistribution):
    """Point mass at ``v``, with an optional constant ``log_density``.

    Shapes: ``v`` has shape ``batch_shape + event_shape`` where ``event_shape`` is its
    rightmost ``event_dim`` dims; ``log_density`` broadcasts to ``batch_shape``.
    ``rsample`` returns ``v`` expanded (gradients flow to ``v``); ``log_prob(x)`` is
    ``log_density`` where ``x == v`` over all event dims and ``-inf`` elsewhere.

    Example: ``Delta(torch.zeros(3, 2), event_dim=1)`` has batch shape ``(3,)`` and event
    shape ``(2,)``.
    """

    arg_constraints = {"v": constraints.dependent, "log_density": constraints.real}
    has_rsample = True

    def __init__(
        self,
        v: torch.Tensor,
        log_density: torch.Tensor | float = 0.0,
        event_dim: int = 0,
        validate_args: bool | None = None,
    ) -> None:
        if not 0 <= event_dim <= v.dim():
            raise ValueError(
                f"Delta: event_dim={event_dim} must be between 0 and v.dim()={v.dim()} "
                f"(v has shape {tuple(v.shape)})"
            )
        batch_dim = v.dim() - event_dim
        batch_shape = v.shape[:batch_dim]
        event_shape = v.shape[batch_dim:]
        if isinstance(log_density, numbers.Number):
            dtype = v.dtype if v.is_floating_point() else torch.get_default_dtype()
            log_density = v.new_full(batch_shape, float(log_density), dtype=dtype)
        elif log_density.shape != batch_shape:
            try:
                log_density = log_density.expand(batch_shape)
            except RuntimeError as e:
                raise ValueError(
                    f"Delta: log_density of shape {tuple(log_density.shape)} does not "
                    f"broadcast to batch_shape {tuple(batch_shape)}"
                ) from e
        self.v = v
        self.log_density = log_density
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @property
    def support(self) -> constraints.Constraint:
        """All reals, with ``event_dim`` event dims."""
        event_dim = len(self.event_shape)
        if event_dim == 0:
            return constraints.real
        return constraints.independent(constraints.real, event_dim)

    def expand(self, batch_shape: torch.Size, _instance=None) -> Delta:
        """A ``Delta`` with batch shape ``batch_shape`` (``v`` and ``log_density`` expanded)."""
        new = self._get_checked_instance(Delta, _instance)
        batch_shape = torch.Size(batch_shape)
        new.v = self.v.expand(batch_shape + self.event_shape)
        new.log_density = self.log_density.expand(batch_shape)
        super(Delta, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        keep_rsample_flag(self, new)
        return new

    def rsample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """``v`` expanded to ``sample_shape + batch_shape + event_shape`` (a view)."""
        return self.v.expand(self._extended_shape(sample_shape))

    def sample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """``v`` detached and expanded to ``sample_shape + batch_shape + event_shape``."""
        return self.v.detach().expand(self._extended_shape(sample_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log_density`` where ``value == v`` (all event entries), ``-inf`` elsewhere."""
        if self._validate_args:
            self._validate_sample(value)
        equal = value == self.v
        event_dim = len(self.event_shape)
        if event_dim:
            equal = equal.flatten(-event_dim).all(-1)
        return equal.to(self.log_density.dtype).log() + self.log_density

    @property
    def mean(self) -> torch.Tensor:
        """``v``."""
        return self.v

    @property
    def variance(self) -> torch.Tensor:
        """Zeros shaped like ``v``."""
        return torch.zeros_like(self.v)


@torch.distributions.register_kl(Delta, torch.distributions.Distribution)
def _kl_delta(p: Delta, q: torch.distributions.Distribution) -> torch.Tensor:
    # E_p[log p - log q] with log p(v) = log_density, the same convention as Delta.log_prob,
    # so the analytic KL agrees with the one-sample estimate of a Delta guide.
    return p.log_density - q.log_prob(p.v)
