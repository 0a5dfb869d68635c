"""Small context managers and iteration helpers: run a block under a condition, time it,
silence torch's JIT tracer warnings or pyrolite's experimental-feature warnings."""

from __future__ import annotations

import timeit
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch

__all__ = [
    "ExperimentalWarning",
    "ignore_experimental_warning",
    "ignore_jit_warnings",
    "jit_iter",
    "optional",
    "timed",
]


class ExperimentalWarning(UserWarning):
    """Warns that a feature is experimental: its interface may change."""


@contextmanager
def ignore_experimental_warning() -> Iterator[None]:
    """Silence :class:`ExperimentalWarning` inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ExperimentalWarning)
        yield


@contextmanager
def ignore_jit_warnings(filter: list | None = None) -> Iterator[None]:
    """Silence torch JIT tracer warnings inside the block, only while a JIT trace is being
    recorded. ``filter`` lists message patterns, or ``(pattern, category)`` pairs; None
    silences every ``TracerWarning``."""
    if not torch._C._get_tracing_state():
        yield
        return
    with warnings.catch_warnings():
        if filter is None:
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        for entry in filter or ():
            pattern, category = entry if isinstance(entry, tuple) else (entry, None)
            warnings.filterwarnings(
                "ignore", message=pattern, category=category or torch.jit.TracerWarning
            )
        yield


def jit_iter(tensor: torch.Tensor) -> list[torch.Tensor]:
    """``list(tensor)`` (its slices along dim 0) without the JIT's iteration warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Iterating over a tensor")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        return list(tensor)


class optional:
    """``with optional(cm, condition):`` enters ``cm`` only when ``condition`` is true."""

    def __init__(self, context_manager: AbstractContextManager, condition: bool) -> None:
        self.context_manager = context_manager
        self.condition = condition

    def __enter__(self) -> Any:
        if self.condition:
            return self.context_manager.__enter__()
        return None

    def __exit__(self, *exc: Any) -> Any:
        if self.condition:
            return self.context_manager.__exit__(*exc)
        return None


class timed:
    """``with timed() as t: ...`` then ``t.elapsed`` holds the wall-clock seconds taken."""

    def __enter__(self) -> timed:
        self.start = timeit.default_timer()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end = timeit.default_timer()
        self.elapsed = self.end - self.start
