"""The ``ELBO`` base class: particles, plate nesting, and the model/guide pairing checks.

A subclass implements ``differentiable_loss_particle(model_trace, guide_trace)`` returning
``(loss, surrogate_loss)`` for one particle: ``loss`` is the negative ELBO estimate and
``surrogate_loss`` a tensor whose gradient is an unbiased estimate of the gradient of the
negative ELBO. The base class draws the particles (one after another, or all at once as an
outer plate when ``vectorize_particles=True``) and averages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from pyrolite import poutine
from pyrolite.distributions.validation import is_validation_enabled
from pyrolite.infer.elbo_checks import check_model_guide_match, check_site_shape
from pyrolite.infer.util import in_plate
from pyrolite.poutine.trace_struct import Trace

PARTICLE_PLATE = "num_particles_vectorized"


def model_and_guide_traces(
    model: Callable, guide: Callable, args: tuple, kwargs: dict
) -> tuple[Trace, Trace]:
    """The guide's trace, and the model's trace replayed against it."""
    guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
    return model_trace, guide_trace


class ELBO:
    """Base class of evidence lower bounds.

    ``num_particles``: samples averaged per estimate. ``vectorize_particles``: draw them in
    one pass as an outer plate at dim ``-max_plate_nesting - 1`` (the model and guide must
    then broadcast correctly). ``max_plate_nesting``: how many batch dims plates use; found
    by tracing the model and guide once when not given (only vectorised particles need it).
    ``strict_enumeration_warning``, ``ignore_jit_warnings``, ``jit_options`` and
    ``tail_adaptive_beta`` are accepted for compatibility with Pyro's signature (the
    parameters in Pyro's order); the eager ELBOs have nothing for them to do.
    Pyro's deprecated ``max_iarange_nesting`` is not offered: use ``max_plate_nesting``.
    """

    def __init__(
        self,
        num_particles: int = 1,
        max_plate_nesting: float = math.inf,
        vectorize_particles: bool = False,
        strict_enumeration_warning: bool = True,
        ignore_jit_warnings: bool = False,
        jit_options: dict | None = None,
        retain_graph: bool | None = None,
        tail_adaptive_beta: float = -1.0,
    ) -> None:
        if not isinstance(num_particles, int) or num_particles < 1:
            raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")
        self.tail_adaptive_beta = tail_adaptive_beta
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.vectorize_particles = vectorize_particles
        self.retain_graph = retain_graph

    # -- what a subclass provides ----------------------------------------------------------
    def differentiable_loss_particle(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    # -- traces ------------------------------------------------------------------------------
    def _guess_max_plate_nesting(self, model: Callable, guide: Callable, args, kwargs) -> None:
        with poutine.block():
            traces = self.get_trace(model, guide, args, kwargs)
        self.max_plate_nesting = max(tr.plate_nesting() for tr in traces)

    def get_trace(
        self, model: Callable, guide: Callable, args, kwargs, plate_nesting: float | None = None
    ) -> tuple[Trace, Trace]:
        """One particle: the guide's trace and the model's trace replayed against it.

        While validation is on, both are checked (:mod:`pyrolite.infer.elbo_checks`) with
        ``plate_nesting`` batch dims (default ``max_plate_nesting``) checked against plates.
        """
        model_trace, guide_trace = model_and_guide_traces(model, guide, args, kwargs)
        if is_validation_enabled():
            nesting = self.max_plate_nesting if plate_nesting is None else plate_nesting
            check_model_guide_match(model_trace, guide_trace, nesting)
            for trace in (model_trace, guide_trace):
                trace.compute_log_prob()
                for site in trace.nodes.values():
                    if site.type == "sample":
                        check_site_shape(site, nesting)
        return model_trace, guide_trace

    def _get_traces(self, model: Callable, guide: Callable, args, kwargs) -> Iterator:
        if not self.vectorize_particles:
            for _ in range(self.num_particles):
                yield self.get_trace(model, guide, args, kwargs)
            return
        if self.max_plate_nesting == math.inf:
            self._guess_max_plate_nesting(model, guide, args, kwargs)
        dim = -int(self.max_plate_nesting) - 1
        model = in_plate(model, PARTICLE_PLATE, self.num_particles, dim)
        guide = in_plate(guide, PARTICLE_PLATE, self.num_particles, dim)
        yield self.get_trace(model, guide, args, kwargs, plate_nesting=-dim)

    # -- public API --------------------------------------------------------------------------
    def differentiable_loss(
        self, model: Callable, guide: Callable, *args, **kwargs
    ) -> torch.Tensor:
        """A differentiable estimate of the negative ELBO: its value is the estimate and its
        gradient the surrogate's (an unbiased estimate of the gradient)."""
        loss, surrogate = self.loss_and_surrogate(model, guide, *args, **kwargs)
        if not isinstance(surrogate, torch.Tensor):
            return torch.as_tensor(loss)
        return loss + (surrogate - surrogate.detach())

    def loss(self, model: Callable, guide: Callable, *args, **kwargs) -> float:
        """An estimate of the negative ELBO, as a float (no gradient)."""
        with torch.no_grad():
            loss, _, traces = self.traced_loss_and_surrogate(model, guide, args, kwargs)
        value = float(loss)
        if not math.isfinite(value):
            raise_nonfinite(value, traces)
        return value

    def loss_and_surrogate(
        self, model: Callable, guide: Callable, *args, **kwargs
    ) -> tuple[torch.Tensor, Any]:
        """The negative ELBO estimate (detached) and the surrogate loss to differentiate, both
        averaged over particles."""
        loss, surrogate, _ = self.traced_loss_and_surrogate(model, guide, args, kwargs)
        return loss, surrogate

    def traced_loss_and_surrogate(
        self, model: Callable, guide: Callable, args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, Any, list[tuple[Trace, Trace]]]:
        """``loss_and_surrogate`` and the (model, guide) traces of the particles it drew, so
        that a non-finite loss can be traced to the sites of that very draw."""
        total_loss: Any = 0.0
        total_surrogate: Any = 0.0
        traces = list(self._get_traces(model, guide, args, kwargs))
        for model_trace, guide_trace in traces:
            loss, surrogate = self.differentiable_loss_particle(model_trace, guide_trace)
            total_loss = total_loss + loss.detach()
            total_surrogate = total_surrogate + surrogate
        return total_loss / self.num_particles, total_surrogate / self.num_particles, traces

    def loss_and_grads(self, model: Callable, guide: Callable, *args, **kwargs) -> float:
        """Estimate the negative ELBO and accumulate its gradient into the params' ``.grad``."""
        loss, surrogate, traces = self.traced_loss_and_surrogate(model, guide, args, kwargs)
        return backward_checked(loss, surrogate, self.retain_graph, traces)


