"""Seeding and saving the random number generators pyrolite programs draw from."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def set_rng_seed(rng_seed: int) -> None:
    """Seed torch, Python's ``random`` and NumPy's global generators."""
    torch.manual_seed(rng_seed)
    random.seed(rng_seed)
    np.random.seed(rng_seed % 2**32)


def get_rng_state() -> dict[str, Any]:
    """The state of torch's, Python's and NumPy's global generators."""
    return {
        "torch": torch.get_rng_state(),
        "random": random.getstate(),
        "numpy": np.random.get_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["random"])
    np.random.set_state(state["numpy"])


def get_rng_state_tensors() -> dict[str, Any]:
    """:func:`get_rng_state` as tensors and plain numbers (safe to checkpoint without pickle)."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "random": {
            "version": py_version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
    }


def rng_state_from_tensors(state: dict[str, Any]) -> dict[str, Any]:
    """The :func:`get_rng_state` form of a state from :func:`get_rng_state_tensors`
    (``KeyError``/``TypeError``/``ValueError`` if it is malformed); changes no generator."""
    py = state["random"]
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    return {
        "torch": state["torch"],
        "random": (py["version"], tuple(py["state"].tolist()), py["gauss_next"]),
        "numpy": (npy["name"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]),
    }


def set_rng_state_tensors(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`get_rng_state_tensors`."""
    set_rng_state(rng_state_from_tensors(state))


@contextmanager
def isolated_rng() -> Iterator[None]:
    """Run the block on generators of its own, leaving the global ones as they were.

    Inside, torch's CPU generator (and the CUDA ones, when CUDA is initialised), ``random``
    and NumPy are seeded from a digest of the current torch state, so the block's draws are
    reproducible and unrelated to the draws that follow it; on exit every generator is back
    where it stood, as though the block had drawn nothing. Lazy set-up (an autoguide's first
    trace of the model) runs so, and a run resumed from a checkpoint draws what the
    uninterrupted run drew, wherever the set-up happens.
    """
    saved = get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    digest = hashlib.sha256(saved["torch"].numpy().tobytes()).digest()
    seed = int.from_bytes(digest[:8], "little") >> 1
    # not set_rng_seed: torch.manual_seed would also queue a seed for CUDA generators not yet
    # created, which then outlives the block
    torch.default_generator.manual_seed(seed)
    if cuda is not None:
        torch.cuda.manual_seed_all(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        set_rng_state(saved)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
