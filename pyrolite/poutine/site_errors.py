"""Errors that name their site: a density's failure rewritten to say where and how to fix it.

``raise_density_error`` serves every place that evaluates a site's density (the trace's
``log_prob``/``score_parts`` and the MCMC potential), so the message is the same wherever the
value turns out bad.
"""

from __future__ import annotations

from typing import Any, NoReturn

import torch

from pyrolite.poutine.runtime import Message

__all__ = ["DENSITY_ERRORS", "format_shape", "raise_density_error"]

# The errors a density raises on a bad value (support, shape, dtype): rewritten to name the
# site. Other exceptions (KeyboardInterrupt, bugs in the handler stack) pass through as is.
DENSITY_ERRORS = (ValueError, TypeError, RuntimeError)


def format_shape(shape: Any) -> str:
    """``(3, 2)`` for a shape, ``""`` for ``None``."""
    if shape is None:
        return ""
    return "(" + ", ".join(str(s) for s in shape) + ")"


def raise_density_error(site: Message, what: str, err: Exception, detail: str = "") -> NoReturn:
    """Re-raise ``err``, ``site``'s density failing, as the same kind of error (ValueError,
    TypeError or RuntimeError, so ``except`` clauses still match) chained from it, with a
    message that starts with Pyro's ``Error while computing <what> at site '<name>':`` and
    adds the value's shape and dtype, the distribution's shapes, the fix and ``detail`` (e.g.
    the trace's shape table)."""
    if isinstance(err, torch.OutOfMemoryError):
        raise err  # not the site's fault: keep torch's own error type and advice
    fn, value = site.fn, site.value
    kind = "observed" if site.is_observed else "latent"
    message = (
        f"Error while computing {what} at site {site.name!r}: {err}\n"
        f"({kind} {type(fn).__name__} with batch_shape "
        f"{format_shape(getattr(fn, 'batch_shape', None))} and event_shape "
        f"{format_shape(getattr(fn, 'event_shape', None))}; value shape "
        f"{format_shape(getattr(value, 'shape', ()))}, dtype "
        f"{getattr(value, 'dtype', type(value))}). "
        f"Fix: {_dtype_fix(site) or _support_and_shape_fix(site)}.\n{detail}"
    )
    kind_of_error = next(c for c in DENSITY_ERRORS if isinstance(err, c))
    raise kind_of_error(message) from err


def _support_and_shape_fix(site: Message) -> str:
    return (
        f"give {site.name!r} a value in the distribution's support "
        f"({getattr(site.fn, 'support', '?')}) with a shape that broadcasts to its "
        "batch_shape + event_shape"
    )


def _dtype_fix(site: Message) -> str:
    """Advice to pass a floating value, when an integer or bool value is why the density
    fails ('' otherwise): the density is tried once more on the value cast to the default
    dtype."""
    value = site.value
    if not isinstance(value, torch.Tensor) or value.is_floating_point() or value.is_complex():
        return ""
    floating = value.to(torch.get_default_dtype())
    try:
        site.fn.log_prob(floating, *site.args, **site.kwargs)
    except Exception:  # noqa: BLE001 - the dtype is not (only) the cause: no dtype advice
        return ""
    return (
        f"give {site.name!r} a floating tensor such as obs.float(), not {value.dtype} "
        f"(the density works on the same values as {floating.dtype})"
    )
