"""``AutoDelta``: a point mass at a learned value for every latent site (MAP estimation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import pyrolite.distributions as dist
from pyrolite.infer.autoguide.guide import AutoGuide, repeat_to_full_size
from pyrolite.infer.autoguide.initialization import init_to_median
from pyrolite.poutine.plate_messenger import PlateMessenger
from pyrolite.primitives import param, sample

__all__ = ["AutoDelta"]


class AutoDelta(AutoGuide):
    """Guide ``q(z) = Delta(z - z_hat)``: maximising the ELBO gives a MAP estimate.

    Params: ``"{prefix}.{site}"``, the constrained point (constraint: the site's support,
    ``event_dim``: its event dims), at full plate sizes (a subsampling plate slices it).
    Initial points come from ``init_loc_fn`` (default :func:`init_to_median`).

    Example::

        guide = AutoDelta(model)
        guide(data)            # {"z": tensor}
        guide.median(data)     # the learned points
    """

    def __init__(
        self,
        model: Callable,
        init_loc_fn: Callable = init_to_median,
        *,
        create_plates: Callable | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(model, create_plates=create_plates, prefix=prefix)
        self.init_loc_fn = init_loc_fn

    def _setup_params(self) -> None:
        # name -> (init value, support, event_dim)
        self._points: dict[str, tuple[torch.Tensor, Any, int]] = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            event_dim = site.fn.event_dim
            init = repeat_to_full_size(site.value.detach(), site.cond_indep_stack, event_dim)
            self._points[name] = (init, site.fn.support, event_dim)

    def _sample_sites(self, plates: dict[str, PlateMessenger]) -> dict[str, torch.Tensor]:
        result = {}
        for name, (init, support, event_dim) in self._points.items():
            with self._plates_of(plates, name):
                point_name = self._param_name(name)
                point = param(point_name, init, constraint=support, event_dim=event_dim)
                result[name] = sample(name, dist.Delta(point, event_dim=event_dim))
        return result

    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """``{name: point}`` (detached, full plate sizes)."""
        self._ensure_setup(args, kwargs)
        return {
            name: self._read_param(self._param_name(name), *entry).detach()
            for name, entry in self._points.items()
        }

    @torch.no_grad()
    def quantiles(
        self, quantiles: list[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Every quantile of a point mass is the point: shape ``(len(quantiles),) + site``."""
        num = len(quantiles)
        return {
            name: point.expand((num,) + point.shape).clone()
            for name, point in self.median(*args, **kwargs).items()
        }