def backward_checked(
    loss: Any, surrogate: Any, retain_graph: bool | None, traces: list[tuple[Trace, Trace]]
) -> float:
    """``float(loss)``, after checking it is finite, and ``surrogate.backward()``.

    ``traces`` are the (model, guide) traces the loss was computed from: a non-finite loss
    raises an error naming their non-finite sites."""
    value = float(loss)
    if not math.isfinite(value):
        raise_nonfinite(value, traces)
    if isinstance(surrogate, torch.Tensor) and surrogate.requires_grad:
        surrogate.backward(retain_graph=retain_graph)
    return value


def raise_nonfinite(value: float, traces: list[tuple[Trace, Trace]]) -> None:
    """Raise a ValueError naming the sites whose log density is NaN or infinite in the
    given (model, guide) traces (one pair per particle)."""
    bad: list[str] = []
    for model_trace, guide_trace in traces:
        for side, trace in (("model", model_trace), ("guide", guide_trace)):
            bad += [f"{side} site {n!r}" for n in trace.nonfinite_sites()]
    bad = list(dict.fromkeys(bad))
    where = ", ".join(bad) if bad else "no single site (the sum overflowed)"
    model_trace, guide_trace = traces[0]
    raise ValueError(
        f"the loss is {value}: non-finite log density at {where}. Check the values and "
        "parameters of those sites (a scale that reached 0, a value outside the support, "
        "a learning rate that is too high).\n"
        + model_trace.format_shapes(title="Model trace:")
        + "\n"
        + guide_trace.format_shapes(title="Guide trace:")
    )
