"""Seeding and saving the random number generators pyrolite programs draw from."""

from __future__ import annotations

import random
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


def set_rng_state_tensors(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`get_rng_state_tensors`."""
    torch.set_rng_state(state["torch"])
    py = state["random"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss_next"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["name"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
