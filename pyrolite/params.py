"""The param store: named parameters as unconstrained leaf tensors plus constraints.

Every ``pyro.param(name, init, constraint=...)`` statement ends in
:meth:`ParamStoreDict.get_param`. The store keeps, per name, an **unconstrained leaf tensor**
(``requires_grad=True``; this is what optimisers update in place) and the constraint of the
value. Reading a param returns its *constrained* value, ``transform_to(constraint)`` applied
to the leaf, recomputed on every read so that each read starts a fresh autograd graph. For
``constraints.real`` the leaf itself is returned, with no computation. Every value returned
carries ``value.unconstrained``, a zero-argument callable that returns the leaf.

Example::

    store = get_param_store()
    scale = store.get_param("scale", torch.ones(3), constraint=constraints.positive)
    scale.unconstrained()  # the leaf the optimiser steps: log(scale)

Names of parameters that belong to an ``nn.Module`` registered with ``pyro.module`` have the
form ``"module$$$param"`` (see :func:`param_with_module_name`).

Loaded values and networks. A network trains only if the optimiser steps the very tensors it
reads, so where loaded values go matters:

- :meth:`ParamStoreDict.restore_state` (what ``pyrolite.infer.load_checkpoint`` uses) writes
  a loaded value *into* the tensor already in the store when shape and constraint agree (a
  registered network's own parameter is restored in place), and marks a module param that is
  not registered yet, so that ``pyro.module`` copies the value into the network's parameter
  when it registers and the store keeps that parameter: the network resumes, whatever
  ``update_module_params`` says.
- :meth:`ParamStoreDict.load` and :meth:`ParamStoreDict.set_state` keep Pyro's rule: they
  put new tensors in the store; ``pyro.module(..., update_module_params=True)`` makes the
  network read them, while with the default the network keeps its own tensors. A network
  that so ignores loaded values gets a warning, once per module, when an optimiser first
  steps the loaded copies it ignores (the copies train, the network does not).
"""

from __future__ import annotations

import re
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.distributions import constraints, transform_to
from torch.distributions.constraints import Constraint
from torch.distributions.transforms import (
    AffineTransform,
    ComposeTransform,
    Transform,
)

from pyrolite.checkpoint import load_tensors, save_tensors
from pyrolite.constraint_codec import decode_constraint, encode_constraint, register_constraint
from pyrolite.distributions.constraint_registry import is_identity

__all__ = [
    "MODULE_NAMESPACE_DIVIDER",
    "ParamStoreDict",
    "clear_param_store",
    "decode_constraint",
    "encode_constraint",
    "get_param_store",
    "module_from_param_with_module_name",
    "param_with_module_name",
    "register_constraint",
    "user_param_name",
]

MODULE_NAMESPACE_DIVIDER = "$$$"
PARAMS_KIND = "pyrolite.params"

InitValue = torch.Tensor | float | Callable[[], Any] | None


# ----------------------------------------------------------------------------------------------
# module name helpers


def param_with_module_name(module_name: str, param_name: str) -> str:
    """The store name of parameter ``param_name`` of module ``module_name``: ``"mod$$$w"``."""
    return f"{module_name}{MODULE_NAMESPACE_DIVIDER}{param_name}"


def module_from_param_with_module_name(param_name: str) -> str | None:
    """The module part of ``"mod$$$w"`` (``"mod"``), or ``None`` for a plain param name."""
    module, sep, _ = param_name.partition(MODULE_NAMESPACE_DIVIDER)
    return module if sep else None


def user_param_name(param_name: str) -> str:
    """The parameter part of ``"mod$$$w"`` (``"w"``); a plain name is returned unchanged."""
    return param_name.rpartition(MODULE_NAMESPACE_DIVIDER)[2]


# ----------------------------------------------------------------------------------------------
# the store


