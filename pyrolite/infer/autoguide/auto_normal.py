"""``AutoNormal``: an independent Normal per latent site, on the unconstrained space."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch.distributions.transforms import Transform

import pyrolite.distributions as dist
from pyrolite.distributions import biject_to, constraints
from pyrolite.distributions.constraint_registry import is_identity
from pyrolite.infer.autoguide.guide import (
    AutoGuide,
    constrain_with_log_density,
    repeat_to_full_size,
)
from pyrolite.infer.autoguide.initialization import init_to_feasible
from pyrolite.infer.autoguide.site_params import SiteParams
from pyrolite.poutine.plate_messenger import PlateMessenger
from pyrolite.primitives import param, sample

__all__ = ["AutoNormal"]


class _Site(NamedTuple):
    transform: Transform  # biject_to(support): unconstrained -> constrained
    identity: bool
    event_dim: int  # event dims of the constrained value (fn.event_dim)
    unconstrained_event_dim: int
    init_loc: torch.Tensor  # unconstrained, full plate sizes
    init_scale: torch.Tensor
    aux_name: str  # the auxiliary site holding the unconstrained value


class AutoNormal(AutoGuide):
    """Mean-field guide: ``u ~ Normal(loc, scale)`` per site on the unconstrained space,
    and ``z = biject_to(support)(u)``.

    As in Pyro, every site gets an auxiliary site ``"{site}_unconstrained"`` holding ``u``
    (``is_auxiliary``), and the site itself is a ``Delta`` at ``z`` whose log density is
    ``-log|det dz/du|`` (zero for real support), so the guide's density of ``z`` is that of
    the pushed-forward Normal.

    Params (unconstrained shapes, full plate sizes, ``event_dim`` the site's unconstrained
    event dims): ``"{prefix}.locs.{site}"`` (real, from ``init_loc_fn``, default
    :func:`init_to_feasible`) and ``"{prefix}.scales.{site}"`` (``softplus_positive``,
    ``init_scale``). ``guide.locs.z`` and ``guide.scales.z`` read them (constrained) and
    assigning to them writes them, as with Pyro's module attributes.
    """

    def __init__(
        self,
        model: Callable,
        *,
        init_loc_fn: Callable = init_to_feasible,
        init_scale: float = 0.1,
        create_plates: Callable | None = None,
        prefix: str | None = None,
    ) -> None:
        if not init_scale > 0:
            raise ValueError(f"AutoNormal: init_scale must be positive, got {init_scale}")
        super().__init__(model, create_plates=create_plates, prefix=prefix)
        self.init_loc_fn = init_loc_fn
        self.init_scale = init_scale
        self._sites: dict[str, _Site] = {}
        self.locs = SiteParams(
            lambda name: self._param_name("locs", name), lambda name: self._spec(name, "loc")
        )
        self.scales = SiteParams(
            lambda name: self._param_name("scales", name), lambda name: self._spec(name, "scale")
        )

    def _spec(self, name: str, which: str) -> tuple[torch.Tensor, Any, int] | None:
        site = self._sites.get(name)
        if site is None:
            return None
        if which == "loc":
            return site.init_loc, constraints.real, site.unconstrained_event_dim
        return site.init_scale, constraints.softplus_positive, site.unconstrained_event_dim

    def _setup_params(self) -> None:
        self._sites = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            transform = biject_to(site.fn.support)
            value = site.value.detach()
            init_loc = transform.inv(value).detach()
            event_dim = site.fn.event_dim
            u_event_dim = event_dim + init_loc.dim() - value.dim()
            init_loc = repeat_to_full_size(init_loc, site.cond_indep_stack, u_event_dim)
            init_scale = torch.full_like(init_loc, self.init_scale)
            self._sites[name] = _Site(
                transform,
                is_identity(transform),
                event_dim,
                u_event_dim,
                init_loc,
                init_scale,
                f"{name}_unconstrained",
            )

    def _loc_scale(self, name: str, site: _Site, read: Callable) -> tuple:
        loc = read(
            self._param_name("locs", name),
            site.init_loc,
            constraints.real,
            site.unconstrained_event_dim,
        )
        scale = read(
            self._param_name("scales", name),
            site.init_scale,
            constraints.softplus_positive,
            site.unconstrained_event_dim,
        )
        return loc, scale

    def _sample_sites(self, plates: dict[str, PlateMessenger]) -> dict[str, torch.Tensor]:
        result = {}
        for name, site in self._sites.items():
            with self._plates_of(plates, name):
                loc, scale = self._loc_scale(name, site, _param)
                q = dist.Normal(loc, scale).to_event(site.unconstrained_event_dim)
                u = sample(site.aux_name, q, infer={"is_auxiliary": True})
                value, log_density = constrain_with_log_density(site, u)
                point = dist.Delta(value, log_density=log_density, event_dim=site.event_dim)
                result[name] = sample(name, point)
        return result

    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """``{name: biject_to(support)(loc)}`` (full plate sizes)."""
        self._ensure_setup(args, kwargs)
        result = {}
        for name, site in self._sites.items():
            loc, _ = self._loc_scale(name, site, self._read_param)
            result[name] = site.transform(loc).detach()
        return result

    @torch.no_grad()
    def quantiles(
        self, quantiles: list[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Marginal quantiles ``biject_to(support)(Normal(loc, scale).icdf(q))``, each of
        shape ``(len(quantiles),) + site shape`` (exact for elementwise monotone transforms).
        """
        self._ensure_setup(args, kwargs)
        result = {}
        for name, site in self._sites.items():
            loc, scale = self._loc_scale(name, site, self._read_param)
            q = torch.as_tensor(quantiles, dtype=loc.dtype, device=loc.device)
            q = q.reshape((-1,) + (1,) * loc.dim())
            result[name] = site.transform(dist.Normal(loc, scale).icdf(q)).detach()
        return result


def _param(name: str, init: torch.Tensor, constraint: Any, event_dim: int) -> torch.Tensor:
    return param(name, init, constraint=constraint, event_dim=event_dim)
