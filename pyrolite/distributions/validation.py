"""The global switch for argument and value checks of every distribution.

There is one source of truth: torch's class-level default
``torch.distributions.Distribution._validate_args``. Every distribution built without an
explicit ``validate_args=`` reads it when it is constructed and whenever it scores a
value, so flipping the switch takes effect at once, also for existing instances.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["enable_validation", "is_validation_enabled", "validation_enabled"]


def enable_validation(is_validate: bool = True) -> None:
    """Turn argument/support validation of all distributions on (default) or off.

    With validation on, constructing a distribution with invalid parameters and calling
    ``log_prob`` on a value outside the support (or of a shape that does not broadcast
    with ``batch_shape + event_shape``) raise ``ValueError``.
    """
    torch.distributions.Distribution.set_default_validate_args(bool(is_validate))


def is_validation_enabled() -> bool:
    """Whether distributions validate their arguments and values by default."""
    return bool(torch.distributions.Distribution._validate_args)


@contextlib.contextmanager
def validation_enabled(is_validate: bool = True) -> Iterator[None]:
    """Context manager: validation on (or off) inside, the previous setting restored after."""
    previous = is_validation_enabled()
    enable_validation(is_validate)
    try:
        yield
    finally:
        enable_validation(previous)


# pyrolite validates by default, also under ``python -O`` (where torch would not).
enable_validation(True)
