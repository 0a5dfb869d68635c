"""``trace``: record every site of a run into a :class:`Trace`.

Reads: every field (it stores the message itself). Writes: nothing on the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace


class TraceMessenger(Messenger):
    """Records sites as they pass; ``self.trace`` holds the latest run's :class:`Trace`.

    ``param_only=True`` records only param sites (cheap way to collect parameters).
    """

    def __init__(self, graph_type: str | None = None, param_only: bool | None = None) -> None:
        self.graph_type = graph_type or "flat"
        self.param_only = bool(param_only)
        self.trace = Trace(self.graph_type)

    def __enter__(self) -> TraceMessenger:
        self.trace = Trace(self.graph_type)
        return super().__enter__()

    def _postprocess_message(self, msg: Message) -> None:
        if self.param_only and msg.type != "param":
            return
        self.trace.add_site(msg)

    def get_trace(self) -> Trace:
        """The trace of the latest run."""
        return self.trace

    def __call__(self, fn: Callable) -> TraceHandler:
        if not callable(fn):
            raise ValueError(f"trace wraps a callable (a model or guide), got {fn!r}")
        return TraceHandler(self, fn)


class TraceHandler:
    """``poutine.trace(fn)``: call it like ``fn``; ``get_trace(*args)`` runs it and returns
    the :class:`Trace` (with ``"_INPUT"`` and ``"_RETURN"`` pseudo sites)."""

    def __init__(self, msngr: TraceMessenger, fn: Callable) -> None:
        self.msngr = msngr
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.msngr:
            nodes = self.msngr.trace.nodes
            nodes["_INPUT"] = Message("args", "_INPUT", None, args, kwargs)
            ret = self.fn(*args, **kwargs)
            nodes["_RETURN"] = Message("return", "_RETURN", None, value=ret)
        return ret

    @property
    def trace(self) -> Trace:
        return self.msngr.trace

    def get_trace(self, *args: Any, **kwargs: Any) -> Trace:
        """Run the program on ``args, kwargs`` and return its trace."""
        self(*args, **kwargs)
        return self.msngr.trace
