"""The effect runtime: the handler stack, the message record and ``apply_stack``.

A primitive statement (``sample``, ``param``, ...) builds one :class:`Message` and hands it to
:func:`apply_stack`. The stack is a plain list of handlers; the last one entered is the
innermost. ``apply_stack`` walks the stack twice:

1. from the innermost handler outward, calling each handler's process hook for the message's
   type; a handler may set ``msg.stop`` to hide the message from the handlers further out;
2. it runs the default behaviour (``msg.value = msg.fn(*msg.args, **msg.kwargs)`` unless a
   handler already set ``msg.done`` or a value);
3. from the outermost handler it reached back to the innermost, calling each postprocess hook.

Finally ``msg.continuation(msg)`` runs if a handler set one (``escape`` uses this to leave
the program early). With an empty stack a primitive never builds a message at all.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pyrolite.poutine.dim_allocator import DIM_ALLOCATOR

# The global handler stack. Handlers push themselves on ``__enter__`` and pop on ``__exit__``.
_STACK: list = []
# Pyro's names for the same objects (its tests and some user code reach for them).
_PYRO_STACK = _STACK
_DIM_ALLOCATOR = DIM_ALLOCATOR

_FIELDS = (
    "type",
    "name",
    "fn",
    "is_observed",
    "args",
    "kwargs",
    "value",
    "infer",
    "scale",
    "mask",
    "cond_indep_stack",
    "done",
    "stop",
    "continuation",
)
# Written once a trace computes densities; absent until then (``"log_prob" in site`` is False).
_LAZY_FIELDS = ("log_prob", "unscaled_log_prob", "log_prob_sum", "score_parts", "intervener_id")


class Message:
    """One primitive call travelling through the handler stack.

    A slotted record with fixed fields; it also reads like the dict Pyro uses for trace
    sites (``msg["value"]``, ``"log_prob" in msg``, ``msg.get("infer")``), so a trace stores
    messages as its sites without copying them.

    Fields: ``type`` (``"sample"``, ``"param"``, ...), ``name``, ``fn`` (a distribution or a
    callable), ``is_observed``, ``args``, ``kwargs``, ``value``, ``infer`` (dict of inference
    hints), ``scale`` (float or tensor multiplying the log density), ``mask`` (None, bool or
    bool tensor), ``cond_indep_stack`` (tuple of plate frames, outermost first), ``done``
    (value is final, do not draw), ``stop`` (hide from outer handlers), ``continuation``.
    """

    __slots__ = _FIELDS + _LAZY_FIELDS

    def __init__(
        self,
        type: str,
        name: str | None,
        fn: Any,
        args: tuple = (),
        kwargs: dict | None = None,
        value: Any = None,
        is_observed: bool = False,
        infer: dict | None = None,
        scale: Any = 1.0,
        mask: Any = None,
        cond_indep_stack: tuple = (),
        done: bool = False,
        stop: bool = False,
        continuation: Any = None,
    ) -> None:
        self.type = type
        self.name = name
        self.fn = fn
        self.args = args
        self.kwargs = {} if kwargs is None else kwargs
        self.value = value
        self.is_observed = is_observed
        self.infer = {} if infer is None else infer
        self.scale = scale
        self.mask = mask
        self.cond_indep_stack = cond_indep_stack
        self.done = done
        self.stop = stop
        self.continuation = continuation

    # Mapping interface, so trace sites read like Pyro's dicts.
    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        try:
            setattr(self, key, value)
        except AttributeError:
            raise KeyError(
                f"a message has no field {key!r}; its fields are {self.__slots__}"
            ) from None

    def __contains__(self, key: str) -> bool:
        return key in self.__slots__ and hasattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default) if key in self.__slots__ else default

    def keys(self) -> list[str]:
        return [k for k in self.__slots__ if hasattr(self, k)]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def copy(self) -> Message:
        """A shallow copy (the ``infer`` dict is copied too, since handlers update it)."""
        new = Message.__new__(Message)
        for key in self.keys():
            setattr(new, key, getattr(self, key))
        new.infer = dict(self.infer)
        return new

    def __repr__(self) -> str:
        return f"Message(type={self.type!r}, name={self.name!r}, value={self.value!r})"


class InferDict(TypedDict, total=False):
    """The keys of a site's ``infer`` dict that pyrolite's handlers and algorithms read.

    ``enumerate`` ("sequential" or "parallel"), ``expand``, ``is_auxiliary`` (a guide site
    the model does not have), ``is_observed``, ``num_samples``, ``obs``, ``was_observed``,
    and the internal ``_deterministic``, ``_do_not_trace``, ``_subsample`` flags.
    """

    enumerate: str
    expand: bool
    is_auxiliary: bool
    is_observed: bool
    num_samples: int
    obs: Any
    was_observed: bool
    _deterministic: bool
    _do_not_trace: bool
    _subsample: bool


def default_process_message(msg: Message) -> None:
    """The default behaviour ``apply_stack`` runs between its two walks: draw
    ``msg.value = msg.fn(*msg.args, **msg.kwargs)`` unless the message is done, observed or
    already has a value; then mark it done."""
    if not (msg.done or msg.is_observed or msg.value is not None):
        msg.value = msg.fn(*msg.args, **msg.kwargs)
    msg.done = True


def apply_stack(msg: Message) -> Message:
    """Send ``msg`` through the handler stack (see the module docstring); returns it."""
    stack = _STACK
    visited = 0
    for frame in reversed(stack):
        visited += 1
        hook = frame._process_table.get(msg.type)
        if hook is not None:
            hook(frame, msg)
        if msg.stop:
            break

    if msg.value is None and not msg.done:
        msg.value = msg.fn(*msg.args, **msg.kwargs)
    msg.done = True

    for frame in stack[len(stack) - visited :]:
        hook = frame._postprocess_table.get(msg.type)
        if hook is not None:
            hook(frame, msg)

    if msg.continuation is not None:
        msg.continuation(msg)
    return msg


def am_i_wrapped() -> bool:
    """True when at least one handler is active."""
    return bool(_STACK)


def get_stack() -> list:
    """A copy of the active handler stack, outermost first."""
    return list(_STACK)


def effectful(fn=None, type: str | None = None):
    """Turn ``fn`` into a primitive whose calls send a message of type ``type``.

    The wrapped function takes the extra keywords ``name``, ``infer`` and ``obs``; handlers
    see it through ``_pyro_<type>`` hooks. With no handler active it is just ``fn``.

    Example::

        @effectful(type="my_effect")
        def double(x):
            return 2 * x
    """
    if fn is None:
        return lambda f: effectful(f, type=type)
    if getattr(fn, "_is_effectful", False):
        return fn
    if type is None:
        raise ValueError("effectful(fn, type=...) needs a message type, e.g. type='my_effect'")

    def wrapped(*args, name=None, infer=None, obs=None, **kwargs):
        if not _STACK:
            return fn(*args, **kwargs)
        msg = Message(type, name, fn, args, kwargs, obs, obs is not None, infer)
        apply_stack(msg)
        return msg.value

    wrapped.__name__ = getattr(fn, "__name__", "effectful")
    wrapped.__doc__ = getattr(fn, "__doc__", None)
    wrapped.__wrapped__ = fn
    wrapped._is_effectful = True
    return wrapped


class NonlocalExit(Exception):
    """Raised by ``escape`` to leave a program at a chosen site; ``site`` is that message."""

    def __init__(self, site: Message, *args: Any) -> None:
        super().__init__(*args)
        self.site = site

    def reset_stack(self) -> None:
        """Reset the handlers still on the stack, innermost first, up to and including the
        first one that hides ``site`` from the handlers outside it (a ``block``), so that the
        program can be run again from the start (``poutine.queue`` does this)."""
        for frame in reversed(_STACK):
            reset = getattr(frame, "_reset", None)
            if reset is not None:
                reset()
            hide_fn = getattr(frame, "hide_fn", None)
            if hide_fn is not None and hide_fn(self.site):
                break


def _inspect() -> Message:
    """Send an ``inspect`` message through the stack and return it with every effect applied
    (its ``mask`` and ``cond_indep_stack`` say what the enclosing handlers would do)."""
    msg = Message("inspect", "_pyro_inspect", _true, infer={"_do_not_trace": True})
    if _STACK:
        apply_stack(msg)
    return msg


def _true() -> bool:
    return True


def get_mask() -> Any:
    """The mask the enclosing ``poutine.mask`` handlers would put on a sample site here:
    None (no mask), a bool, or a bool tensor. Use it to skip work whose density would be
    masked out anyway::

        if poutine.get_mask() is not False:
            pyro.factor("expensive", log_density())
    """
    return _inspect().mask


def get_plates() -> tuple:
    """The plates enclosing this point of the program, as a tuple of
    :class:`~pyrolite.poutine.plate_messenger.CondIndepStackFrame` (outermost first)."""
    return _inspect().cond_indep_stack