def _is_identity_affine(t: Transform) -> bool:
    return (
        isinstance(t, AffineTransform)
        and not isinstance(t.loc, torch.Tensor)
        and not isinstance(t.scale, torch.Tensor)
        and t.loc == 0
        and t.scale == 1
    )


def _make_transform(constraint: Constraint) -> Transform | None:
    """``transform_to(constraint)`` without no-op parts; ``None`` when it is the identity.

    E.g. ``positive`` gives a bare exp (torch composes it with an identity affine map), and
    ``real`` and ``real_vector`` give ``None``.
    """
    if constraint is constraints.real:
        return None
    transform = transform_to(constraint)
    if isinstance(transform, ComposeTransform):
        parts = [t for t in transform.parts if not _is_identity_affine(t)]
        if len(parts) == 1:
            transform = parts[0]
        elif len(parts) != len(transform.parts):
            transform = ComposeTransform(parts)
    return None if is_identity(transform) else transform


# where a stored leaf came from (see the module docstring, "Loaded values and networks")
_CREATED, _LOADED, _RESTORED = 0, 1, 2


class _Param:
    """One stored param: its leaf, constraint, cached transform and weakref to the leaf."""

    __slots__ = (
        "unconstrained",
        "constraint",
        "transform",
        "identity",
        "event_dim",
        "ref",
        "origin",
    )

    def __init__(
        self,
        unconstrained: torch.Tensor,
        constraint: Constraint,
        transform: Transform | None,
        event_dim: int | None,
        origin: int = _CREATED,
    ) -> None:
        self.unconstrained = unconstrained
        self.origin = origin  # _CREATED, _LOADED or _RESTORED: where the leaf came from
        self.constraint = constraint
        self.transform = transform
        self.identity = transform is None
        self.event_dim = event_dim
        self.ref = weakref.ref(unconstrained)
        if self.identity:
            # the constrained value is the leaf itself: its attribute is set once, here
            unconstrained.unconstrained = self.ref


