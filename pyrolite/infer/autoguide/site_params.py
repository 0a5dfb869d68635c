"""``SiteParams``: attribute access to one family of an autoguide's per-site params.

Pyro's ``AutoNormal`` keeps its params in module containers, so ``guide.locs.z`` reads and
``guide.locs.z = value`` writes the param ``"AutoNormal.locs.z"``. pyrolite's autoguides keep
params only in the param store; this view gives the same attribute access over it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pyrolite.params import get_param_store

__all__ = ["SiteParams"]

# site name -> (init value, constraint, event_dim) of that site's param in this family
SpecFn = Callable[[str], tuple[torch.Tensor, Any, int] | None]


class SiteParams:
    """``view.<site>`` is the constrained value of the param ``name_of(site)`` in the param
    store (created from its init value on first read); ``view.<site> = value`` replaces it
    with a new constrained value, keeping its constraint. Only the guide's latent sites are
    attributes (after the guide has traced the model), so ``hasattr(view, site)`` says
    whether the guide guides ``site``.

    Args:
        name_of: site name -> param name (``"z"`` -> ``"AutoNormal.locs.z"``).
        spec_of: site name -> ``(init, constraint, event_dim)``, or ``None`` for a name that
            is not a site of the guide.
    """

    __slots__ = ("_name_of", "_spec_of")

    def __init__(self, name_of: Callable[[str], str], spec_of: SpecFn) -> None:
        object.__setattr__(self, "_name_of", name_of)
        object.__setattr__(self, "_spec_of", spec_of)

    def __getattr__(self, site: str) -> torch.Tensor:
        spec = self._spec_of(site)
        if spec is None:
            raise AttributeError(f"no latent site {site!r} here (has the guide been called?)")
        return get_param_store().get_param(self._name_of(site), *spec)

    def __setattr__(self, site: str, value: torch.Tensor) -> None:
        spec = self._spec_of(site)
        if spec is None:
            raise AttributeError(f"no latent site {site!r} here (has the guide been called?)")
        store = get_param_store()
        name = self._name_of(site)
        if name in store:
            store[name] = value
        else:
            _, constraint, event_dim = spec
            store.get_param(name, torch.as_tensor(value), constraint, event_dim)
