"""``PyroOptim``: torch optimisers for parameters that appear while a program runs.

SVI calls ``optim(params)`` after ``loss.backward()`` with the unconstrained leaf tensors of the
params the step touched. Params appear lazily: the first time a tensor is seen, it is
registered with a torch optimiser built from ``optim_args``.

How this differs from Pyro, and why. Pyro builds one torch optimiser *per parameter tensor*
and steps them one by one. Here params that share the same optim args share ONE torch
optimiser (a single param group): the first param with a given set of args creates it, later
ones are appended to its param group (torch optimisers create per-param state lazily, in
``step``; optimisers that initialise state eagerly, like Adagrad, get that state initialised
for each appended param). Every torch optimiser in ``torch.optim`` updates each parameter
from its own gradient and its own state only, with the group's hyperparameters, so the
result is mathematically identical to Pyro's, with far fewer objects and Python loops per step
(and torch's multi-tensor kernels where they apply).

Exactly like Pyro, a call steps only the params it is given: params of a shared optimiser
that are not in ``params`` are hidden from the step (their ``.grad`` is set aside for its
duration and put back). Params whose ``.grad`` is ``None`` are skipped by torch. Grads are not
zeroed after the step; SVI sets ``p.grad = None`` itself.

An optimiser whose group hyperparameters change over time (a learning-rate scheduler) stops
accepting new params once its scheduler has stepped: params that appear later get a new torch
optimiser and scheduler, starting their schedule from the beginning, as each Pyro per-param
optimiser does.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import torch
from torch.nn.utils import clip_grad_norm_, clip_grad_value_

from pyrolite.checkpoint import load_tensors, save_tensors
from pyrolite.params import (
    MODULE_NAMESPACE_DIVIDER,
    get_param_store,
    user_param_name,
)

__all__ = ["OPTIM_KIND", "PyroOptim", "check_optimizer_entry"]

OPTIM_KIND = "pyrolite.optim"

OptimArgs = dict | Callable[..., dict]
ClipArgs = dict | Callable[..., dict] | None

_CLIP_KEYS = frozenset({"clip_norm", "clip_value"})
_COUNTER_TAG = "__pyrolite_counter__"


# ----------------------------------------------------------------------------------------------
# plain-data helpers


def _freeze(obj: Any) -> Hashable:
    """A hashable key for a dict of optimiser arguments (equal args give equal keys)."""
    if isinstance(obj, dict):
        return ("dict", tuple(sorted(((k, _freeze(v)) for k, v in obj.items()), key=repr)))
    if isinstance(obj, list | tuple):
        return (type(obj).__name__, tuple(_freeze(v) for v in obj))
    if isinstance(obj, torch.Tensor):
        return ("tensor", id(obj))
    try:
        hash(obj)
    except TypeError:
        return ("object", id(obj))
    return (type(obj).__name__, obj)


def _snapshot(obj: Any) -> Any:
    """Deep copy of plain data with tensors detached and cloned; a Counter becomes plain data."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, Counter):
        return {_COUNTER_TAG: [[k, v] for k, v in obj.items()]}
    if isinstance(obj, dict):
        return {k: _snapshot(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_snapshot(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_snapshot(v) for v in obj)
    return obj


def _unsnapshot(obj: Any) -> Any:
    """Inverse of the Counter encoding of :func:`_snapshot` (other data is returned as is)."""
    if isinstance(obj, dict):
        if set(obj) == {_COUNTER_TAG}:
            return Counter({k: v for k, v in obj[_COUNTER_TAG]})
        return {k: _unsnapshot(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unsnapshot(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_unsnapshot(v) for v in obj)
    return obj


def _state_value_for(param: torch.Tensor, key: str, value: Any, group: dict) -> Any:
    """Place a saved optimiser state value like ``Optimizer.load_state_dict`` does."""
    if not isinstance(value, torch.Tensor):
        return value
    if key == "step":
        if group.get("capturable") or group.get("fused"):
            return value.to(dtype=torch.float32, device=param.device)
        return value
    if param.is_floating_point() and value.is_floating_point():
        return value.to(dtype=param.dtype, device=param.device)
    return value.to(device=param.device)


# ----------------------------------------------------------------------------------------------
# one torch optimiser (and scheduler) with its params


# torch optimisers whose multi-tensor ("foreach") step equals the per-tensor one bit for bit
_MULTI_TENSOR = (torch.optim.Adam, torch.optim.AdamW)


class _Slot:
    """One torch optimiser with a single param group, plus its scheduler if any."""

    __slots__ = ("optimizer", "scheduler", "args", "params", "accepting", "eager_state")

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler: Any, args: dict) -> None:
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.args = args
        if len(optimizer.param_groups) != 1:
            raise ValueError("PyroOptim needs optimisers that build a single param group")
        self.params: list[torch.Tensor] = optimizer.param_groups[0]["params"]
        # an optimiser whose step changes its group (ClippedAdam's lr decay) would hand a later
        # param a rate that its own fresh optimiser would not have: it takes no second param
        self.accepting = not getattr(optimizer, "decays_lr", False)
        # state right after construction means the class initialises state eagerly (Adagrad)
        self.eager_state = bool(optimizer.state)

    @property
    def group(self) -> dict:
        return self.optimizer.param_groups[0]

    def add(self, param: torch.Tensor) -> None:
        """Append ``param`` to the param group, initialising eagerly created state."""
        self.params.append(param)
        if self.eager_state:
            # Optimisers such as Adagrad create per-param state in __init__ rather than in
            # step: build a throwaway one over this param and take its initial state.
            scratch = type(self.optimizer)([param], **self.args)
            initial = scratch.state.get(param)
            if initial:
                self.optimizer.state[param] = initial

    def step(self, given_ids: set[int] | None, args: tuple, kwargs: dict) -> None:
        """Step the optimiser; with ``given_ids``, hide the grads of params not in it."""
        if given_ids is None:
            self.optimizer.step(*args, **kwargs)
            return
        hidden = []
        for q in self.params:
            if q.grad is not None and id(q) not in given_ids:
                hidden.append((q, q.grad))
                q.grad = None
        try:
            self.optimizer.step(*args, **kwargs)
        finally:
            for q, grad in hidden:
                q.grad = grad

    def restore_group(self, entry: dict) -> None:
        """Restore hyperparameters, scheduler state and openness from a saved entry."""
        group = _entry_group(entry)
        self.group.update({k: v for k, v in group.items() if k != "params"})
        if self.scheduler is not None and entry.get("scheduler") is not None:
            self.scheduler.load_state_dict(_unsnapshot(entry["scheduler"]))
        self.accepting = bool(entry.get("accepting", self.accepting))

    def restore_param(self, param: torch.Tensor, entry: dict) -> None:
        group = self.group
        state = _entry_param_state(entry)
        self.optimizer.state[param] = {
            k: _state_value_for(param, k, v, group) for k, v in state.items()
        }

    def entry_for(self, param: torch.Tensor, index: int, group: dict, scheduler: Any) -> dict:
        """``param``'s saved state laid out as Pyro saves it: the state dict of a torch
        optimiser over this one param (under ``"optimizer"``, next to ``"scheduler"``, when
        a scheduler drives it), plus pyrolite's ``slot``, ``accepting`` and the param's
        ``shape``."""
        optimizer_state = {
            "state": {0: _snapshot(dict(self.optimizer.state.get(param, {})))},
            "param_groups": [{**group, "params": [0]}],
        }
        entry: dict = {"slot": index, "accepting": self.accepting, "shape": list(param.shape)}
        if scheduler is None:
            entry.update(optimizer_state)
        else:
            entry["scheduler"] = scheduler
            entry["optimizer"] = optimizer_state
        return entry


def _entry_optimizer_state(entry: dict) -> dict:
    return entry["optimizer"] if "optimizer" in entry else entry


def _entry_group(entry: dict) -> dict:
    groups = _entry_optimizer_state(entry).get("param_groups") or [{}]
    return groups[0]


def _entry_param_state(entry: dict) -> dict:
    states = _entry_optimizer_state(entry).get("state") or {}
    return next(iter(states.values()), {})


# ----------------------------------------------------------------------------------------------
# PyroOptim


class PyroOptim:
    """Wrap a torch optimiser class for params that appear lazily (see the module docstring).

    Args:
        optim_constructor: a ``torch.optim.Optimizer`` subclass (or a callable with the same
            signature, ``(params, **optim_args)``), building one param group.
        optim_args: keyword arguments for it, or a callable returning them per param, called
            as Pyro calls it: a callable of one argument gets the param's name with a module's
            ``"$$$"`` written as ``"."`` (``"loc"``, ``"encoder.weight"``); any other gets
            ``(module_name, param_name)`` split as Pyro splits it (``"a"`` gives ``("a", "a")``).
        clip_args: ``{"clip_norm": ..., "clip_value": ...}`` (either or both), or a callable
            returning it per param, called like ``optim_args``'s (Pyro calls it with
            ``(module_name, param_name)`` only). Each param's grad is clipped on its own
            (``clip_grad_norm_`` then ``clip_grad_value_``) before the step, as in Pyro.

    Example::

        optim = PyroOptim(torch.optim.Adam, {"lr": 1e-3})
        loss.backward()
        optim(params)  # unconstrained leaf tensors; steps those that have a grad
    """

    def __init__(
        self,
        optim_constructor: Callable[..., torch.optim.Optimizer],
        optim_args: OptimArgs,
        clip_args: ClipArgs = None,
    ) -> None:
        if not (isinstance(optim_args, dict) or callable(optim_args)):
            raise TypeError(
                "optim_args must be a dict of optimiser arguments or a callable returning one, "
                f"got {type(optim_args).__name__}"
            )
        if clip_args is None:
            clip_args = {}
        if not (isinstance(clip_args, dict) or callable(clip_args)):
            raise TypeError(
                "clip_args must be a dict with clip_norm and/or clip_value, or a callable "
                f"returning one, got {type(clip_args).__name__}"
            )
        if isinstance(clip_args, dict):
            _check_clip_args(clip_args)
        self.pt_optim_constructor = optim_constructor
        self.pt_optim_args = optim_args
        self.pt_clip_args = clip_args
        self._slots: list[_Slot] = []
        self._slot_of: dict[int, _Slot] = {}  # id(param) -> slot; the slot keeps param alive
        self._open_slot: dict[Hashable, _Slot] = {}  # args key -> slot taking new params
        self._clip_of: dict[int, tuple[torch.Tensor, float | None, float | None]] = {}
        self._pending: dict[str, dict] = {}  # saved state waiting for its param to appear
        self._restored: dict[tuple[Hashable, Any], _Slot] = {}

    # -- the step ---------------------------------------------------------------------------------

    def __call__(self, params: Iterable[torch.Tensor], *args: Any, **kwargs: Any) -> None:
        """Step the given unconstrained leaf tensors (those whose ``.grad`` is not ``None``).

        Unseen tensors are registered first. ``args``/``kwargs`` go to each torch optimiser's
        ``step`` (e.g. a closure). Grads are left as they are after the step.
        """
        if not isinstance(params, set | frozenset):
            params = {id(p): p for p in params}.values()
        slot_of = self._slot_of
        counts: dict[_Slot, int] = {}
        unseen = None
        for p in params:
            slot = slot_of.get(id(p))
            if slot is None:
                if unseen is None:
                    unseen = []
                unseen.append(p)
            else:
                counts[slot] = counts.get(slot, 0) + 1
        if unseen is not None:
            for slot in self._register(unseen):
                counts[slot] = counts.get(slot, 0) + 1
        if self._clip_of:
            clip_of = self._clip_of
            for p in params:
                clip = clip_of.get(id(p))
                if clip is not None:
                    _clip(*clip)
        given_ids = None
        for slot, count in counts.items():
            if count < len(slot.params):
                if given_ids is None:
                    given_ids = {id(p) for p in params}
                slot.step(given_ids, args, kwargs)
            else:
                slot.step(None, args, kwargs)

    # -- registration ----------------------------------------------------------------------------

    def _register(self, params: list[torch.Tensor]) -> list[_Slot]:
        store = get_param_store()
        need_names = (
            bool(self._pending) or callable(self.pt_optim_args) or (callable(self.pt_clip_args))
        )
        named = []
        for p in params:
            if not isinstance(p, torch.Tensor) or not p.is_leaf:
                raise ValueError(
                    "PyroOptim steps unconstrained leaf tensors; got a non-leaf tensor. Pass "
                    "value.unconstrained() (or the param store's named_parameters())."
                )
            named.append((p, store.param_name(p) if need_names else None))
        store.warn_if_ignored(params)
        # params with saved state first, so they rebuild their saved optimisers before new
        # params are placed
        named.sort(key=lambda pn: pn[1] not in self._pending)
        return [self._register_one(p, name) for p, name in named]

    def _register_one(self, param: torch.Tensor, name: str | None) -> _Slot:
        args = self._args_for(self.pt_optim_args, param, name, "optim_args")
        key = _freeze(args)
        entry = self._pending.pop(name, None) if name is not None else None
        if entry is not None:
            _check_entry_shape(name, param.shape, entry)
            restored_key = (key, entry.get("slot"))
            slot = self._restored.get(restored_key)
            if slot is None:
                slot = self._new_slot(param, args)
                slot.restore_group(entry)
                self._restored[restored_key] = slot
                if slot.accepting:
                    self._open_slot[key] = slot
            else:
                slot.add(param)
            slot.restore_param(param, entry)
        else:
            slot = self._open_slot.get(key)
            if slot is None or not slot.accepting:
                slot = self._new_slot(param, args)
                self._open_slot[key] = slot
            else:
                slot.add(param)
        self._slot_of[id(param)] = slot
        clip = self._args_for(self.pt_clip_args, param, name, "clip_args")
        if clip:
            _check_clip_args(clip)
            self._clip_of[id(param)] = (param, clip.get("clip_norm"), clip.get("clip_value"))
        return slot

    def _new_slot(self, param: torch.Tensor, args: dict) -> _Slot:
        ctor = self.pt_optim_constructor
        if "foreach" not in args and isinstance(ctor, type) and issubclass(ctor, _MULTI_TENSOR):
            # torch picks the per-tensor Python loop on CPU; the multi-tensor kernels give
            # the same numbers bit for bit at a fraction of the per-step cost
            args = {**args, "foreach": True}
        optimizer = ctor([param], **args)
        slot = _Slot(optimizer, self._make_scheduler(optimizer), args)
        self._slots.append(slot)
        return slot

    def _make_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        """Hook for :class:`PyroLRScheduler`: no scheduler here."""
        return None

    @staticmethod
    def _args_for(spec: Any, param: torch.Tensor, name: str | None, what: str) -> dict:
        if not callable(spec):
            return dict(spec)
        if name is None:
            raise ValueError(
                f"{what} is a callable, so each param needs a name, but a tensor of shape "
                f"{tuple(param.shape)} is not in the param store; create params with "
                "pyro.param or pyro.module, or pass a dict"
            )
        if _arity(spec) == 1:
            # named as nn.Module.named_parameters() names it: "module.weight"
            result = spec(name.replace(MODULE_NAMESPACE_DIVIDER, "."))
        else:
            # Pyro's (module, param) split: a plain name is its own module part ("a", "a")
            module_name = name.partition(MODULE_NAMESPACE_DIVIDER)[0]
            result = spec(module_name, user_param_name(name))
        if not isinstance(result, dict):
            raise TypeError(
                f"{what} callable must return a dict for param {name!r}, got "
                f"{type(result).__name__}"
            )
        return result

    # -- introspection -------------------------------------------------------------------------

    @property
    def torch_optimizers(self) -> list[torch.optim.Optimizer]:
        """The torch optimisers created so far (one per distinct set of optim args)."""
        return [slot.optimizer for slot in self._slots]

    @property
    def optim_objs(self) -> dict[torch.Tensor, Any]:
        """Param -> the torch optimiser (or scheduler) that steps it, as Pyro exposes it."""
        return {
            p: (slot.scheduler if slot.scheduler is not None else slot.optimizer)
            for slot in self._slots
            for p in slot.params
        }

    # -- state -------------------------------------------------------------------------------------

    def get_state(self) -> dict[str, dict]:
        """Optimiser state keyed by param name, so it survives a restart with new tensors.

        Each entry is laid out as Pyro's: the ``state_dict()`` of a torch optimiser over that
        one param (``{"state": {0: ...}, "param_groups": [{..., "params": [0]}]}``, the group
        holding current hyperparameters such as a scheduled ``lr``); for a scheduler,
        ``{"scheduler": ..., "optimizer": <that state dict>}``. pyrolite adds ``slot``
        (which params shared a torch optimiser) and ``accepting``. Params that are not in the
        param store are left out. Tensors are detached copies.
        """
        store = get_param_store()
        out: dict[str, dict] = {}
        for index, slot in enumerate(self._slots):
            group = _snapshot({k: v for k, v in slot.group.items() if k != "params"})
            scheduler = _snapshot(slot.scheduler.state_dict()) if slot.scheduler else None
            for p in slot.params:
                name = store.param_name(p)
                if name is not None:
                    out[name] = slot.entry_for(p, index, group, scheduler)
        # state loaded but not consumed yet is kept (with slot numbers that cannot collide)
        offset = len(self._slots)
        for name, entry in self._pending.items():
            if name not in out:
                entry = dict(entry)
                if isinstance(entry.get("slot"), int):
                    entry["slot"] = entry["slot"] + offset
                out[name] = _snapshot(entry)
        return out

    def set_state(self, state: dict[str, dict]) -> None:
        """Restore a state from :meth:`get_state`; each param gets its state when it next
        appears in a step.

        The state replaces, not adds: every torch optimiser built so far is released (with
        the tensors and state it holds), and params the state does not name keep their
        current state. ``ValueError`` naming the param, before anything changes, if a saved
        state was made for another shape than a live param's.
        """
        self._set_state(_snapshot(state))

    def _set_state(self, state: dict[str, dict]) -> None:
        if not isinstance(state, dict) or not all(isinstance(e, dict) for e in state.values()):
            raise TypeError(
                "optimiser state must be a dict of per-param dicts (from get_state()), got "
                f"{type(state).__name__}"
            )
        store = get_param_store()
        for name, entry in state.items():
            if name in store:
                _check_entry_shape(name, store.unconstrained(name).shape, entry)
        kept = self.get_state()
        offset = 1 + max((e["slot"] for e in state.values() if _is_int(e.get("slot"))), default=0)
        for entry in kept.values():
            if _is_int(entry.get("slot")):
                entry["slot"] += offset
        self._slots = []
        self._slot_of = {}
        self._open_slot = {}
        self._clip_of = {}
        self._restored = {}
        self._pending = {**{k: v for k, v in kept.items() if k not in state}, **state}

    def save(self, path: str) -> None:
        """Save the optimiser state atomically (a pyrolite checkpoint, kind "pyrolite.optim")."""
        save_tensors(self.get_state(), path, OPTIM_KIND)

    def load(self, path: str, map_location: Any = None) -> None:
        """Load a state saved by :meth:`save` (applied to params as they appear)."""
        self._set_state(load_tensors(path, OPTIM_KIND, map_location=map_location))


def _is_int(value: Any) -> bool:
    return type(value) is int


_PER_ELEMENT_STATE = frozenset(
    {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "sum"}
)


def check_optimizer_entry(name: str, entry: Any, param_shape: torch.Size | None) -> None:
    """Check one param's saved state from :meth:`PyroOptim.get_state` without using it:
    ``TypeError``/``ValueError`` naming ``name`` if it is malformed or, when
    ``param_shape`` is given, was saved for a param of another shape."""
    if not isinstance(entry, dict):
        raise TypeError(f"the optimiser state of param {name!r} is a {type(entry).__name__}")
    optimizer_state = _entry_optimizer_state(entry)
    if not isinstance(optimizer_state, dict):
        raise TypeError(f"the optimiser state of param {name!r} has no optimiser state dict")
    states = optimizer_state.get("state", {})
    groups = optimizer_state.get("param_groups", [{}])
    if not (
        isinstance(states, dict)
        and all(isinstance(v, dict) for v in states.values())
        and isinstance(groups, list)
        and all(isinstance(g, dict) for g in groups)
    ):
        raise TypeError(
            f"the optimiser state of param {name!r} is not laid out as a torch optimiser's "
            "state_dict ('state' a dict of dicts, 'param_groups' a list of dicts)"
        )
    if entry.get("shape") is not None and not (
        isinstance(entry["shape"], list) and all(type(n) is int for n in entry["shape"])
    ):
        raise TypeError(f"the optimiser state of param {name!r} has a malformed 'shape'")
    if param_shape is not None:
        _check_entry_shape(name, param_shape, entry)


def _check_entry_shape(name: str, param_shape: torch.Size, entry: dict) -> None:
    """``ValueError`` naming ``name`` if the saved optimiser ``entry`` was made for a param
    of another shape (its recorded ``shape``, else the shapes of per-element state tensors)."""
    expected = tuple(param_shape)
    shape = entry.get("shape")
    if shape is not None:
        saved = tuple(shape)
    else:
        saved = next(
            (
                tuple(v.shape)
                for k, v in _entry_param_state(entry).items()
                if k in _PER_ELEMENT_STATE and isinstance(v, torch.Tensor)
            ),
            expected,
        )
    if saved != expected:
        raise ValueError(
            f"optimiser state for param {name!r} was saved for shape {saved}, but the param "
            f"has shape {expected}; load the optimiser state saved with this model, or start "
            "the optimiser afresh"
        )


def _arity(fn: Callable) -> int:
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        return 1


def _check_clip_args(clip_args: dict) -> None:
    unknown = set(clip_args) - _CLIP_KEYS
    if unknown:
        raise ValueError(
            f"unknown clip_args {sorted(unknown)}; use 'clip_norm' and/or 'clip_value'"
        )


def _clip(param: torch.Tensor, clip_norm: float | None, clip_value: float | None) -> None:
    if param.grad is None:
        return
    if clip_norm is not None:
        clip_grad_norm_(param, clip_norm)
    if clip_value is not None:
        clip_grad_value_(param, clip_value)