class ParamStoreDict:
    """A dict-like store of named parameters (see the module docstring).

    Iterating, ``keys()``, ``values()`` and ``items()`` follow insertion order; values are
    constrained. ``named_parameters()`` yields the unconstrained leaves.
    """

    def __init__(self) -> None:
        self._params: dict[str, _Param] = {}
        self._name_of: dict[int, str] = {}  # id(unconstrained leaf) -> name
        # id(loaded leaf) -> (name, module) for loaded values a registered module ignores
        self._ignored: dict[int, tuple[str, str]] = {}
        self._warned_modules: set[str] = set()
        # networks registered with pyro.module, and restored buffers awaiting their network
        self._modules: dict[str, weakref.ref] = {}
        self._pending_buffers: dict[str, dict[str, torch.Tensor]] = {}

    # -- the hot path ---------------------------------------------------------------------------

    def get_param(
        self,
        name: str,
        init_tensor: InitValue = None,
        constraint: Constraint = constraints.real,
        event_dim: int | None = None,
    ) -> torch.Tensor:
        """The constrained value of param ``name``, creating it from ``init_tensor`` if new.

        For an existing name ``init_tensor``, ``constraint`` and ``event_dim`` are ignored.
        ``init_tensor`` is a constrained value (or a zero-argument callable returning one,
        called only when the param is created); it must lie in the support of ``constraint``.
        """
        entry = self._params.get(name)
        if entry is None:
            entry = self._create(name, init_tensor, constraint, event_dim)
        if entry.identity:
            return entry.unconstrained
        value = entry.transform(entry.unconstrained)
        value.unconstrained = entry.ref
        return value

    # -- creation ------------------------------------------------------------------------------

    def _create(
        self,
        name: str,
        init_value: InitValue,
        constraint: Constraint,
        event_dim: int | None,
    ) -> _Param:
        if init_value is None:
            raise KeyError(
                f"param {name!r} has not been initialised; give an initial value, e.g. "
                f"pyro.param({name!r}, torch.zeros(...))"
            )
        if callable(init_value) and not isinstance(init_value, torch.Tensor):
            init_value = init_value()
        entry = self._make_entry(name, init_value, constraint, event_dim)
        self._insert(name, entry)
        return entry

    def _make_entry(
        self,
        name: str,
        value: Any,
        constraint: Constraint,
        event_dim: int | None,
    ) -> _Param:
        if not isinstance(value, torch.Tensor):
            try:
                value = torch.as_tensor(value, dtype=torch.get_default_dtype())
            except (TypeError, ValueError, RuntimeError) as err:
                raise TypeError(
                    f"param {name!r}: the initial value must be a tensor (or a number, or a "
                    f"callable returning one), got {type(value).__name__}"
                ) from err
        if not (value.is_floating_point() or value.is_complex()):
            raise TypeError(
                f"param {name!r}: the initial value has dtype {value.dtype}, but parameters "
                f"need a floating point dtype; pass e.g. torch.tensor(..., dtype=torch.float32)"
            )
        try:
            with torch.no_grad():
                in_support = bool(constraint.check(value).all())
        except (RuntimeError, ValueError, IndexError, AssertionError) as err:
            raise ValueError(
                f"param {name!r}: cannot check the initial value of shape {tuple(value.shape)} "
                f"against its constraint {constraint!r} ({err}); give a value of a shape the "
                "constraint accepts"
            ) from err
        if not in_support:
            value = _project_or_raise(name, constraint, value)
        if constraint is constraints.real and value.is_leaf and value.requires_grad:
            # e.g. an nn.Parameter from pyro.module: the module and the store share it
            return _Param(value, constraint, None, event_dim)
        try:
            transform = _make_transform(constraint)
        except NotImplementedError:
            raise ValueError(
                f"param {name!r}: no transform to the support of its constraint {constraint!r} "
                "is registered with torch.distributions.transform_to; use a constraint that has "
                "one, or register one with transform_to.register"
            ) from None
        with torch.no_grad():
            source = value.detach()
            leaf = source if transform is None else transform.inv(source)
            shares_memory = leaf.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()
            if shares_memory or not leaf.is_contiguous():
                # never let the optimiser write into the caller's memory (or an expanded view)
                leaf = leaf.clone(memory_format=torch.contiguous_format)
        leaf.requires_grad_(True)
        return _Param(leaf, constraint, transform, event_dim)

    def _insert(self, name: str, entry: _Param) -> None:
        old = self._params.pop(name, None)
        if old is not None:
            self._forget(name, old)
        self._params[name] = entry
        self._name_of[id(entry.unconstrained)] = name

    def _forget(self, name: str, entry: _Param) -> None:
        key = id(entry.unconstrained)
        if self._name_of.get(key) == name:
            del self._name_of[key]
        if self._ignored:
            self._ignored.pop(key, None)

    # -- dict-like API ----------------------------------------------------------------------------

    def setdefault(
        self,
        name: str,
        init_constrained_value: InitValue,
        constraint: Constraint = constraints.real,
        event_dim: int | None = None,
    ) -> torch.Tensor:
        """The constrained value of ``name``, creating the param first if it does not exist."""
        return self.get_param(name, init_constrained_value, constraint, event_dim)

    def __getitem__(self, name: str) -> torch.Tensor:
        """The constrained value of ``name`` (``KeyError`` if absent)."""
        if name not in self._params:
            raise KeyError(f"param {name!r} is not in the param store")
        return self.get_param(name)

    def __setitem__(self, name: str, new_constrained_value: torch.Tensor) -> None:
        """Replace the value of ``name`` with a new constrained value, keeping its constraint.

        A new name gets ``constraints.real``. The param gets a new unconstrained leaf.
        """
        old = self._params.get(name)
        constraint = constraints.real if old is None else old.constraint
        event_dim = None if old is None else old.event_dim
        self._insert(name, self._make_entry(name, new_constrained_value, constraint, event_dim))

    def __delitem__(self, name: str) -> None:
        """Remove param ``name``."""
        entry = self._params.pop(name)
        self._forget(name, entry)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._params))

    def keys(self) -> list[str]:
        """The param names, in insertion order."""
        return list(self._params)

    def values(self) -> list[torch.Tensor]:
        """The constrained values, in insertion order."""
        return [self.get_param(name) for name in list(self._params)]

    def items(self) -> list[tuple[str, torch.Tensor]]:
        """``(name, constrained value)`` pairs, in insertion order."""
        return [(name, self.get_param(name)) for name in list(self._params)]

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield ``(name, unconstrained leaf)`` pairs, in insertion order."""
        for name, entry in list(self._params.items()):
            yield name, entry.unconstrained

    @property
    def _param_to_name(self) -> dict[torch.Tensor, str]:
        """Pyro's view: unconstrained leaf -> param name."""
        return {entry.unconstrained: name for name, entry in self._params.items()}

    @property
    def _constraints(self) -> dict[str, Constraint]:
        """Pyro's view: param name -> constraint."""
        return {name: entry.constraint for name, entry in self._params.items()}

    def get_all_param_names(self) -> list[str]:
        """The param names, in insertion order."""
        return list(self._params)

    def match(self, name: str) -> dict[str, torch.Tensor]:
        """Constrained values of all params whose names match the regular expression ``name``."""
        pattern = re.compile(name)
        return {key: self.get_param(key) for key in list(self._params) if pattern.match(key)}

    def clear(self) -> None:
        """Remove every param."""
        self._params.clear()
        self._name_of.clear()
        self._ignored.clear()
        self._modules.clear()
        self._pending_buffers.clear()

    def param_name(self, unconstrained: torch.Tensor) -> str | None:
        """The name of the param whose unconstrained leaf is ``unconstrained``, or ``None``."""
        name = self._name_of.get(id(unconstrained))
        if name is None:
            return None
        entry = self._params.get(name)
        return name if entry is not None and entry.unconstrained is unconstrained else None

    def share_as_parameter(self, name: str) -> torch.nn.Parameter:
        """The leaf of the unconstrained param ``name`` as an ``nn.Parameter`` that the store
        itself holds from now on (so a module given it and the optimiser share one tensor).

        ``ValueError`` for a param with a constraint (a module reads unconstrained values)."""
        entry = self._entry(name)
        if not entry.identity:
            raise ValueError(
                f"param {name!r} has constraint {entry.constraint!r}; only an unconstrained "
                "param can be shared with a module as its parameter"
            )
        leaf = entry.unconstrained
        if not isinstance(leaf, torch.nn.Parameter):
            leaf = torch.nn.Parameter(leaf.detach(), requires_grad=True)
            self._insert(name, _Param(leaf, entry.constraint, None, entry.event_dim))
        return leaf

    # -- modules and loaded values (see the module docstring) ---------------------------------

    def register_module_parameter(
        self, name: str, module_name: str, parameter: torch.Tensor, update_module_params: bool
    ) -> torch.Tensor:
        """Reconcile store param ``name`` with a network's ``parameter`` before ``pyro.module``
        sends its param statement; returns the tensor the network should read from now on.

        A value restored by :meth:`restore_state` is copied into ``parameter``, which the
        store then holds. Otherwise, with ``update_module_params`` the network reads the
        store's tensor; without it, a loaded value the network ignores is noted for the
        once-per-module warning of :meth:`warn_if_ignored`.
        """
        entry = self._params.get(name)
        if entry is None or entry.unconstrained is parameter:
            return parameter
        if entry.origin == _RESTORED:
            loaded = entry.unconstrained
            if loaded.shape != parameter.shape:
                raise ValueError(
                    f"module {module_name!r}: parameter {user_param_name(name)!r} has shape "
                    f"{tuple(parameter.shape)}, but the checkpoint restored it with shape "
                    f"{tuple(loaded.shape)}; build the network as it was when the checkpoint "
                    "was saved, or clear that param from the store first"
                )
            with torch.no_grad():
                parameter.copy_(loaded)
            self._insert(name, _Param(parameter, entry.constraint, None, entry.event_dim))
            return parameter
        if update_module_params:
            return self.share_as_parameter(name)
        if entry.origin == _LOADED:
            self._ignored[id(entry.unconstrained)] = (name, module_name)
        return parameter

    def note_module(self, module_name: str, module: torch.nn.Module) -> None:
        """Remember the network ``pyro.module`` registers under ``module_name`` (weakly), and
        copy into it the buffers :meth:`restore_buffers` holds for that name."""
        ref = self._modules.get(module_name)
        if ref is not None and ref() is module:
            return
        pending = self._pending_buffers.pop(module_name, None)
        if pending is not None:
            _copy_buffers(_matching_buffers(module_name, module, pending), pending)
        self._modules[module_name] = weakref.ref(module)

    def module_buffers(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{module name: {buffer name: tensor}}``: the persistent buffers (running
        statistics, masks, variable orders) of the live networks registered with
        ``pyro.module``, plus restored ones still waiting for their network."""
        out = {name: dict(buffers) for name, buffers in self._pending_buffers.items()}
        for name, ref in self._modules.items():
            module = ref()
            if module is not None:
                out[name] = _persistent_buffers(module)
        return {name: buffers for name, buffers in out.items() if buffers}

    def restore_buffers(self, buffers: dict[str, dict[str, torch.Tensor]]) -> None:
        """Put saved :meth:`module_buffers` back: into a registered network in place (its
        buffers must exist with the saved shapes: ``ValueError`` otherwise, before any
        change), or into the network registered later under that name."""
        live = {}
        for name, saved in buffers.items():
            ref = self._modules.get(name)
            module = None if ref is None else ref()
            if module is not None:
                live[name] = _matching_buffers(name, module, saved)
        for name, saved in buffers.items():
            if name in live:
                _copy_buffers(live[name], saved)
            else:
                self._pending_buffers[name] = dict(saved)

    def warn_if_ignored(self, leaves: list[torch.Tensor]) -> None:
        """Warn, once per module, if any of ``leaves`` is a loaded value that its registered
        network ignores (see the module docstring); optimisers call this on new params."""
        if not self._ignored:
            return
        for leaf in leaves:
            # an entry replaced or removed since has left _ignored (see _forget)
            hit = self._ignored.get(id(leaf))
            if hit is None or hit[1] in self._warned_modules:
                continue
            name, module_name = hit
            self._warned_modules.add(module_name)
            warnings.warn(
                f"module {module_name!r} was registered with update_module_params=False after "
                f"its params (e.g. {name!r}) were loaded into the param store: the network "
                "keeps its own weights and the optimiser steps the loaded copies, which the "
                "network never reads. Pass update_module_params=True to pyro.module, or "
                "resume with pyrolite.infer.load_checkpoint, which restores networks.",
                stacklevel=3,
            )

    def unconstrained(self, name: str) -> torch.Tensor:
        """The unconstrained leaf tensor of ``name`` (what optimisers update)."""
        return self._entry(name).unconstrained

    def constraint(self, name: str) -> Constraint:
        """The constraint of ``name``."""
        return self._entry(name).constraint

    def event_dim(self, name: str) -> int | None:
        """The ``event_dim`` given when ``name`` was created (``None`` if none was given)."""
        return self._entry(name).event_dim

    def _entry(self, name: str) -> _Param:
        entry = self._params.get(name)
        if entry is None:
            raise KeyError(f"param {name!r} is not in the param store")
        return entry

    # -- state, save and load -------------------------------------------------------------------

    def get_state(self) -> dict:
        """A snapshot of the store as plain data: ``{"params", "constraints", "event_dims"}``.

        ``params`` maps names to detached copies of the unconstrained tensors, ``constraints``
        to encoded constraints (see :func:`encode_constraint`). Raises ``ValueError`` for a
        constraint with no encoding.
        """
        return self._state(copy=True)

    def _state(self, copy: bool) -> dict:
        params, encoded, event_dims = {}, {}, {}
        for name, entry in self._params.items():
            tensor = entry.unconstrained.detach()
            params[name] = tensor.clone() if copy else tensor
            try:
                encoded[name] = encode_constraint(entry.constraint)
            except ValueError as err:
                raise ValueError(f"cannot save param {name!r}: {err}") from None
            event_dims[name] = entry.event_dim
        return {"params": params, "constraints": encoded, "event_dims": event_dims}

    def set_state(self, state: dict) -> None:
        """Merge a state from :meth:`get_state` into the store (same names get new leaves)."""
        self._set_state(state, copy=True, origin=_LOADED)

    def restore_state(self, state: dict) -> None:
        """Merge a state from :meth:`get_state` so that networks resume (the rule of the
        module docstring): a same-named param of equal shape, dtype and constraint is
        overwritten in place, so every holder of its tensor (a network, an optimiser) sees
        the restored value; other params get new leaves, and a module's param not yet
        registered is copied into the network when ``pyro.module`` registers it.

        ``ValueError`` (before anything changes) if a registered network's parameter has
        another shape than the restored one."""
        decoded = self.decode_state(state)
        for name, tensor, _, _ in decoded:
            entry = self._params.get(name)
            if (
                entry is not None
                and isinstance(entry.unconstrained, torch.nn.Parameter)
                and entry.unconstrained.shape != tensor.shape
            ):
                raise ValueError(
                    f"param {name!r}: the network's parameter has shape "
                    f"{tuple(entry.unconstrained.shape)}, but the state holds shape "
                    f"{tuple(tensor.shape)}; build the network as it was when the state was "
                    "saved"
                )
        fresh = []
        for name, tensor, constraint, event_dim in decoded:
            entry = self._params.get(name)
            leaf = None if entry is None else entry.unconstrained
            if (
                leaf is not None
                and leaf.shape == tensor.shape
                and leaf.dtype == tensor.dtype
                and encode_constraint(entry.constraint) == encode_constraint(constraint)
            ):
                with torch.no_grad():
                    leaf.copy_(tensor)
                leaf.grad = None
                entry.event_dim = event_dim
            else:
                fresh.append((name, tensor, constraint, event_dim))
        for name, tensor, constraint, event_dim in fresh:
            origin = _RESTORED if module_from_param_with_module_name(name) else _LOADED
            self._insert(name, self._loaded_entry(tensor, constraint, event_dim, True, origin))

    @staticmethod
    def decode_state(state: dict) -> list[tuple[str, torch.Tensor, Constraint, int | None]]:
        """``(name, unconstrained tensor, constraint, event_dim)`` of each param of a state
        from :meth:`get_state`, changing nothing; ``ValueError`` naming the param for a
        malformed state."""
        if not isinstance(state, dict) or not isinstance(state.get("params"), dict):
            raise ValueError("a param store state is a dict with 'params' and 'constraints'")
        encoded = state.get("constraints")
        event_dims = state.get("event_dims", {})
        if not isinstance(encoded, dict) or not isinstance(event_dims, dict):
            raise ValueError(
                "a param store state's 'constraints' and 'event_dims' must be dicts keyed by "
                "param name"
            )
        out = []
        for name, tensor in state["params"].items():
            if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
                raise ValueError(f"param {name!r}: a param store state maps names to tensors")
            if name not in encoded:
                raise ValueError(f"param {name!r} has no constraint in the param store state")
            event_dim = event_dims.get(name)
            if event_dim is not None and type(event_dim) is not int:
                raise ValueError(f"param {name!r}: event_dim must be an int or None")
            out.append((name, tensor, decode_constraint(encoded[name]), event_dim))
        return out

    @staticmethod
    def _loaded_entry(
        tensor: torch.Tensor, constraint: Constraint, event_dim: int | None, copy: bool, origin: int
    ) -> _Param:
        leaf = tensor.detach()
        leaf = leaf.clone() if copy else leaf
        leaf.requires_grad_(True)
        return _Param(leaf, constraint, _make_transform(constraint), event_dim, origin)

    def _set_state(self, state: dict, copy: bool, origin: int = _CREATED) -> None:
        entries = [
            (name, self._loaded_entry(tensor, constraint, event_dim, copy, origin))
            for name, tensor, constraint, event_dim in self.decode_state(state)
        ]
        for name, entry in entries:
            self._insert(name, entry)

    @contextmanager
    def scope(self, state: dict | None = None) -> Iterator[dict]:
        """Run the block with a param store of its own, then bring the outer params back.

        The block starts from ``state`` (a state from an earlier ``scope``, or empty); on
        exit the block's params are written into that state, which is yielded, so a later
        ``scope(state)`` continues where it left off. The outer params are set aside, not
        copied: they come back as the very tensors the optimisers hold.
        """
        if state is None:
            state = {"params": {}, "constraints": {}, "event_dims": {}}
        outer = (self._params, self._name_of)
        self._params, self._name_of = {}, {}
        try:
            self._set_state(state, copy=False)
            yield state
            state.update(self._state(copy=False))
        finally:
            self._params, self._name_of = outer

    def save(self, path: str) -> None:
        """Save the store atomically to ``path`` (a pyrolite checkpoint, kind "pyrolite.params")."""
        save_tensors(self._state(copy=False), path, PARAMS_KIND)

    def load(self, path: str, map_location: Any = None) -> None:
        """Load params saved by :meth:`save` and merge them into the store.

        Same-named params are replaced by new leaves. ``map_location`` is as in ``torch.load``.
        """
        state = load_tensors(path, PARAMS_KIND, map_location=map_location)
        self._set_state(state, copy=False, origin=_LOADED)


def _persistent_buffers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    params = dict(module.named_parameters(remove_duplicate=False))
    return {
        key: value
        for key, value in module.state_dict(keep_vars=True).items()
        if key not in params and isinstance(value, torch.Tensor)
    }


def _matching_buffers(
    name: str, module: torch.nn.Module, saved: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``module``'s persistent buffers, checked to hold every ``saved`` one with its shape."""
    own = _persistent_buffers(module)
    for key, value in saved.items():
        if key not in own or own[key].shape != value.shape:
            have = "no such buffer" if key not in own else f"shape {tuple(own[key].shape)}"
            raise ValueError(
                f"module {name!r}: buffer {key!r} was saved with shape {tuple(value.shape)}, "
                f"but the network has {have}; build the network as it was when it was saved"
            )
    return own


def _copy_buffers(own: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for key, value in saved.items():
            own[key].copy_(value)


def _project_or_raise(name: str, constraint: Constraint, value: torch.Tensor) -> torch.Tensor:
    """An init value outside the support is an error, with one exception Pyro code relies on:
    a positive vector for ``simplex`` is normalised onto the simplex (silently, as Pyro
    accepts such values without a word)."""
    if constraint is constraints.simplex and bool((value > 0).all()):
        return value / value.sum(-1, keepdim=True)
    raise ValueError(
        f"param {name!r}: the initial value is outside the support of its constraint "
        f"{constraint!r}; give an initial value that satisfies the constraint (the init "
        "value is a constrained value, not an unconstrained one)"
    )


_PARAM_STORE = ParamStoreDict()


def get_param_store() -> ParamStoreDict:
    """The global param store used by ``pyro.param``."""
    return _PARAM_STORE


def clear_param_store() -> None:
    """Remove every param from the global param store."""
    _PARAM_STORE.clear()
