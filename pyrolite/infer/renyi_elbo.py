"""``RenyiELBO``: Rényi's alpha-divergence bound; alpha = 0 is the importance-weighted bound.

With K particles and log weights ``log w_k = log p(x, z_k) - log q(z_k)``, the bound is
``1/(1 - alpha) * log( (1/K) sum_k w_k^(1 - alpha) )``. For alpha = 0 it is the IWAE bound
of Burda et al. (2015): tighter than the ELBO for K > 1, and still below log p(x).
Its gradient (reparameterised guides) weights each particle's pathwise gradient by its
self-normalised weight ``w_k^(1-alpha) / sum_j w_j^(1-alpha)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from pyrolite.infer.elbo import ELBO, raise_nonfinite
from pyrolite.poutine.trace_struct import Trace


class RenyiELBO(ELBO):
    """The Rényi bound with parameter ``alpha`` (not 1: that is the ELBO, use Trace_ELBO).

    ``num_particles`` (K above) should be > 1 for the bound to differ from the ELBO.
    Guides must be reparameterised; plates are supported, and the weight of a particle is
    its joint density over all plate elements.
    """

    def __init__(
        self,
        alpha: float = 0.0,
        num_particles: int = 2,
        max_plate_nesting: float = math.inf,
        vectorize_particles: bool = False,
    ) -> None:
        if alpha == 1:
            raise ValueError("RenyiELBO with alpha=1 is the ELBO: use Trace_ELBO instead")
        super().__init__(num_particles, max_plate_nesting, vectorize_particles)
        self.alpha = alpha

    def _log_weights(self, model: Callable, guide: Callable, args, kwargs) -> torch.Tensor:
        """The K log weights, shape (num_particles,)."""
        weights = []
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            _check_reparameterised(guide_trace)
            if self.vectorize_particles:
                dim = -int(self.max_plate_nesting) - 1
                return _per_particle(model_trace, dim, self.num_particles) - _per_particle(
                    guide_trace, dim, self.num_particles
                )
            weights.append(model_trace.log_prob_sum() - guide_trace.log_prob_sum())
        return torch.stack(weights)

    def _bound(self, log_weights: torch.Tensor) -> torch.Tensor:
        scaled = (1.0 - self.alpha) * log_weights
        log_mean = torch.logsumexp(scaled, 0) - math.log(self.num_particles)
        return log_mean / (1.0 - self.alpha)

    def differentiable_loss(self, model: Callable, guide: Callable, *args, **kwargs):
        """The negative bound, differentiable (pathwise through the self-normalised weights)."""
        return -self._bound(self._log_weights(model, guide, args, kwargs))

    def loss(self, model: Callable, guide: Callable, *args, **kwargs) -> float:
        with torch.no_grad():
            value = -float(self._bound(self._log_weights(model, guide, args, kwargs)))
        if not math.isfinite(value):
            model_trace, guide_trace = self.get_trace(model, guide, args, kwargs)
            raise_nonfinite(value, model_trace, guide_trace)
        return value

    def loss_and_grads(self, model: Callable, guide: Callable, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        value = float(loss.detach())
        if not math.isfinite(value):
            model_trace, guide_trace = self.get_trace(model, guide, args, kwargs)
            raise_nonfinite(value, model_trace, guide_trace)
        if loss.requires_grad:
            loss.backward()
        return value


def _check_reparameterised(guide_trace: Trace) -> None:
    for name, site in guide_trace.nodes.items():
        if site.type == "sample" and not site.is_observed and not site.fn.has_rsample:
            if not site.infer.get("_subsample"):
                raise ValueError(
                    f"RenyiELBO needs reparameterised guide sites, but {name!r} "
                    f"({type(site.fn).__name__}) has no rsample; use Trace_ELBO for it"
                )


def _per_particle(trace: Trace, dim: int, num_particles: int) -> torch.Tensor:
    """Sum each site's log density over every dim but the particle dim: (num_particles,)."""
    trace.compute_log_prob()
    total = torch.zeros(num_particles)
    for site in trace.nodes.values():
        if site.type != "sample":
            continue
        lp = site.log_prob
        if lp.dim() >= -dim and lp.shape[dim] == num_particles:
            total = total + lp.movedim(dim, 0).reshape(num_particles, -1).sum(-1)
        else:
            total = total + lp.sum()
    return total
