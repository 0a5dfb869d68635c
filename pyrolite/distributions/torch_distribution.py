"""The mixin every pyrolite distribution carries, and a base class for new distributions.

``TorchDistributionMixin`` adds what the effect runtime and Pyro code expect on top of a
``torch.distributions.Distribution``:

- ``d()`` draws a value (``rsample`` when reparameterisable, else ``sample``);
- ``d.shape(sample_shape)``, ``d.event_dim``;
- ``d.expand_by(sample_shape)`` prepends batch dims;
- ``d.to_event(n)`` turns the rightmost ``n`` batch dims into event dims;
- ``d.mask(mask)`` zeroes the log density where ``mask`` is False;
- ``d.score_parts(value)`` gives the terms of gradient estimators.

``has_rsample`` may be overridden on an instance (``d.has_rsample = False``); ``expand``
(and so ``expand_by`` and plate broadcasting) keeps such an override on the new instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from pyrolite.distributions.score_parts import ScoreParts

if TYPE_CHECKING:
    from pyrolite.distributions.masked import MaskedDistribution

__all__ = ["TorchDistribution", "TorchDistributionMixin"]

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
        """Torch's ``expand`` to ``batch_shape``, keeping an instance ``has_rsample``."""
        new = super().expand(batch_shape, _instance)
        flag = self.__dict__.get("has_rsample")
        if flag is not None:
            new.__dict__["has_rsample"] = flag
        return new

    @property
    def event_dim(self) -> int:
        """``len(event_shape)``."""
        return len(self.event_shape)

    def shape(self, sample_shape: torch.Size = _EMPTY_SHAPE) -> torch.Size:
        """The shape of ``self(sample_shape)``: ``sample_shape + batch_shape + event_shape``."""
        return torch.Size(sample_shape) + self.batch_shape + self.event_shape

    def expand_by(self, sample_shape: torch.Size | tuple[int, ...]):
        """Prepend ``sample_shape`` to the batch shape.

        Returns a distribution of the same type with batch shape
        ``sample_shape + batch_shape``; e.g. ``Normal(0, 1).expand_by([3]).batch_shape == (3,)``.
        """
        return self.expand(torch.Size(sample_shape) + self.batch_shape)

    def to_event(self, reinterpreted_batch_ndims: int | None = None):
        """Declare the rightmost ``reinterpreted_batch_ndims`` batch dims as event dims.

        ``None`` means all batch dims; ``0`` returns ``self``. Returns an
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


class TorchDistribution(TorchDistributionMixin, torch.distributions.Distribution):
    """Base class for distributions that pyrolite defines itself (``Delta``, ``Unit``, ...).

    A subclass that defines ``__init__`` must define ``expand`` as well (as in torch);
    call :func:`keep_rsample_flag` there to carry an instance ``has_rsample`` over.
    """


def keep_rsample_flag(old: torch.distributions.Distribution, new) -> None:
    """Copy an instance-level ``has_rsample`` override of ``old`` onto ``new`` (if any)."""
    flag = old.__dict__.get("has_rsample")
    if flag is not None:
        new.__dict__["has_rsample"] = flag


def _rsample_flag_get(self) -> bool:
    flag = self.__dict__.get("has_rsample")
    return self.base_dist.has_rsample if flag is None else flag


def _rsample_flag_set(self, value: bool) -> None:
    self.__dict__["has_rsample"] = bool(value)


#: ``has_rsample`` for wrappers of a ``base_dist``: the base's flag, unless set on the
#: instance (torch makes it a read-only property on ``Independent`` and
#: ``TransformedDistribution``; Pyro code assigns to it).
base_rsample_flag = property(
    _rsample_flag_get,
    _rsample_flag_set,
    doc="Whether ``rsample`` is used: the base's flag unless set on this instance.",
)


def checked_event_ndims(d: torch.distributions.Distribution, n: int | None) -> int:
    """The number of batch dims ``d.to_event(n)`` moves; ``ValueError`` if out of range."""
    batch_ndims = len(d.batch_shape)
    if n is None:
        return batch_ndims
    if not 0 <= n <= batch_ndims:
        raise ValueError(
            f"to_event({n}): reinterpreted_batch_ndims must be between 0 and "
            f"len(batch_shape)={batch_ndims}, but the distribution {type(d).__name__} has "
            f"batch_shape={tuple(d.batch_shape)} and event_shape={tuple(d.event_shape)}"
        )
    return n
