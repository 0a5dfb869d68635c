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
