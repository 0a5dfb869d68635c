"""``TransformModule`` and ``ComposeTransformModule``: transforms that hold parameters.

A flow with learnable parameters is both a ``torch.distributions.Transform`` (so
``TransformedDistribution`` can use it) and an ``nn.Module`` (so ``pyro.module`` registers
its parameters, ``.to(device)`` moves them and ``state_dict`` saves them).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.distributions.transforms import ComposeTransform, Transform

__all__ = ["ComposeTransformModule", "TransformModule"]

# id(tensor a flow produced) -> (flow, made_by_forward, the other side, extra). An entry is
# dropped when its tensor is freed (weakref.finalize), so it lives exactly as long as the
# value; kept off the tensor itself so that pickling or copying a value never drags the flow.
_RECORDS: dict[int, tuple] = {}


def _record_of(value: torch.Tensor) -> tuple | None:
    return _RECORDS.get(id(value))


def _set_record(value: torch.Tensor, record: tuple) -> None:
    key = id(value)
    if key not in _RECORDS:
        weakref.finalize(value, _RECORDS.pop, key, None)
    _RECORDS[key] = record


class TransformModule(Transform, nn.Module):
    """Base class of transforms with parameters or buffers.

    Subclasses call ``super().__init__(cache_size=...)`` and then create their parameters.
    Equality is identity (two flows are equal only when they are the same object).

    Caching (``cache_size=1``) differs from torch's in where the pair is kept: with the
    *output tensor*, for as long as it lives, not on the transform. ``y = flow(x)``
    records ``x`` (and whatever the subclass passed to ``_stash``, e.g. the log-scales)
    with ``y``; ``flow.inv(y)`` then returns that ``x``, and ``_stashed(x, y)`` gives the
    extra back to ``log_abs_det_jacobian``. Likewise for the inverse direction. So a flow
    never keeps a tensor, or the graph behind it, from an earlier step alive.
    """

    def __init__(self, cache_size: int = 0) -> None:
        # Transform.__init__ sets its fields, then calls nn.Module.__init__ via super()
        super().__init__(cache_size=cache_size)
        self._pending: Any = None
        self._last_forward: tuple[weakref.ref, weakref.ref] | None = None

    __hash__ = object.__hash__

    def _stash(self, extra: Any) -> None:
        """Called by ``_call``/``_inverse``: record ``extra`` with the result being made."""
        self._pending = extra

    def _stashed(self, x: torch.Tensor, y: torch.Tensor) -> Any:
        """The extra recorded when this flow made ``y`` from ``x`` or ``x`` from ``y``;
        None when neither was made by it."""
        record = _record_of(y)
        if record is not None and record[0] is self and record[1] and record[2] is x:
            return record[3]
        record = _record_of(x)
        if record is not None and record[0] is self and not record[1] and record[2] is y:
            return record[3]
        return None

    def _made(self, value: torch.Tensor, forward: bool, other: torch.Tensor) -> torch.Tensor:
        _set_record(value, (self, forward, other, self._pending))
        self._pending = None
        return value

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._cache_size == 0:
            return self._call(x)
        record = _record_of(x)
        if record is not None and record[0] is self and not record[1]:
            return record[2]  # x came from this flow's inverse
        if self._last_forward is not None and self._last_forward[0]() is x:
            y = self._last_forward[1]()
            if y is not None:
                return y
        y = self._made(self._call(x), True, x)
        self._last_forward = (weakref.ref(x), weakref.ref(y))
        return y

    def _inv_call(self, y: torch.Tensor) -> torch.Tensor:
        if self._cache_size == 0:
            return self._inverse(y)
        record = _record_of(y)
        if record is not None and record[0] is self and record[1]:
            return record[2]  # y came from this flow's forward
        return self._made(self._inverse(y), False, y)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_last_forward"] = None  # weak references do not pickle
        return state

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)


class ComposeTransformModule(ComposeTransform, nn.ModuleList):
    """``parts[-1](... parts[0](x))`` as one transform that is also an ``nn.ModuleList``.

    The parts that are ``nn.Module``s are registered as submodules, so ``pyro.module``
    sees every parameter of the chain. ``log_abs_det_jacobian`` sums the parts' terms.
    """

    def __init__(self, parts: Sequence[Transform], cache_size: int = 0) -> None:
        super().__init__(list(parts), cache_size=cache_size)
        for part in self.parts:
            if isinstance(part, nn.Module):
                self.append(part)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)
