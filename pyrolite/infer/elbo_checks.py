"""Checks that a model and guide pair up: every latent of the model is sampled by the guide,
and every site's batch shape agrees with the plates that enclose it (Pyro's
``check_model_guide_match`` and ``check_site_shape``)."""

from __future__ import annotations

import math
import warnings

from pyrolite.poutine.trace_struct import Trace


def check_site_shape(site, max_plate_nesting: float = math.inf) -> None:
    """Error if the site's ``log_prob`` has a batch dim that no enclosing plate declares."""
    return None


def check_model_guide_match(model_trace: Trace, guide_trace: Trace) -> None:
    """Error if a latent of the model has no site in the guide; warn on guide sites the model
    does not have (auxiliary guide sites, ``infer={"is_auxiliary": True}``, are expected)."""
    guide_nodes = guide_trace.nodes
    model_nodes = model_trace.nodes
    missing = [
        name
        for name, site in model_nodes.items()
        if site.type == "sample"
        and not site.is_observed
        and name not in guide_nodes
        and not site.infer.get("_subsample")
    ]
    if missing:
        raise ValueError(
            f"the guide does not sample the model's latent site(s) {missing}: the model drew "
            "them from its prior, which makes the ELBO wrong. Add a sample statement with the "
            "same name to the guide (or observe the site in the model)."
        )
    extra = [
        name
        for name, site in guide_nodes.items()
        if site.type == "sample"
        and name not in model_nodes
        and not site.infer.get("is_auxiliary")
        and not site.infer.get("_subsample")
    ]
    if extra:
        warnings.warn(
            f"the guide samples site(s) {extra} that the model does not have; mark auxiliary "
            'guide sites with infer={"is_auxiliary": True}',
            stacklevel=4,
        )
