"""``Trace_ELBO``: the ELBO with pathwise and score-function gradient terms.

For one particle ``z ~ q``, the ELBO estimate is ``log p(x, z) - log q(z)``. Its gradient
needs two kinds of terms:

- reparameterised guide sites: the estimate itself is differentiated (pathwise);
- non-reparameterisable guide sites: a score-function (REINFORCE) term
  ``log q(z_i) * stop_grad(log r)``, where ``log r`` is the part of ``log p - log q`` that
  can depend on ``z_i``: terms in other elements of the site's plates are summed out, and
  terms in the same plate element are kept element-wise (plate-level Rao-Blackwellisation).

Both kinds come from each guide site's ``ScoreParts`` (``entropy_term`` and
``score_function``), as in Pyro, so a non-reparameterised site adds no ``-log q(z_i)``
term to the surrogate (its expected gradient is zero; leaving it out matches Pyro's
estimator draw for draw).
"""

from __future__ import annotations

from typing import Any

import torch

from pyrolite.infer.compiled_loss import CompiledLoss
from pyrolite.infer.elbo import ELBO
from pyrolite.poutine.trace_struct import Trace, is_observed, is_subsample


class Trace_ELBO(ELBO):  # noqa: N801 - Pyro's name
    """The standard ELBO estimator; see the module docstring for its gradient.

    Example::

        svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO(num_particles=4))
    """

    def differentiable_loss_particle(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor]:
        model_lp = model_trace.log_prob_sum()
        elbo = torch.as_tensor(model_lp - guide_trace.log_prob_sum())
        surrogate = model_lp - guide_entropy_terms(guide_trace)
        score_sites = score_function_sites(guide_trace)
        if score_sites:
            model_trace.compute_log_prob()
            terms = _log_r_terms(model_trace, guide_trace)
            for site in score_sites:
                log_r = _sum_to_frames(terms, site.cond_indep_stack)
                surrogate = surrogate + (site.score_parts.score_function * log_r.detach()).sum()
        return -elbo, -surrogate


def guide_entropy_terms(guide_trace: Trace) -> torch.Tensor | float:
    """The sum of the guide sites' pathwise parts (``ScoreParts.entropy_term``), as Pyro's
    surrogate has them: ``log q(z)`` for reparameterised sites, nothing for
    non-reparameterised ones (their gradient comes from the score-function term)."""
    guide_trace.compute_score_parts()
    total: Any = 0.0
    for site in guide_trace.nodes.values():
        if site.type != "sample" or is_subsample(site):
            continue
        entropy = site.score_parts.entropy_term
        if isinstance(entropy, torch.Tensor):
            total = total + (site.log_prob_sum if entropy is site.log_prob else entropy.sum())
    return total


def score_function_sites(guide_trace: Trace) -> list:
    """Guide sites whose ``ScoreParts.score_function`` is not zero (needs score parts)."""
    return [
        site
        for site in guide_trace.nodes.values()
        if site.type == "sample"
        and not is_subsample(site)
        and isinstance(site.score_parts.score_function, torch.Tensor)
    ]


def _vectorized_frames(site: Any) -> frozenset:
    return frozenset(f for f in site.cond_indep_stack if f.dim is not None)


def _log_r_terms(model_trace: Trace, guide_trace: Trace) -> list[tuple[frozenset, torch.Tensor]]:
    """``log p - log q`` as a list of (plate frames, batch-shaped log density) terms."""
    terms = []
    for tr, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
        for site in tr.nodes.values():
            if (
                site.type == "sample"
                and not is_subsample(site)
                and not (sign < 0 and is_observed(site))
            ):
                terms.append((_vectorized_frames(site), sign * site.log_prob))
    return terms


def _sum_to_frames(terms: list[tuple[frozenset, torch.Tensor]], stack: tuple) -> torch.Tensor:
    """Sum the terms, summing out every plate dim that is not in ``stack``'s plates."""
    target = frozenset(f for f in stack if f.dim is not None)
    total: Any = 0.0
    for frames, value in terms:
        for frame in frames - target:
            if value.dim() >= -frame.dim and value.shape[frame.dim] != 1:
                value = value.sum(frame.dim, keepdim=True)
        total = total + value
    total = torch.as_tensor(total)
    # drop leading size-1 dims left by summed-out plates beyond the target's
    while total.dim() > 0 and total.shape[0] == 1 and total.dim() > _ndims(target):
        total = total.squeeze(0)
    return total


def _ndims(frames: frozenset) -> int:
    return max((-f.dim for f in frames), default=0)


class JitTrace_ELBO(Trace_ELBO):  # noqa: N801 - Pyro's name
    """Trace_ELBO whose loss and gradient run through ``torch.compile`` after the first step
    (see :mod:`pyrolite.infer.compiled_loss`); ``compile_options`` go to ``torch.compile``.

    Pyro's JitTrace_ELBO uses ``torch.jit.trace``; pyrolite uses ``torch.compile``, which
    handles Python control flow by recompiling instead of silently freezing it. Pyro's
    ``jit_options`` (options of ``torch.jit.trace``) are accepted and ignored.
    """

    def __init__(self, *args: Any, compile_options: dict | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled = CompiledLoss(self, compile_options)

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        return self._compiled(model, guide, *args, **kwargs)
