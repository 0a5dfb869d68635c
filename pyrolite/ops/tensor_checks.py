"""NaN/inf tests and warnings for tensors and plain numbers, used where a loss or a gradient
must be watched without stopping the program."""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from typing import Any

import torch

__all__ = ["torch_float", "torch_isinf", "torch_isnan", "warn_if_inf", "warn_if_nan"]


def torch_isnan(x: torch.Tensor | float) -> bool | torch.Tensor:
    """Whether ``x`` holds any NaN: a bool for a number, a 0-d bool tensor for a tensor."""
    if isinstance(x, numbers.Number):
        return x != x
    return torch.isnan(x).any()


def torch_isinf(x: torch.Tensor | float) -> bool | torch.Tensor:
    """Whether ``x`` holds any +inf or -inf (a bool, or a 0-d bool tensor for a tensor)."""
    if isinstance(x, numbers.Number):
        return x in (math.inf, -math.inf)
    return torch.isinf(x).any()


def torch_float(x: torch.Tensor | float) -> torch.Tensor | float:
    """``x.float()`` for a tensor, ``float(x)`` for a number."""
    return x.float() if isinstance(x, torch.Tensor) else float(x)


def _caller(depth: int) -> tuple[str, int]:
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return "sys", 1
    return frame.f_code.co_filename, frame.f_lineno


def _suffix(msg: str) -> str:
    return ": " + msg if msg else "."


def warn_if_nan(
    value: Any, msg: str = "", *, filename: str | None = None, lineno: int | None = None
) -> Any:
    """Warn ("Encountered NaN: <msg>") if ``value`` holds a NaN, and again ("backward <msg>")
    if its gradient does; returns ``value``. The warning points at the caller's line."""
    if filename is None:
        filename, lineno = _caller(2)
    if isinstance(value, torch.Tensor) and value.requires_grad:
        value.register_hook(
            lambda grad: warn_if_nan(grad, "backward " + msg, filename=filename, lineno=lineno)
        )
    if torch_isnan(value):
        warnings.warn_explicit("Encountered NaN" + _suffix(msg), UserWarning, filename, lineno)
    return value


def warn_if_inf(
    value: Any,
    msg: str = "",
    allow_posinf: bool = False,
    allow_neginf: bool = False,
    *,
    filename: str | None = None,
    lineno: int | None = None,
) -> Any:
    """Warn ("Encountered +inf: <msg>" / "Encountered -inf: <msg>") if ``value`` (or, later,
    its gradient) holds an infinity not allowed by ``allow_posinf``/``allow_neginf``;
    returns ``value``."""
    if filename is None:
        filename, lineno = _caller(2)
    if isinstance(value, torch.Tensor) and value.requires_grad:
        value.register_hook(
            lambda grad: warn_if_inf(
                grad,
                "backward " + msg,
                allow_posinf,
                allow_neginf,
                filename=filename,
                lineno=lineno,
            )
        )
    for sign, infinity, allowed in (("+", math.inf, allow_posinf), ("-", -math.inf, allow_neginf)):
        if allowed:
            continue
        hit = value == infinity
        if isinstance(hit, torch.Tensor):
            hit = bool(hit.any())
        if hit:
            warnings.warn_explicit(
                f"Encountered {sign}inf" + _suffix(msg), UserWarning, filename, lineno
            )
    return value
