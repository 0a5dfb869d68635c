"""``block``: hide sites from the handlers outside it.

Reads: ``name``, ``type`` (through the hide function). Writes: ``stop``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


class _HideSelection:
    """The hide rule of one ``block``: ``hide(msg)`` says whether to stop ``msg``.

    A small object (not a closure), so that blocked programs pickle.
    """

    __slots__ = ("fn", "negate", "names", "types", "constant")

    def __init__(self, fn=None, negate=False, names=(), types=(), constant=None) -> None:
        self.fn = fn
        self.negate = negate
        self.names = frozenset(names)
        self.types = frozenset(types)
        self.constant = constant

    def __getstate__(self) -> tuple:
        return (self.fn, self.negate, self.names, self.types, self.constant)

    def __setstate__(self, state: tuple) -> None:
        self.fn, self.negate, self.names, self.types, self.constant = state

    def __call__(self, msg: Message) -> bool:
        if self.constant is not None:
            return self.constant
        if self.fn is not None:
            selected = bool(self.fn(msg))
        else:
            selected = msg.name in self.names or msg.type in self.types
        return not selected if self.negate else selected


def _make_hide_fn(
    hide_fn: Callable | None,
    expose_fn: Callable | None,
    hide_all: bool,
    expose_all: bool,
    hide: Iterable[str] | None,
    expose: Iterable[str] | None,
    hide_types: Iterable[str] | None,
    expose_types: Iterable[str] | None,
) -> Callable[[Message], bool]:
    if hide_fn is not None:
        return hide_fn
    if expose_fn is not None:
        return _HideSelection(fn=expose_fn, negate=True)
    if hide is not None or hide_types is not None:
        return _HideSelection(names=hide or (), types=hide_types or ())
    if expose is not None or expose_types is not None:
        return _HideSelection(negate=True, names=expose or (), types=expose_types or ())
    if expose_all:
        return _HideSelection(constant=False)
    if hide_all:
        return _HideSelection(constant=True)
    raise ValueError("block: nothing to hide; pass hide=, expose=, hide_fn= or hide_all=True")


class BlockMessenger(Messenger):
    """Stops the sites selected for hiding: handlers outside ``block`` never see them.

    Selection, first match wins: ``hide_fn(msg)`` / ``expose_fn(msg)``; the site names in
    ``hide`` and the types in ``hide_types``; everything except ``expose`` /
    ``expose_types``; ``expose_all``; ``hide_all`` (the default: hide everything).
    """

    def __init__(
        self,
        hide_fn: Callable[[Message], bool] | None = None,
        expose_fn: Callable[[Message], bool] | None = None,
        hide_all: bool = True,
        expose_all: bool = False,
        hide: Iterable[str] | None = None,
        expose: Iterable[str] | None = None,
        hide_types: Iterable[str] | None = None,
        expose_types: Iterable[str] | None = None,
    ) -> None:
        self.hide_fn = _make_hide_fn(
            hide_fn, expose_fn, hide_all, expose_all, hide, expose, hide_types, expose_types
        )

    def _process_message(self, msg: Message) -> None:
        if self.hide_fn(msg):
            msg.stop = True
