"""The mixin every pyrolite distribution carries, and a base class for new distributions.

``TorchDistributionMixin`` adds what the effect runtime and Pyro code expect on top of a
``torch.distributions.Distribution``:

- ``d()`` draws a value (``rsample`` when reparameterisable, else ``sample``);
- ``d.shape(sample_shape)``, ``d.event_dim``, ``D.infer_shapes(**arg_shapes)``;
- ``d.expand_by(sample_shape)`` prepends batch dims;
- ``d.to_event(n)`` turns the rightmost ``n`` batch dims into event dims (a negative ``n``
  on an ``Independent`` turns event dims back into batch dims);
- ``d.mask(mask)`` zeroes the log density where ``mask`` is False;
- ``d.score_parts(value)`` gives the terms of gradient estimators;
- ``d.has_rsample_(flag)`` forces reparameterised (or score-function) sampling in place.

``has_rsample`` may be overridden on an instance (``d.has_rsample_(False)`` or
``d.has_rsample = False``); ``expand`` (and so ``expand_by`` and plate broadcasting) keeps
such an override on the new instance.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from torch.distributions import constraints

from pyrolite.distributions.rsample_flag import (
    base_rsample_flag,
    checked_rsample_flag,
    keep_rsample_flag,
)
from pyrolite.distributions.score_parts import ScoreParts

if TYPE_CHECKING:
    from pyrolite.distributions.masked import MaskedDistribution

__all__ = ["ExpandedDistribution", "TorchDistribution", "TorchDistributionMixin"]

_EMPTY_SHAPE = torch.Size()


class TorchDistributionMixin:
    """Pyro's extensions to ``torch.distributions.Distribution``; see the module docstring.

    In a class that combines it with a torch distribution, list the mixin first
    (``class D(TorchDistributionMixin, torch.distributions.D)``) so that its ``expand``,
    which keeps an instance-level ``has_rsample`` override, wraps torch's.
    """

    def __call__(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """Draw a value of shape ``sample_shape + batch_shape + event_shape``.

        Uses ``rsample`` (gradients flow to the parameters) when ``has_rsample``, else
        ``sample``.
        """
        if self.has_rsample:
            return self.rsample(sample_shape)
        return self.sample(sample_shape)

    def expand(self, batch_shape: torch.Size, _instance=None):
        """Torch's ``expand`` to ``batch_shape``, keeping an instance ``has_rsample``.

        A class torch cannot expand (a new distribution without its own ``expand``) gets an
        :class:`ExpandedDistribution` of ``self``, as in Pyro.
        """
        try:
            new = super().expand(batch_shape, _instance)
        except NotImplementedError:
            if _instance is not None:
                raise
            return ExpandedDistribution(self, batch_shape)
        flag = self.__dict__.get("has_rsample")
        if flag is not None:
            new.__dict__["has_rsample"] = flag
        return new

    def has_rsample_(self, value: bool):
        """Force ``has_rsample`` to ``value`` on this instance, in place; returns ``self``.

        ``False`` makes inference use the score-function estimator for this site (useful where
        a sample decides control flow downstream); ``True`` requires ``rsample``. A value
        other than ``True``/``False`` raises ``ValueError``.
        """
        self.has_rsample = checked_rsample_flag(value)
        return self

    @property
    def event_dim(self) -> int:
        """``len(event_shape)``."""
        return len(self.event_shape)

    def shape(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Size:
        """The shape of ``self(sample_shape)``: ``sample_shape + batch_shape + event_shape``."""
        return torch.Size(sample_shape) + self.batch_shape + self.event_shape

    @classmethod
    def infer_shapes(cls, **arg_shapes: torch.Size) -> tuple[torch.Size, torch.Size]:
        """``(batch_shape, event_shape)`` of ``cls(**args)`` given only the args' shapes.

        The default covers distributions with scalar events: the batch shape broadcasts each
        arg's shape without its ``arg_constraints[name].event_dim`` rightmost dims; classes
        with vector events raise ``NotImplementedError`` unless they override this.
        """
        if cls.support.event_dim > 0:
            raise NotImplementedError(f"{cls.__name__}.infer_shapes is not implemented")
        batch_shapes = []
        for name, shape in arg_shapes.items():
            event_dim = cls.arg_constraints.get(name, constraints.real).event_dim
            batch_shapes.append(tuple(shape)[: len(shape) - event_dim])
        return torch.broadcast_shapes(*batch_shapes), torch.Size()

    def expand_by(self, sample_shape: torch.Size | tuple[int, ...]):
        """Prepend ``sample_shape`` to the batch shape.

        Returns a distribution of the same type with batch shape
        ``sample_shape + batch_shape``; e.g. ``Normal(0, 1).expand_by([3]).batch_shape == (3,)``.
        """
        return self.expand(torch.Size(sample_shape) + self.batch_shape)

    def reshape(self, sample_shape=None, extra_event_dims=None):
        """Removed from Pyro's API; raises, pointing at ``expand_by(...).to_event(...)``."""
        raise Exception(
            ".reshape(sample_shape=s, extra_event_dims=n) was renamed and split into "
            ".expand_by(sample_shape=s).to_event(reinterpreted_batch_ndims=n)."
        )

    def independent(self, reinterpreted_batch_ndims: int | None = None):
        """Deprecated alias of :meth:`to_event` (warns ``DeprecationWarning``)."""
        warnings.warn(
            "independent is deprecated; use to_event instead", DeprecationWarning, stacklevel=2
        )
        return self.to_event(reinterpreted_batch_ndims)

    def to_event(self, reinterpreted_batch_ndims: int | None = None):
        """Declare the rightmost ``reinterpreted_batch_ndims`` batch dims as event dims.

        ``None`` means all batch dims; ``0`` returns ``self``; a negative count is an error
        here (only an ``Independent`` has event dims to give back). Returns an
        :class:`~pyrolite.distributions.Independent` with batch shape
        ``batch_shape[:-n]`` and event shape ``batch_shape[-n:] + event_shape``.
        """
        n = checked_event_ndims(self, reinterpreted_batch_ndims)
        if n == 0:
            return self
        from pyrolite.distributions.torch import Independent

        return Independent(self, n, validate_args=self.__dict__.get("_validate_args"))

    def mask(self, mask: bool | torch.Tensor) -> MaskedDistribution:
        """Zero the log density where ``mask`` is False.

        ``mask`` is a Python bool or a bool tensor that broadcasts with ``batch_shape``.
        Returns a :class:`~pyrolite.distributions.MaskedDistribution`.
        """
        from pyrolite.distributions.masked import MaskedDistribution

        return MaskedDistribution(self, mask)

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        """``ScoreParts`` of ``value``: ``(lp, 0, lp)`` if ``has_rsample`` else ``(lp, lp, 0)``.

        ``lp = self.log_prob(value)`` has shape ``broadcast(value batch shape, batch_shape)``.
        """
        log_prob = self.log_prob(value)
        if self.has_rsample:
            return ScoreParts(log_prob, 0, log_prob)
        return ScoreParts(log_prob, log_prob, 0)

    def conjugate_update(self, other):
        """Pyro's experimental conjugate fusion; not supported by this class."""
        raise NotImplementedError(f"{type(self).__name__} does not support .conjugate_update()")


