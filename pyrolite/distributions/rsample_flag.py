"""The instance-level ``has_rsample`` switch, shared by every distribution class.

Pyro code forces reparameterised or score-function sampling on one instance
(``d.has_rsample_(False)`` or ``d.has_rsample = False``). The override is stored in the
instance ``__dict__`` under ``"has_rsample"``; the helpers here read, check and carry it. This
module imports only torch, so the mixin, the wrappers (``Independent``, ``MaskedDistribution``,
``TransformedDistribution``) and the point distributions can all use it without importing one
another.
"""

from __future__ import annotations

import torch

__all__ = ["base_rsample_flag", "checked_rsample_flag", "keep_rsample_flag"]


def checked_rsample_flag(value: object) -> bool:
    """``value`` itself if it is ``True`` or ``False``; ``ValueError`` otherwise (as in Pyro)."""
    if value is True or value is False:
        return value
    raise ValueError(f"Expected value in [False,True], actual {value!r}")


def keep_rsample_flag(old: torch.distributions.Distribution, new) -> None:
    """Copy an instance-level ``has_rsample`` override of ``old`` onto ``new`` (if any)."""
    flag = old.__dict__.get("has_rsample")
    if flag is not None:
        new.__dict__["has_rsample"] = flag


def _base_flag_get(self) -> bool:
    flag = self.__dict__.get("has_rsample")
    return self.base_dist.has_rsample if flag is None else flag


def _base_flag_set(self, value: bool) -> None:
    self.__dict__["has_rsample"] = bool(value)


#: ``has_rsample`` for wrappers of a ``base_dist``: the base's flag, unless set on the
#: instance (torch makes it a read-only property on ``Independent`` and
#: ``TransformedDistribution``; Pyro code assigns to it).
base_rsample_flag = property(
    _base_flag_get,
    _base_flag_set,
    doc="Whether ``rsample`` is used: the base's flag unless set on this instance.",
)
