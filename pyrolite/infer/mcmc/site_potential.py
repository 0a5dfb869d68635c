"""Pyro's ``potential_fn`` over a dict of sites, run on pyrolite's flat batched vector.

Pyro's kernels take ``potential_fn({site: unconstrained tensor}) -> scalar`` and
``initial_params`` as the same dict. pyrolite's samplers work on ``z (C, D)``: this module
lays the sites out side by side (sorted names, as Pyro orders them) and evaluates the
function for all chains, with ``torch.func.vmap`` where the function allows it and a loop
over chains otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["SitePotential"]

Layout = dict[str, tuple[int, int, torch.Size]]


class SitePotential:
    """``potential_fn`` on dicts of sites shaped like ``site_shapes``, as a batched
    ``(C, D) -> (C,)`` function (:meth:`__call__`); :meth:`flatten` and :meth:`unflatten`
    convert between ``{site: (C, *shape)}`` and ``(C, D)``."""

    def __init__(self, potential_fn: Callable, site_shapes: dict[str, torch.Size]) -> None:
        self.potential_fn = potential_fn
        self.layout: Layout = {}
        start = 0
        for name in sorted(site_shapes):
            shape = torch.Size(site_shapes[name])
            self.layout[name] = (start, start + shape.numel(), shape)
            start += shape.numel()
        self.num_dims = start
        self._vmapped = torch.func.vmap(self._one)
        self._use_vmap = True

    def _one(self, z: Tensor) -> Tensor:
        energy = self.potential_fn(self.unflatten(z.unsqueeze(0), squeeze=True))
        # Pyro accepts an energy of any shape with one element, such as (1,)
        return energy.reshape(()) if energy.numel() == 1 else energy

    def __call__(self, z: Tensor) -> Tensor:
        """U(z) for every chain, ``z (C, D) -> (C,)``."""
        if self._use_vmap:
            try:
                return self._vmapped(z)
            except Exception:  # noqa: BLE001 - vmap refuses many things; the loop does not
                self._use_vmap = False
        return torch.stack([self._one(z_c) for z_c in z])

    def unflatten(self, z: Tensor, squeeze: bool = False) -> dict[str, Tensor]:
        """``z (C, D)`` -> ``{site: (C, *shape)}`` (``(*shape)`` with ``squeeze``)."""
        out = {}
        for name, (start, stop, shape) in self.layout.items():
            value = z[:, start:stop].reshape((z.shape[0],) + shape)
            out[name] = value[0] if squeeze else value
        return out

    def flatten(self, values: dict[str, Tensor], num_chains: int) -> Tensor:
        """``{site: (C, *shape)}`` -> ``z (C, D)``."""
        parts = [values[name].reshape(num_chains, -1) for name in self.layout]
        return torch.cat(parts, -1)
