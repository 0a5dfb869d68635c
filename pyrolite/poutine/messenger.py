"""The ``Messenger`` base class: an effect handler usable as context manager and decorator.

A handler declares what it does per message type with hooks named ``_pyro_<type>``
(before the default behaviour, innermost handler first) and ``_pyro_post_<type>`` (after
it). The hooks are collected into two tables once, when the class is defined, so that
``apply_stack`` dispatches with one dictionary lookup per handler. A handler that must see
every message type overrides ``_process_message`` / ``_postprocess_message`` instead.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from pyrolite.poutine.runtime import _STACK, Message


class _EveryType:
    """A dispatch table that answers the same hook for every message type."""

    __slots__ = ("hook",)

    def __init__(self, hook: Callable) -> None:
        self.hook = hook

    def get(self, msg_type: str, default: Any = None) -> Callable:
        return self.hook


class Messenger:
    """Base class of effect handlers.

    ``with handler: ...`` installs it on the stack for the duration of the block (the stack
    is restored whatever exception passes through); ``handler(fn)`` returns ``fn`` wrapped so
    that every call runs inside the handler.
    """

    _process_hooks: dict = {}
    _post_hooks: dict = {}
    _process_table: Any = {}
    _postprocess_table: Any = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hooks: dict = {}
        post_hooks: dict = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, staticmethod):
                    value = value.__func__
                if attr.startswith("_pyro_post_"):
                    post_hooks[attr[len("_pyro_post_") :]] = value
                elif attr.startswith("_pyro_") and callable(value):
                    hooks[attr[len("_pyro_") :]] = value
        cls._process_hooks = hooks
        cls._post_hooks = post_hooks
        overrides = cls._process_message is not Messenger._process_message
        cls._process_table = _EveryType(cls._process_message) if overrides else hooks
        overrides = cls._postprocess_message is not Messenger._postprocess_message
        cls._postprocess_table = _EveryType(cls._postprocess_message) if overrides else post_hooks

    def _process_message(self, msg: Message) -> None:
        """Dispatch to the ``_pyro_<type>`` hook; override to see every message type."""
        hook = self._process_hooks.get(msg.type)
        if hook is not None:
            hook(self, msg)

    def _postprocess_message(self, msg: Message) -> None:
        """Dispatch to the ``_pyro_post_<type>`` hook; override to see every message type."""
        hook = self._post_hooks.get(msg.type)
        if hook is not None:
            hook(self, msg)

    def __enter__(self) -> Messenger:
        if self in _STACK:
            raise ValueError(
                f"{type(self).__name__} is already active: one handler instance cannot be "
                "installed twice (create a new handler for the inner context)"
            )
        _STACK.append(self)
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if _STACK and _STACK[-1] is self:
            _STACK.pop()
        elif self in _STACK:
            # Leaving out of order (an exception skipped inner exits): drop self and above.
            del _STACK[_STACK.index(self) :]

    def __call__(self, fn: Callable) -> Callable:
        if not callable(fn):
            raise ValueError(
                f"{fn!r} is not callable, did you mean to pass it as a keyword arg? "
                f"{type(self).__name__} wraps a callable (a model or guide); pass the "
                "handler's own arguments by keyword, e.g. poutine.mask(mask=False)"
            )
        return HandledFunction(self, fn)


class HandledFunction:
    """``fn`` run inside the handler ``msngr`` at every call (what ``handler(fn)`` returns).

    A plain object rather than a closure, so that a handled program pickles whenever its
    function and handler do.
    """

    def __init__(self, msngr: Messenger, fn: Callable) -> None:
        self.msngr = msngr
        self.fn = fn
        functools.update_wrapper(self, fn, assigned=("__name__", "__doc__"), updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.msngr:
            return self.fn(*args, **kwargs)

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        # a handled method binds like the function it wraps
        return self if instance is None else types.MethodType(self, instance)

    def __repr__(self) -> str:
        return f"{type(self.msngr).__name__}({self.fn!r})"
