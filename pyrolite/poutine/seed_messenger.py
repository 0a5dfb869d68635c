"""``seed``: run a program with fixed random number generator seeds.

Touches no message field; it sets the generators on entry and restores them on exit.
"""

from __future__ import annotations

from typing import Any

from pyrolite.poutine.messenger import Messenger
from pyrolite.rng import get_rng_state, set_rng_seed, set_rng_state


class SeedMessenger(Messenger):
    """Seeds torch, ``random`` and NumPy with ``rng_seed`` on entry and restores the
    previous generator states on exit, so every run of a seeded program draws the same
    values and the caller's random stream is left as it was."""

    def __init__(self, rng_seed: int) -> None:
        if not isinstance(rng_seed, int):
            raise TypeError(f"rng_seed must be an int, got {type(rng_seed).__name__}")
        self.rng_seed = rng_seed
        self.old_state: dict[str, Any] = {}

    def __enter__(self) -> SeedMessenger:
        self.old_state = get_rng_state()
        set_rng_seed(self.rng_seed)
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        set_rng_state(self.old_state)
        super().__exit__(*exc)
