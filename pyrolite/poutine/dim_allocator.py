"""Allocation of tensor dimensions to plates.

Plates own batch dimensions counted from the right: -1, -2, ... An explicit ``dim=`` claims
that dimension; otherwise a plate takes the rightmost dimension no enclosing plate holds.
Discrete enumeration will take dimensions left of ``-max_plate_nesting`` from the same
record, so both can never collide.
"""

from __future__ import annotations


class DimAllocator:
    """Which plate holds which negative dimension while the plates are active."""

    def __init__(self) -> None:
        self._stack: list[str | None] = []  # _stack[k] is the plate at dim -1 - k (Pyro: _stack)

    def allocate(self, name: str, dim: int | None) -> int:
        """Claim ``dim`` (or the rightmost free dim when None) for plate ``name``."""
        holders = self._stack
        if dim is None:
            dim = -1
            while -dim <= len(holders) and holders[-1 - dim] is not None:
                dim -= 1
        elif not isinstance(dim, int) or dim >= 0:
            raise ValueError(
                f"plate {name!r}: dim must be a negative int counting from the right "
                f"(-1 is the rightmost batch dimension), got dim={dim!r}"
            )
        while len(holders) < -dim:
            holders.append(None)
        holder = holders[-1 - dim]
        if holder is not None:
            raise ValueError(
                f"plates {holder!r} and {name!r} collide at dim={dim}: nested plates need "
                f"distinct dims. Give {name!r} another dim= or leave dim=None to let "
                "pyrolite pick a free one."
            )
        holders[-1 - dim] = name
        return dim

    def free(self, name: str, dim: int) -> None:
        """Release ``dim``, held by plate ``name``."""
        holders = self._stack
        if len(holders) < -dim or holders[-1 - dim] != name:
            raise ValueError(f"plate {name!r} does not hold dim {dim}")
        holders[-1 - dim] = None
        while holders and holders[-1] is None:
            holders.pop()

    def active(self) -> dict[int, str]:
        """The held dims, as dim -> plate name."""
        return {-1 - k: n for k, n in enumerate(self._stack) if n is not None}


DIM_ALLOCATOR = DimAllocator()
