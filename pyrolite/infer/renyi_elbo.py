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
from typing import Any

import torch

from pyrolite.infer.elbo import ELBO
from pyrolite.poutine.trace_struct import Trace, is_latent, is_reparameterized


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
        strict_enumeration_warning: bool = True,
    ) -> None:
        if alpha == 1:
            raise ValueError("RenyiELBO with alpha=1 is the ELBO: use Trace_ELBO instead")
        super().__init__(
            num_particles,
            max_plate_nesting,
            vectorize_particles,
            strict_enumeration_warning,
        )
        self.alpha = alpha

    def _log_weights(self, traces: list) -> torch.Tensor:
        """The K log weights, shape (num_particles,), of the particles in ``traces``."""
        for _, guide_trace in traces:
            _check_reparameterised(guide_trace)
        if self.vectorize_particles:
            ((model_trace, guide_trace),) = traces
            dim = -int(self.max_plate_nesting) - 1
            k = self.num_particles
            return _per_particle(model_trace, dim, k) - _per_particle(guide_trace, dim, k)
        return torch.stack([m.log_prob_sum() - g.log_prob_sum() for m, g in traces])

    def traced_loss_and_surrogate(self, model: Callable, guide: Callable, args, kwargs):
        """The negative bound (detached), the same differentiable (its gradient weights each
        particle's pathwise gradient by the particle's self-normalised weight), and the
        particles' traces."""
        traces = list(self._get_traces(model, guide, args, kwargs))
        scaled = (1.0 - self.alpha) * self._log_weights(traces)
        log_mean = torch.logsumexp(scaled, 0) - math.log(self.num_particles)
        neg_bound = -log_mean / (1.0 - self.alpha)
        return neg_bound.detach(), neg_bound, traces


def _check_reparameterised(guide_trace: Trace) -> None:
    for name, site in guide_trace.nodes.items():
        if is_latent(site) and not is_reparameterized(site):
            raise ValueError(
                f"RenyiELBO needs reparameterised guide sites, but {name!r} "
                f"({type(site.fn).__name__}) has no rsample; use Trace_ELBO for it"
            )


def _per_particle(trace: Trace, dim: int, num_particles: int) -> torch.Tensor:
    """Sum each site's log density over every dim but the particle dim: (num_particles,)."""
    trace.compute_log_prob()
    total: Any = 0.0
    for site in trace.nodes.values():
        if site.type != "sample":
            continue
        lp = site.log_prob
        if lp.dim() >= -dim and lp.shape[dim] == num_particles:
            total = total + lp.movedim(dim, 0).reshape(num_particles, -1).sum(-1)
        else:
            total = total + lp.sum()
    return torch.as_tensor(total).expand(num_particles)
