"""Checkpoints of an SVI run: params, optimiser state and random generators in one file.

Resuming from a checkpoint continues bit for bit like the uninterrupted run: the file holds
the param store, the optimiser's per-param state (keyed by param name), the states of the
torch, ``random`` and NumPy generators, and any plain-data ``extra`` (e.g. the step count).
The file is written atomically and read without unpickling arbitrary objects.

Loading restores networks: a network registered with ``pyro.module`` gets the saved weights
in its own parameters, in place if it is registered already and at registration otherwise
(see :meth:`pyrolite.params.ParamStoreDict.restore_state`), and the optimiser steps those
tensors. The whole payload is checked before anything is touched, so a malformed file
raises :class:`~pyrolite.checkpoint.CheckpointError` and leaves the run as it was.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from pyrolite.checkpoint import CheckpointError, load_tensors, save_tensors
from pyrolite.optim.pyro_optim import check_optimizer_entry
from pyrolite.params import get_param_store
from pyrolite.rng import get_rng_state_tensors, rng_state_from_tensors, set_rng_state_tensors

SVI_KIND = "pyrolite.svi"
_PARTS = ("params", "optim", "rng", "extra")

__all__ = ["SVI_KIND", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | os.PathLike, optim: Any, extra: dict | None = None) -> None:
    """Write the param store, ``optim``'s state, the RNG states and ``extra`` to ``path``."""
    payload = {
        "params": get_param_store().get_state(),
        "optim": optim.get_state(),
        "rng": get_rng_state_tensors(),
        "buffers": get_param_store().module_buffers(),
        "extra": extra or {},
    }
    save_tensors(payload, path, SVI_KIND)


def load_checkpoint(path: str | os.PathLike, optim: Any, map_location: Any = None) -> dict:
    """Restore what :func:`save_checkpoint` wrote and return its ``extra``.

    Params go into the store as :meth:`~pyrolite.params.ParamStoreDict.restore_state` puts
    them (networks resume); ``optim``'s state is replaced (each param gets its saved state
    when it next appears); the generators continue where they were. ``CheckpointError``
    naming the file and the part that is wrong, before any change, for a malformed payload.
    """
    payload = load_tensors(path, SVI_KIND, map_location=map_location)
    _validate(os.fspath(path), payload)
    store = get_param_store()
    for part, restore in (
        ("params", store.restore_state),
        ("buffers", store.restore_buffers),
    ):
        try:
            restore(payload.get(part, {}))
        except ValueError as err:  # a live network of another shape; the part is unchanged
            raise CheckpointError(
                f"checkpoint file {os.fspath(path)!r}, part {part!r}: {err}"
            ) from None
    optim.set_state(payload["optim"])
    set_rng_state_tensors(payload["rng"])
    return payload["extra"]


def _validate(path: str, payload: dict) -> None:
    """Check every part of ``payload`` without changing anything (see :func:`load_checkpoint`)."""

    def fail(part: str, why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint file {path!r} is malformed in its part {part!r}: {why}. It was not "
            "written by this pyrolite's save_checkpoint; load a file that was."
        )

    missing = [part for part in _PARTS if part not in payload]
    if missing:
        raise fail(missing[0], "the part is missing")
    try:
        decoded = get_param_store().decode_state(payload["params"])
    except (ValueError, TypeError, KeyError) as err:
        raise fail("params", str(err)) from None
    shapes = {name: tensor.shape for name, tensor, _, _ in decoded}
    optim_state = payload["optim"]
    if not isinstance(optim_state, dict):
        raise fail("optim", f"expected a dict, got {type(optim_state).__name__}")
    for name, entry in optim_state.items():
        try:
            check_optimizer_entry(name, entry, shapes.get(name))
        except (ValueError, TypeError) as err:
            raise fail("optim", str(err)) from None
    try:
        state = rng_state_from_tensors(payload["rng"])
        torch.Generator().set_state(state["torch"])
        random.Random().setstate(state["random"])
        np.random.RandomState().set_state(state["numpy"])
    except (ValueError, TypeError, KeyError, RuntimeError, AttributeError) as err:
        raise fail("rng", f"{type(err).__name__}: {err}") from None
    buffers = payload.get("buffers", {})  # files of earlier versions have none
    if not (
        isinstance(buffers, dict)
        and all(
            isinstance(saved, dict) and all(isinstance(t, torch.Tensor) for t in saved.values())
            for saved in buffers.values()
        )
    ):
        raise fail("buffers", "expected {module name: {buffer name: tensor}}")
    if not isinstance(payload["extra"], dict):
        raise fail("extra", f"expected a dict, got {type(payload['extra']).__name__}")
