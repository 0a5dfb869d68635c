"""Checkpoints of an SVI run: params, optimiser state and random generators in one file.

Resuming from a checkpoint continues bit for bit like the uninterrupted run: the file holds
the param store, the optimiser's per-param state (keyed by param name), the states of the
torch, ``random`` and NumPy generators, and any plain-data ``extra`` (e.g. the step count).
The file is written atomically and read without unpickling arbitrary objects.
"""

from __future__ import annotations

import os
from typing import Any

from pyrolite.checkpoint import load_tensors, save_tensors
from pyrolite.params import get_param_store
from pyrolite.rng import get_rng_state_tensors, set_rng_state_tensors

SVI_KIND = "pyrolite.svi"


def save_checkpoint(path: str | os.PathLike, optim: Any, extra: dict | None = None) -> None:
    """Write the param store, ``optim``'s state, the RNG states and ``extra`` to ``path``."""
    payload = {
        "params": get_param_store().get_state(),
        "optim": optim.get_state(),
        "rng": get_rng_state_tensors(),
        "extra": extra or {},
    }
    save_tensors(payload, path, SVI_KIND)


def load_checkpoint(path: str | os.PathLike, optim: Any, map_location: Any = None) -> dict:
    """Restore what :func:`save_checkpoint` wrote (params merge into the store; the optimiser
    restores each param's state when it next sees it); returns ``extra``."""
    payload = load_tensors(path, SVI_KIND, map_location=map_location)
    get_param_store().set_state(payload["params"])
    optim.set_state(payload["optim"])
    set_rng_state_tensors(payload["rng"])
    return payload["extra"]
