"""Helpers for running a program site by site with ``escape`` and growing partial traces
(what ``poutine.queue`` and exact/Monte Carlo marginalisation build on), and for pruning a
trace to the sites inference sees.

An escape predicate takes ``(trace, msg)``: ``trace`` is the partial trace run so far, and
a true answer makes ``escape`` stop the program at ``msg``. The ``*_extend`` functions
return copies of the partial trace, each with one more value for the escaped site.
"""

from __future__ import annotations

from pyrolite.distributions.unit import Unit
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace, is_subsample

__all__ = [
    "all_escape",
    "discrete_escape",
    "enum_extend",
    "mc_extend",
    "prune_subsample_sites",
    "site_is_factor",
    "site_is_subsample",
]

site_is_subsample = is_subsample


def site_is_factor(site: Message) -> bool:
    """True for the site a ``pyro.factor`` statement records (a :class:`Unit` distribution)."""
    return site.type == "sample" and isinstance(site.fn, Unit)


def prune_subsample_sites(trace: Trace) -> Trace:
    """A copy of ``trace`` without the sites that record plates' indices."""
    pruned = trace.copy()
    for name, site in list(pruned.nodes.items()):
        if is_subsample(site):
            pruned.remove_node(name)
    return pruned


def _new_latent(trace: Trace, msg: Message) -> bool:
    return (
        msg.type == "sample"
        and not msg.is_observed
        and msg.name is not None
        and msg.name not in trace
    )


def all_escape(trace: Trace, msg: Message) -> bool:
    """Escape at every latent sample site not yet in ``trace``."""
    return _new_latent(trace, msg)


def discrete_escape(trace: Trace, msg: Message) -> bool:
    """Escape at every latent sample site not yet in ``trace`` whose distribution has an
    enumerable (discrete) support."""
    return _new_latent(trace, msg) and bool(getattr(msg.fn, "has_enumerate_support", False))


def _extended(trace: Trace, msg: Message, value: object) -> Trace:
    site = msg.copy()
    site.value = value
    grown = trace.copy()
    grown.add_site(site)
    return grown


def enum_extend(trace: Trace, msg: Message, num_samples: int | None = None) -> list[Trace]:
    """One copy of ``trace`` per value of the support of ``msg.fn`` (at most
    ``num_samples + 1`` when given, as Pyro counts), each with site ``msg.name`` set to it."""
    limit = -1 if num_samples is None else num_samples
    grown = []
    for i, value in enumerate(msg.fn.enumerate_support(*msg.args, **msg.kwargs)):
        if 0 <= limit < i:
            break
        grown.append(_extended(trace, msg, value))
    return grown


def mc_extend(trace: Trace, msg: Message, num_samples: int | None = None) -> list[Trace]:
    """``num_samples`` (default 1) copies of ``trace``, each with a fresh draw of
    ``msg.fn`` at site ``msg.name``."""
    count = 1 if num_samples is None else num_samples
    return [_extended(trace, msg, msg.fn(*msg.args, **msg.kwargs)) for _ in range(count)]
