"""Checks on pairs of traces and on guides: that two runs visited the same sample sites with
the same shapes, and that no site asks for enumeration from an ELBO that cannot enumerate.
(The model/guide pairing checks of the ELBOs are in :mod:`pyrolite.infer.elbo_checks`.)"""

from __future__ import annotations

import warnings

from pyrolite.poutine.trace_struct import Trace

__all__ = ["check_if_enumerated", "check_traces_match"]


def check_traces_match(trace1: Trace, trace2: Trace) -> None:
    """Warn if the two traces have different sample sites; raise ``ValueError`` naming the
    site if a site common to both has distributions of different shapes
    (``batch_shape + event_shape``)."""
    names1 = {name for name, site in trace1.nodes.items() if site.type == "sample"}
    names2 = {name for name, site in trace2.nodes.items() if site.type == "sample"}
    if names1 != names2:
        warnings.warn(f"Model vars changed: {names1} vs {names2}", stacklevel=2)
    for name in names1 & names2:
        site1, site2 = trace1.nodes[name], trace2.nodes[name]
        if not (hasattr(site1.fn, "shape") and hasattr(site2.fn, "shape")):
            continue
        shape1 = site1.fn.shape(*site1.args, **site1.kwargs)
        shape2 = site2.fn.shape(*site2.args, **site2.kwargs)
        if shape1 != shape2:
            raise ValueError(f"Site dims disagree at site '{name}': {shape1} vs {shape2}")


def check_if_enumerated(guide_trace: Trace) -> None:
    """Warn if a sample site of the guide is marked ``infer={"enumerate": ...}``: only
    ``TraceEnum_ELBO`` enumerates, other ELBOs would silently sample it."""
    enumerated = [
        name
        for name, site in guide_trace.nodes.items()
        if site.type == "sample" and site.infer.get("enumerate")
    ]
    if enumerated:
        warnings.warn(
            "Found sample sites configured for enumeration: "
            + ", ".join(enumerated)
            + "\nIf you want to enumerate sites, you need to use TraceEnum_ELBO instead.",
            stacklevel=2,
        )