class TorchDistribution(TorchDistributionMixin, torch.distributions.Distribution):
    """Base class for distributions that pyrolite defines itself (``Delta``, ``Unit``, ...).

    A subclass that defines ``__init__`` but no ``expand`` is expanded by wrapping it in an
    :class:`ExpandedDistribution`; one that defines ``expand`` should call
    :func:`~pyrolite.distributions.rsample_flag.keep_rsample_flag` there to carry an
    instance ``has_rsample`` over.
    """


class ExpandedDistribution(TorchDistribution):
    """``base_dist`` broadcast to a larger ``batch_shape``, for classes that cannot expand.

    New batch dims may be added on the left and size-1 dims of ``base_dist.batch_shape``
    stretched; draws along them are independent. Shapes: ``log_prob(value)`` is the base
    log density broadcast to ``broadcast(value batch shape, batch_shape)``; ``sample`` has
    shape ``sample_shape + batch_shape + event_shape``.
    """

    arg_constraints: dict = {}
    has_rsample = base_rsample_flag

    def __init__(self, base_dist: torch.distributions.Distribution, batch_shape=_EMPTY_SHAPE):
        batch_shape = torch.Size(batch_shape)
        base_shape = base_dist.batch_shape
        offset = len(batch_shape) - len(base_shape)
        pairs = list(zip(base_shape, batch_shape[offset:], strict=True)) if offset >= 0 else None
        if pairs is None or any(b not in (1, n) for b, n in pairs):
            raise ValueError(
                f"Cannot broadcast distribution of shape {tuple(base_shape)} to shape "
                f"{tuple(batch_shape)}"
            )
        self.base_dist = base_dist
        # dims of base_shape stretched from 1, and the sizes they get
        self._stretched = [(i, n) for i, (b, n) in enumerate(pairs) if b != n]
        self._leading = batch_shape[:offset]
        super().__init__(batch_shape, base_dist.event_shape, validate_args=False)

    def expand(self, batch_shape: torch.Size, _instance=None) -> ExpandedDistribution:
        """Expand further (never back): an ``ExpandedDistribution`` of the same base."""
        batch_shape = torch.Size(batch_shape)
        if torch.broadcast_shapes(self.batch_shape, batch_shape) != batch_shape:
            raise ValueError(
                f"Cannot broadcast distribution of shape {tuple(self.batch_shape)} to shape "
                f"{tuple(batch_shape)}"
            )
        new = ExpandedDistribution(self.base_dist, batch_shape)
        keep_rsample_flag(self, new)
        return new

    @property
    def has_enumerate_support(self) -> bool:
        """The base distribution's ``has_enumerate_support``."""
        return self.base_dist.has_enumerate_support

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:
        """The base distribution's support."""
        return self.base_dist.support

    def _draw(self, draw, sample_shape: torch.Size) -> torch.Tensor:
        # Draw the new and stretched dims as extra sample dims, then swap each stretched
        # one into its (size-1) place in the base batch shape.
        sample_shape = torch.Size(sample_shape)
        extra = self._leading + torch.Size(n for _, n in self._stretched)
        x = draw(sample_shape + extra)
        first = len(sample_shape) + len(self._leading)
        base_start = first + len(self._stretched)
        for j, (i, _) in enumerate(self._stretched):
            x = x.transpose(first + j, base_start + i)
        return x.reshape(sample_shape + self.batch_shape + self.event_shape)

    def sample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """Independent base draws of shape ``sample_shape + batch_shape + event_shape``."""
        return self._draw(self.base_dist.sample, sample_shape)

    def rsample(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Tensor:
        """Reparameterised base draws of shape ``sample_shape + batch_shape + event_shape``."""
        return self._draw(self.base_dist.rsample, sample_shape)

    def _value_batch_shape(self, value: torch.Tensor) -> torch.Size:
        batch = value.shape[: value.dim() - len(self.event_shape)]
        return torch.broadcast_shapes(self.batch_shape, batch)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The base log density broadcast to ``broadcast(value batch shape, batch_shape)``."""
        return self.base_dist.log_prob(value).expand(self._value_batch_shape(value))

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        """The base ``score_parts``, each tensor part broadcast like ``log_prob``."""
        shape = self._value_batch_shape(value)
        parts = self.base_dist.score_parts(value)
        return ScoreParts(*(p.expand(shape) if isinstance(p, torch.Tensor) else p for p in parts))

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """Base support values, shape ``(K,) + batch_shape + event_shape`` (or ones if not
        ``expand``)."""
        values = self.base_dist.enumerate_support(expand=False)
        k = values.shape[:1]
        values = values.reshape(k + (1,) * len(self.batch_shape) + self.event_shape)
        if expand:
            values = values.expand(k + self.batch_shape + self.event_shape)
        return values

    @property
    def mean(self) -> torch.Tensor:
        """The base mean, expanded to ``batch_shape + event_shape``."""
        return self.base_dist.mean.expand(self.batch_shape + self.event_shape)

    @property
    def variance(self) -> torch.Tensor:
        """The base variance, expanded to ``batch_shape + event_shape``."""
        return self.base_dist.variance.expand(self.batch_shape + self.event_shape)


def checked_event_ndims(d: torch.distributions.Distribution, n: int | None) -> int:
    """The number of batch dims ``d.to_event(n)`` moves; ``ValueError`` if out of range."""
    batch_ndims = len(d.batch_shape)
    if n is None:
        return batch_ndims
    if n < 0:
        raise ValueError(
            f"Cannot remove event dimensions from {type(d)}: to_event({n}) needs an "
            f"Independent, but {type(d).__name__} has batch_shape={tuple(d.batch_shape)} and "
            f"event_shape={tuple(d.event_shape)}"
        )
    if n > batch_ndims:
        raise ValueError(
            f"to_event({n}): reinterpreted_batch_ndims must be between 0 and "
            f"len(batch_shape)={batch_ndims}, but the distribution {type(d).__name__} has "
            f"batch_shape={tuple(d.batch_shape)} and event_shape={tuple(d.event_shape)}"
        )
    return n
