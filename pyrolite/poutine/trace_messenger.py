"""``trace``: record the sample and param sites of a run into a :class:`Trace`.

Reads: every field (it stores the message itself). Writes: nothing on the message.
Sample sites marked ``infer={"_do_not_trace": True}`` are not recorded (as in Pyro).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace, is_subsample


def add_dense_edges(trace: Trace) -> None:
    """Add an edge from every sample site to every later sample site that may depend on it,
    in place: all pairs except those in different iterations of one sequential plate
    (frames of the same name with different ``counter``). Plate subsample sites get none.
    """
    earlier: list[tuple[str, tuple]] = []
    for name, site in trace.nodes.items():
        if site.type != "sample" or is_subsample(site):
            continue
        stack = site.cond_indep_stack
        for past_name, past_stack in earlier:
            if not _in_other_iteration(stack, past_stack):
                trace.add_edge(past_name, name)
        earlier.append((name, stack))


def _in_other_iteration(stack: tuple, past_stack: tuple) -> bool:
    for frame, past in zip(stack, past_stack, strict=False):
        if frame.name == past.name and frame.counter != past.counter:
            return True
    return False


class TraceMessenger(Messenger):
    """Records sites as they pass; ``self.trace`` holds the latest run's :class:`Trace`.

    ``graph_type="dense"`` adds the dependency edges (:func:`add_dense_edges`) when the run
    ends; ``param_only=True`` records only param sites (cheap way to collect parameters).
    """

    def __init__(self, graph_type: str | None = None, param_only: bool | None = None) -> None:
        self.graph_type = graph_type or "flat"
        self.param_only = bool(param_only)
        self.trace = Trace(self.graph_type)

    def __enter__(self) -> TraceMessenger:
        self.trace = Trace(self.graph_type)
        return super().__enter__()

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if self.graph_type == "dense":
            add_dense_edges(self.trace)
        return super().__exit__(exc_type, exc_value, traceback)

    def _pyro_post_sample(self, msg: Message) -> None:
        if self.param_only or msg.infer.get("_do_not_trace"):
            return
        self.trace.add_site(msg)

    def _pyro_post_param(self, msg: Message) -> None:
        self.trace.add_site(msg)

    def _reset(self) -> None:
        """Start the trace afresh (keeping ``"_INPUT"``), for a program run again after a
        nonlocal exit."""
        old = self.trace.nodes.get("_INPUT")
        self.trace = Trace(self.graph_type)
        if old is not None:
            self.trace.nodes["_INPUT"] = old

    def get_trace(self) -> Trace:
        """The trace of the latest run."""
        return self.trace

    def __call__(self, fn: Callable) -> TraceHandler:
        if not callable(fn):
            raise ValueError(f"trace wraps a callable (a model or guide), got {fn!r}")
        return TraceHandler(self, fn)


class TraceHandler:
    """``poutine.trace(fn)``: call it like ``fn``; ``get_trace(*args)`` runs it and returns
    the :class:`Trace` (with ``"_INPUT"`` and ``"_RETURN"`` pseudo sites, unless
    ``param_only``)."""

    def __init__(self, msngr: TraceMessenger, fn: Callable) -> None:
        self.msngr = msngr
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        msngr = self.msngr
        if msngr.param_only:
            with msngr:
                return self.fn(*args, **kwargs)
        with msngr:
            msngr.trace.nodes["_INPUT"] = Message("args", "_INPUT", None, args, kwargs)
            ret = self.fn(*args, **kwargs)
            # the trace may have been replaced by a reset since the run began
            msngr.trace.nodes["_RETURN"] = Message("return", "_RETURN", None, value=ret)
        return ret

    @property
    def trace(self) -> Trace:
        return self.msngr.trace

    def get_trace(self, *args: Any, **kwargs: Any) -> Trace:
        """Run the program on ``args, kwargs`` and return its trace."""
        self(*args, **kwargs)
        return self.msngr.trace
