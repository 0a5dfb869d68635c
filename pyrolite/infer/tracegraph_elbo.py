"""``TraceGraph_ELBO``: score-function terms reduced to downstream costs, with baselines.

For a non-reparameterisable guide site ``s`` the score-function term multiplies
``grad log q(s)`` by a cost. Trace_ELBO uses the whole ``log p - log q`` (summed over other
plate elements); here only the *downstream* cost counts: terms of sites that can depend on
``s``. Sites are ordered as they ran ("dense" dependency: every site may depend on every
earlier one), so the downstream cost of ``s`` is

- ``log p(g) - log q(g)`` for ``s`` and every guide site ``g`` after it, and
- ``log p(m)`` for every model site ``m`` that ran after the first of those in the model,

summed over plate elements ``s`` does not sit in. Sites that ran before ``s`` in both model
and guide are dropped, which removes their noise from the estimate.

A baseline ``b`` (it does not depend on ``s``) is subtracted from the cost, which keeps the
estimate unbiased and can cut its variance. Per site, through ``infer={"baseline": {...}}``:
``use_decaying_avg_baseline`` (with ``baseline_beta``, default 0.90), ``nn_baseline``
(a module, called on ``nn_baseline_input``; register it with ``pyro.module`` so that it
trains: its loss ``(cost - b)^2`` is added to the surrogate), or ``baseline_value``.
"""

from __future__ import annotations

from typing import Any

import torch

from pyrolite.infer.elbo import ELBO
from pyrolite.infer.trace_elbo import (
    _sum_to_frames,
    _vectorized_frames,
    guide_entropy_terms,
    score_function_sites,
)
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace, is_latent, is_observed, is_subsample


class TraceGraph_ELBO(ELBO):  # noqa: N801 - Pyro's name
    """The ELBO with downstream-cost score-function terms and baselines (module docstring)."""

    def differentiable_loss_particle(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor]:
        model_lp = model_trace.log_prob_sum()
        elbo = torch.as_tensor(model_lp - guide_trace.log_prob_sum())
        surrogate = model_lp - guide_entropy_terms(guide_trace)
        score_sites = {id(s) for s in score_function_sites(guide_trace)}
        if score_sites:
            model_trace.compute_log_prob()
            guide_sites = [s for s in guide_trace.nodes.values() if is_latent(s) or is_observed(s)]
            model_sites = [
                s for s in model_trace.nodes.values() if s.type == "sample" and not is_subsample(s)
            ]
            for i, site in enumerate(guide_sites):
                if id(site) not in score_sites:
                    continue
                terms = _downstream_terms(guide_sites[i:], model_sites, model_trace)
                cost = _sum_to_frames(terms, site.cond_indep_stack).detach()
                baseline, baseline_loss = self._baseline(site, cost)
                surrogate = surrogate + (site.score_parts.score_function * (cost - baseline)).sum()
                if baseline_loss is not None:
                    # minimising the loss maximises the surrogate: subtract the baseline's loss
                    surrogate = surrogate - baseline_loss
        return -elbo, -surrogate

    def _baseline(self, site: Message, cost: torch.Tensor) -> tuple[Any, Any]:
        """The baseline value for ``site`` (detached) and, for a neural one, its loss."""
        options = site.infer.get("baseline") or {}
        unknown = set(options) - {
            "use_decaying_avg_baseline",
            "baseline_beta",
            "nn_baseline",
            "nn_baseline_input",
            "baseline_value",
        }
        if unknown:
            raise ValueError(f"site {site.name!r}: unknown baseline options {sorted(unknown)}")
        baseline: Any = 0.0
        loss = None
        if options.get("use_decaying_avg_baseline"):
            beta = options.get("baseline_beta", 0.90)
            averages = getattr(self, "_decaying_averages", None)
            if averages is None:
                self._decaying_averages = averages = {}
            old = averages.get(site.name)
            if old is None or old.shape != cost.shape:
                old = torch.zeros_like(cost)
            averages[site.name] = beta * old + (1 - beta) * cost
            baseline = baseline + old
        if "nn_baseline" in options:
            if "nn_baseline_input" not in options:
                raise ValueError(f"site {site.name!r}: nn_baseline needs nn_baseline_input")
            predicted = options["nn_baseline"](options["nn_baseline_input"])
            loss = (cost - predicted).pow(2).sum()
            baseline = baseline + predicted.detach()
        if "baseline_value" in options:
            value = options["baseline_value"]
            if isinstance(value, torch.Tensor) and value.requires_grad:
                loss = (0.0 if loss is None else loss) + (cost - value).pow(2).sum()
                value = value.detach()
            baseline = baseline + value
        return baseline, loss


def _downstream_terms(
    guide_after: list[Message], model_sites: list[Message], model_trace: Trace
) -> list[tuple[frozenset, torch.Tensor]]:
    """Cost terms of the sites that may depend on ``guide_after[0]`` (see module docstring)."""
    terms = []
    names = set()
    first_model_position = len(model_sites)
    model_position = {s.name: k for k, s in enumerate(model_sites)}
    for g in guide_after:
        names.add(g.name)
        m = model_trace.nodes.get(g.name)
        cost = -g.log_prob if m is None else m.log_prob - g.log_prob
        terms.append((_vectorized_frames(g), cost))
        if g.name in model_position:
            first_model_position = min(first_model_position, model_position[g.name])
    for m in model_sites[first_model_position:]:
        if m.name not in names:
            terms.append((_vectorized_frames(m), m.log_prob))
    return terms
