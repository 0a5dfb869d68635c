"""Tensor and object helpers that distributions, transforms and guides share, at Pyro's path
``pyro.distributions.util``: shape broadcasting, sums over leading/trailing dims, exact
zero/one tests, scaling and masking, detaching or moving whole object graphs, and the
validation switch."""

from __future__ import annotations

import copy
import ctypes
import functools
import numbers
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch

from pyrolite.distributions.reductions import sum_rightmost
from pyrolite.distributions.score_parts import scale_and_mask
from pyrolite.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)

__all__ = [
    "broadcast_shape",
    "copy_docs_from",
    "deep_to",
    "detach",
    "enable_validation",
    "eye_like",
    "gather",
    "is_identically_one",
    "is_identically_zero",
    "is_validation_enabled",
    "scalar_like",
    "scale_and_mask",
    "sum_leftmost",
    "sum_rightmost",
    "validation_enabled",
    "weakmethod",
]


def broadcast_shape(*shapes: Sequence[int], strict: bool = False) -> tuple[int, ...]:
    """The shape that tensors of ``shapes`` broadcast to (``torch.broadcast_shapes`` on
    plain tuples). With ``strict=True`` a dim may only be added on the left, never
    stretched from size 1. Raises ``ValueError`` when the shapes do not broadcast."""
    result: list[int] = []  # built right to left
    for shape in shapes:
        for i, size in enumerate(reversed(tuple(shape))):
            if i == len(result):
                result.append(size)
            elif result[i] == size:
                continue
            elif result[i] == 1 and not strict:
                result[i] = size
            elif size != 1 or strict:
                raise ValueError(
                    "shape mismatch: objects cannot be broadcast to a single shape: "
                    + " vs ".join(str(tuple(s)) for s in shapes)
                )
    return tuple(reversed(result))


def sum_leftmost(value: torch.Tensor | float, dim: int) -> torch.Tensor | float:
    """Sum out the ``dim`` leftmost dims of ``value`` (``dim < 0``: keep ``-dim`` rightmost
    dims; ``dim >= value.dim()``: sum everything). ``sum_leftmost(ones(2, 3, 4), 1)`` has
    shape ``(3, 4)``. Numbers pass through."""
    if isinstance(value, numbers.Number):
        return value
    if dim < 0:
        dim += value.dim()
    if dim <= 0:
        return value
    if dim >= value.dim():
        return value.sum()
    return value.reshape((-1,) + tuple(value.shape[dim:])).sum(0)


def _is_exactly(x: Any, number: int) -> bool:
    if isinstance(x, numbers.Number):
        return x == number
    if (
        isinstance(x, torch.Tensor)
        and x.dtype == torch.int64
        and x.dim() == 0
        and not torch._C._get_tracing_state()
    ):
        return x.item() == number
    return False


def is_identically_zero(x: Any) -> bool:
    """True for the number 0 (or a 0-d int64 tensor holding 0); False for anything else, so
    ``0`` placeholders can skip arithmetic without inspecting float tensors."""
    return _is_exactly(x, 0)


def is_identically_one(x: Any) -> bool:
    """True for the number 1 (or a 0-d int64 tensor holding 1); False for anything else."""
    return _is_exactly(x, 1)


def gather(value: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    """``value.gather(dim, index)`` after broadcasting ``value`` and ``index`` together, with
    ``index`` reduced to size 1 along ``dim``."""
    value, index = torch.broadcast_tensors(value, index)
    index = index.narrow(dim, 0, 1)
    return value.gather(dim, index)


def scalar_like(prototype: torch.Tensor, fill_value: float) -> torch.Tensor:
    """A 0-d tensor holding ``fill_value``, with the dtype and device of ``prototype``."""
    return torch.tensor(fill_value, dtype=prototype.dtype, device=prototype.device)


def eye_like(value: torch.Tensor, m: int, n: int | None = None) -> torch.Tensor:
    """An ``(m, n)`` identity matrix (``n`` defaults to ``m``) with ``value``'s dtype and
    device."""
    return torch.eye(m, m if n is None else n, dtype=value.dtype, device=value.device)


def copy_docs_from(source_class: type, full_text: bool = False) -> Callable[[type], type]:
    """Class decorator: every public attribute of the decorated class that has no docstring
    gets one from the attribute of the same name on ``source_class`` (its full text with
    ``full_text=True``, else a ``See :meth:...`` pointer)."""

    def decorate(target: type) -> type:
        for name in dir(target):
            if name.startswith("_"):
                continue
            attr = getattr(target, name)
            attr = getattr(attr, "__func__", attr)
            source_doc = getattr(getattr(source_class, name, None), "__doc__", None)
            if not source_doc or getattr(attr, "__doc__", None):
                continue
            if full_text or source_doc.startswith("See "):
                doc = source_doc
            else:
                doc = f"See :meth:`{source_class.__module__}.{source_class.__name__}.{name}`"
            if isinstance(attr, property):  # a property's __doc__ is read-only: rebuild it
                setattr(target, name, property(attr.fget, attr.fset, attr.fdel, doc))
            else:
                try:
                    attr.__doc__ = doc
                except (AttributeError, TypeError):
                    pass
        return target

    return decorate


class weakmethod:
    """Method decorator: reading the method gives a callable that holds its instance only
    weakly, so storing it on the instance (``self.callback = self._callback``) makes no
    reference cycle. Calling it after the instance is gone raises ``AttributeError``."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return functools.partial(_call_weakly, self.fn, weakref.ref(instance))

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(f"cannot overwrite weakmethod {self.fn.__name__}")


def _call_weakly(fn: Callable, ref: weakref.ref, *args: Any, **kwargs: Any) -> Any:
    instance = ref()
    if instance is None:
        raise AttributeError(f"self was garbage collected when calling self.{fn.__name__}")
    return fn(instance, *args, **kwargs)


class _TensorMappingMemo(dict):
    """A ``copy.deepcopy`` memo that answers each tensor (and visits each module) the first
    time deepcopy meets it, with ``map_tensor(tensor)`` in place of a data copy."""

    def __init__(self, map_tensor: Callable, visit_module: Callable | None = None) -> None:
        super().__init__()
        self._map_tensor = map_tensor
        self._visit_module = visit_module

    def get(self, key: int, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is not default:
            return found
        # deepcopy asks with id(obj) of an object that is alive during the copy.
        obj = ctypes.cast(key, ctypes.py_object).value
        if isinstance(obj, torch.Tensor):
            found = self[key] = self._map_tensor(obj)
        elif self._visit_module is not None and isinstance(obj, torch.nn.Module):
            self._visit_module(obj)
        return found


def detach(obj: Any) -> Any:
    """A deep copy of ``obj`` in which every tensor is replaced by ``tensor.detach()`` (no
    tensor data is copied; the copies share storage with the originals)."""
    return copy.deepcopy(obj, _TensorMappingMemo(torch.Tensor.detach))


def deep_to(obj: Any, *args: Any, **kwargs: Any) -> Any:
    """A deep copy of ``obj`` with ``.to(*args, **kwargs)`` applied to every tensor; modules
    are first moved in place with ``Module.to`` (as torch does), then copied."""
    return copy.deepcopy(
        obj,
        _TensorMappingMemo(lambda t: t.to(*args, **kwargs), lambda m: m.to(*args, **kwargs)),
    )
