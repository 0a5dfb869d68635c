"""Checks that a model and guide pair up, run by the ELBOs while validation is on.

- :func:`check_model_guide_match`: every latent of the model is sampled by the guide, every
  guide site and plate is in the model (or marked auxiliary), and both sides agree on each
  shared site's event dim and shape (Pyro's ``check_model_guide_match``).
- :func:`check_site_shape`: a site's ``log_prob`` has no batch dim that its enclosing plates
  do not declare (Pyro's ``check_site_shape``), so a model that forgot a plate or a
  ``to_event`` fails instead of training on a silently broadcast density.

The messages start with Pyro's wording (code that matches them keeps matching) and then say
how to fix the problem.
"""

from __future__ import annotations

import math
import warnings
from itertools import zip_longest
from typing import Any

from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace, is_latent, is_subsample


def _plate_shape(site: Message) -> list[int]:
    """The batch shape the site's vectorised plates declare, ``-1`` where none does."""
    expected: list[int | None] = []
    for frame in site.cond_indep_stack:
        if frame.dim is None:
            continue
        if len(expected) < -frame.dim:
            expected = [None] * (-frame.dim - len(expected)) + expected
        if expected[frame.dim] is not None:
            raise ValueError(
                f'at site "{site.name}" within plate("{frame.name}", dim={frame.dim}), '
                "dim collision\n  Try setting dim arg in other plates."
            )
        expected[frame.dim] = frame.size
    return [-1 if size is None else size for size in expected]


def check_site_shape(site: Message, max_plate_nesting: float = math.inf) -> None:
    """Raise ``ValueError`` if ``site["log_prob"]`` (batch-shaped) has a dim of a size that
    no enclosing plate declares, or if the plates nest deeper than ``max_plate_nesting``.

    Dims left of ``max_plate_nesting`` are not checked (particles and enumeration live there).
    """
    actual = list(site.log_prob.shape)
    expected = _plate_shape(site)
    if len(expected) > max_plate_nesting:
        raise ValueError(
            f'at site "{site.name}", plate stack overflow\n'
            f"  Try increasing max_plate_nesting to at least {len(expected)}"
        )
    if max_plate_nesting < len(actual):
        actual = actual[len(actual) - int(max_plate_nesting) :]
    for actual_size, expected_size in zip_longest(
        reversed(actual), reversed(expected), fillvalue=1
    ):
        if expected_size != -1 and expected_size != actual_size:
            raise ValueError(
                f'at site "{site.name}", invalid log_prob shape\n'
                f"  Expected {expected}, actual {actual}\n"
                "  Try one of the following fixes:\n"
                "  - enclose the batched tensor in a with pyro.plate(...): context\n"
                "  - .to_event(...) the distribution being sampled\n"
                "  - .permute() data dimensions"
            )


def _site_shape(site: Message) -> Any:
    shape = getattr(site.fn, "shape", None)
    return None if shape is None else shape(*site.args, **site.kwargs)


def _check_shapes_agree(
    name: str, model_site: Message, guide_site: Message, max_plate_nesting: float
) -> None:
    model_event = getattr(model_site.fn, "event_dim", None)
    guide_event = getattr(guide_site.fn, "event_dim", None)
    if model_event is not None and guide_event is not None and model_event != guide_event:
        raise ValueError(
            f"Model and guide event_dims disagree at site '{name}': "
            f"{model_event} vs {guide_event}. Give the guide's distribution the model's "
            "event shape (e.g. with .to_event(n))."
        )
    model_shape, guide_shape = _site_shape(model_site), _site_shape(guide_site)
    if model_shape is None or guide_shape is None or model_shape == guide_shape:
        return
    # dims left of max_plate_nesting may broadcast
    if len(model_shape) > max_plate_nesting:
        model_shape = model_shape[len(model_shape) - int(max_plate_nesting) - model_event :]
    if len(guide_shape) > max_plate_nesting:
        guide_shape = guide_shape[len(guide_shape) - int(max_plate_nesting) - guide_event :]
    for model_size, guide_size in zip_longest(
        reversed(model_shape), reversed(guide_shape), fillvalue=1
    ):
        if model_size != guide_size:
            raise ValueError(
                f"Model and guide shapes disagree at site '{name}': "
                f"{model_shape} vs {guide_shape}. Make both sides sample it inside the same "
                "plates with the same batch and event shape."
            )


def _plate_names(trace: Trace) -> set[str]:
    """Names of the plates a trace entered: subsample sites and the sites' plate frames."""
    names = set()
    for name, site in trace.nodes.items():
        if is_subsample(site):
            names.add(name)
        elif site.type == "sample":
            names.update(frame.name for frame in site.cond_indep_stack)
    return names


def check_model_guide_match(
    model_trace: Trace, guide_trace: Trace, max_plate_nesting: float = math.inf
) -> None:
    """Check that a guide's trace fits the model's trace replayed against it.

    Errors: a latent of the model that the guide does not sample (the model would draw it
    from its prior and the ELBO would be wrong), an event dim or shape that disagrees at a
    shared site, a ``pyro.factor`` in the guide without ``has_rsample``. Warnings: guide
    sites the model lacks that are not marked ``infer={"is_auxiliary": True}``, auxiliary
    sites in the model, plates in the guide that the model lacks.
    """
    model_nodes, guide_nodes = model_trace.nodes, guide_trace.nodes
    guide_vars = {n for n, s in guide_nodes.items() if s.type == "sample" and not is_subsample(s)}
    aux_vars = {
        n for n, s in guide_nodes.items() if s.type == "sample" and s.infer.get("is_auxiliary")
    }
    model_vars = {n for n, s in model_nodes.items() if is_latent(s)}
    if aux_vars & model_vars:
        warnings.warn(f"Found auxiliary vars in the model: {aux_vars & model_vars}", stacklevel=3)
    stray = guide_vars - aux_vars - model_vars
    if stray:
        warnings.warn(
            "Found non-auxiliary vars in guide but not model, consider marking these "
            f"infer={{'is_auxiliary': True}}:\n{stray}",
            stacklevel=3,
        )
    missing = sorted(model_vars - guide_vars)
    if missing:
        raise ValueError(
            f"Found vars in model but not guide: {missing}. The model would draw them from "
            "its prior, which makes the ELBO wrong. Add a sample statement with the same "
            "name to the guide (or observe the site in the model)."
        )
    for name in model_vars & guide_vars:
        _check_shapes_agree(name, model_nodes[name], guide_nodes[name], max_plate_nesting)

    model_plates, guide_plates = _plate_names(model_trace), _plate_names(guide_trace)
    if not guide_plates <= model_plates:
        warnings.warn(
            f"Found plate statements in guide but not model: {guide_plates - model_plates}",
            stacklevel=3,
        )
    for name in aux_vars:
        fn = guide_nodes[name].fn
        if type(fn).__name__ == "Unit" and "has_rsample" not in vars(fn):
            raise ValueError(
                f'At guide site pyro.factor("{name}",...), missing specification of '
                "has_rsample. Please either set has_rsample=True if the factor statement "
                "arises from reparametrized sampling or has_rsample=False otherwise."
            )
