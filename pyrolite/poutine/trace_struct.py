"""``Trace``: the record of one run of a program, an ordered mapping from site name to site.

Sites are the :class:`~pyrolite.poutine.runtime.Message` records themselves (they read like
Pyro's site dicts). A trace is also a graph over its sites (:mod:`pyrolite.poutine.trace_graph`).

Log densities are computed on demand, once per site, and cached on the site with the site's
``scale`` and ``mask`` applied: ``unscaled_log_prob`` (what ``fn.log_prob(value)`` returned),
``log_prob`` (scaled, masked, batch-shaped) and ``log_prob_sum``; ``compute_score_parts``
adds ``score_parts``. Whichever of ``log_prob_sum``, ``compute_log_prob`` and
``compute_score_parts`` reaches a site first calls ``fn.log_prob``; the others reuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from pyrolite.distributions.score_parts import ScoreParts, scale_and_mask
from pyrolite.distributions.torch_distribution import (
    ExpandedDistribution,
    TorchDistributionMixin,
)
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.site_errors import DENSITY_ERRORS, format_shape, raise_density_error
from pyrolite.poutine.trace_graph import TraceGraph

SiteFilter = Callable[[str, Message], bool]

# A distribution whose ``score_parts`` is this one only repackages ``log_prob``: the trace
# builds the parts from its cached ``log_prob`` instead of calling it.
_DEFAULT_SCORE_PARTS = TorchDistributionMixin.score_parts


def _all_sites(name: str, site: Message) -> bool:
    return True


class Trace(TraceGraph):
    """An ordered record of the sites one program run visited.

    ``nodes`` maps each site name to its site (in execution order), including the pseudo
    sites ``"_INPUT"`` (type ``"args"``) and ``"_RETURN"`` (type ``"return"``) added by
    ``poutine.trace(fn).get_trace``. ``graph_type`` is ``"flat"`` (no edges) or ``"dense"``
    (edges from each sample site to the later ones that may depend on it).
    """

    def __init__(self, graph_type: str = "flat") -> None:
        if graph_type not in ("flat", "dense"):
            raise ValueError(f"graph_type must be 'flat' or 'dense', got {graph_type!r}")
        self.graph_type = graph_type
        self.nodes: dict[str, Message] = {}

    # -- construction --------------------------------------------------------------------
    def add_node(self, site_name: str, **kwargs: Any) -> None:
        """Add a site built from keyword fields (Pyro's signature). With no fields it adds a
        bare node (``type`` None), as ``add_edge`` does for a name it has not seen."""
        msg = Message(
            kwargs.pop("type", None), kwargs.pop("name", site_name), kwargs.pop("fn", None)
        )
        for key, value in kwargs.items():
            msg[key] = value
        self.add_site(msg)

    def add_site(self, msg: Message) -> None:
        """Record ``msg`` under its name; a second site with the same name is an error."""
        name = msg.name
        old = self.nodes.get(name)
        if old is not None:
            if old.type == "param" and msg.type == "param":
                return  # reading a param twice is one param site
            if old.type != msg.type:
                raise RuntimeError(
                    f"{name} is already in the trace as a {old.type}: a {msg.type} site "
                    f"cannot reuse its name."
                )
            raise RuntimeError(
                f"Multiple {msg.type} sites named {name!r}: site names must be unique within "
                f"one run of a program. Give each site its own name (in a loop, for example "
                f"f'{name}_{{i}}'), or use a plate for repeated draws."
            )
        self.nodes[name] = msg

    def copy(self) -> Trace:
        """A copy with its own node dict and edge sets (the sites themselves are shared)."""
        new = Trace(self.graph_type)
        new.nodes = dict(self.nodes)
        self._copy_edges_to(new)
        return new

    def detach_(self) -> None:
        """Detach every site value from the autograd graph, in place."""
        for site in self.nodes.values():
            if isinstance(site.value, torch.Tensor):
                site.value = site.value.detach()

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    # -- site lists ----------------------------------------------------------------------
    @property
    def stochastic_nodes(self) -> list[str]:
        """Names of latent sample sites (not observed, not plate subsampling)."""
        return [name for name, site in self.nodes.items() if is_latent(site)]

    @property
    def observation_nodes(self) -> list[str]:
        """Names of observed sample sites."""
        return [n for n, s in self.nodes.items() if is_observed(s)]

    @property
    def param_nodes(self) -> list[str]:
        """Names of param sites."""
        return [n for n, s in self.nodes.items() if s.type == "param"]

    @property
    def reparameterized_nodes(self) -> list[str]:
        """Latent sites whose distribution has ``rsample`` (pathwise gradients)."""
        return [n for n, s in self.nodes.items() if is_reparameterized(s)]

    @property
    def nonreparam_stochastic_nodes(self) -> list[str]:
        """Latent sites that need score-function gradients."""
        return [n for n, s in self.nodes.items() if is_latent(s) and not is_reparameterized(s)]

    def iter_stochastic_nodes(self) -> Iterator[tuple[str, Message]]:
        for name in self.stochastic_nodes:
            yield name, self.nodes[name]

    # -- densities -----------------------------------------------------------------------
    def log_prob_sum(self, site_filter: SiteFilter = _all_sites) -> torch.Tensor | float:
        """Sum over sample sites of the scaled, masked log densities (a scalar tensor; ``0.0``
        when no site passes ``site_filter``). Fills each site's density cache."""
        result: Any = None
        filtered = site_filter is not _all_sites
        for name, site in self.nodes.items():
            if site.type != "sample" or (filtered and not site_filter(name, site)):
                continue
            site_sum = getattr(site, "log_prob_sum", None)
            if site_sum is None:
                site_sum = _cache_log_prob(self, site, "log_prob_sum").log_prob_sum
            result = site_sum if result is None else result + site_sum
        return 0.0 if result is None else result

    def site_log_prob_sum(self, site: Message) -> torch.Tensor:
        """One sample site's scaled, masked log density summed (cached on the site)."""
        site_sum = getattr(site, "log_prob_sum", None)
        if site_sum is None:
            site_sum = _cache_log_prob(self, site, "log_prob_sum").log_prob_sum
        return site_sum

    def plate_nesting(self) -> int:
        """How many batch dims the vectorised plates of the sample sites use (0 if none)."""
        return max(
            (
                -frame.dim
                for site in self.nodes.values()
                if site.type == "sample"
                for frame in site.cond_indep_stack
                if frame.dim is not None
            ),
            default=0,
        )

    def compute_log_prob(self, site_filter: SiteFilter = _all_sites) -> None:
        """Compute and cache ``log_prob`` (batch-shaped), ``unscaled_log_prob`` and
        ``log_prob_sum`` at every sample site that passes ``site_filter``."""
        for name, site in self.nodes.items():
            if site.type != "sample" or "log_prob" in site or not site_filter(name, site):
                continue
            _cache_log_prob(self, site, "log_prob")

    def compute_score_parts(self, site_filter: SiteFilter = _all_sites) -> None:
        """Compute and cache ``score_parts`` (a :class:`ScoreParts`) at every sample site; also
        fills the sites' ``log_prob`` caches.

        The parts come from the distribution's own ``score_parts(value)`` where it defines
        one; otherwise (Pyro's default, a plain torch distribution) they are built from the
        cached densities: ``(log_prob, 0, log_prob)`` for a distribution with ``has_rsample``,
        ``(log_prob, unscaled_log_prob, 0)`` without. As in Pyro, the site's scale and mask
        apply to ``log_prob`` and ``entropy_term`` but not to ``score_function``.
        """
        for name, site in self.nodes.items():
            if site.type != "sample" or "score_parts" in site or not site_filter(name, site):
                continue
            site.score_parts = _site_score_parts(self, site)

    def nonfinite_sites(self) -> list[str]:
        """Names of sample sites whose log density holds NaN or +-inf (computes densities)."""
        self.compute_log_prob()
        return [
            name
            for name, site in self.nodes.items()
            if site.type == "sample" and not bool(torch.isfinite(site.log_prob).all())
        ]

    # -- shapes --------------------------------------------------------------------------
    def format_shapes(self, title: str = "Trace Shapes:", last_site: str | None = None) -> str:
        """A table of every site's batch/event shape, value shape and log_prob shape, with the
        plates (name, dim, size) each site sits in; use it to debug shape errors."""
        rows = [("site", "type", "batch_shape", "event_shape", "value", "log_prob", "plates")]
        for name, site in self.nodes.items():
            if site.type not in ("sample", "param"):
                continue
            fn = site.fn
            batch = format_shape(getattr(fn, "batch_shape", None)) if site.type == "sample" else ""
            event = format_shape(getattr(fn, "event_shape", None)) if site.type == "sample" else ""
            value = format_shape(getattr(site.value, "shape", None))
            lp = format_shape(getattr(site.get("log_prob"), "shape", None))
            plates = " ".join(f"{f.name}[{f.dim}]:{f.size}" for f in site.cond_indep_stack)
            kind = "param" if site.type == "param" else ("obs" if site.is_observed else "latent")
            rows.append((name, kind, batch, event, value, lp, plates))
            if name == last_site:
                break
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [title]
        for row in rows:
            lines.append(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        return "\n".join(lines)


def is_subsample(site: Message) -> bool:
    """True for the sample site a subsampling plate records (its value is the indices)."""
    return site.type == "sample" and bool(site.infer.get("_subsample", False))


def is_observed(site: Message) -> bool:
    """True for an observed sample site."""
    return site.type == "sample" and bool(site.is_observed)


def is_latent(site: Message) -> bool:
    """True for a latent sample site: not observed and not a plate's subsample indices."""
    return (
        site.type == "sample"
        and not site.is_observed
        and not bool(site.infer.get("_subsample", False))
    )


def is_reparameterized(site: Message) -> bool:
    """True for a latent site whose distribution gives pathwise gradients (``has_rsample``)."""
    return is_latent(site) and bool(getattr(site.fn, "has_rsample", False))


def _unscaled_log_prob(trace: Trace, site: Message, what: str) -> torch.Tensor:
    """``site.fn.log_prob(site.value)``, with errors rewritten to name the site; ``what`` is
    the quantity being computed (``log_prob``, ``log_prob_sum``, ``score_parts``)."""
    try:
        return site.fn.log_prob(site.value, *site.args, **site.kwargs)
    except DENSITY_ERRORS as err:
        raise_density_error(site, what, err, trace.format_shapes(last_site=site.name))


def _cache_log_prob(trace: Trace, site: Message, what: str) -> Message:
    """Fill ``unscaled_log_prob``, ``log_prob`` and ``log_prob_sum`` on ``site`` from one call
    of ``fn.log_prob``; returns the site."""
    raw = _unscaled_log_prob(trace, site, what)
    _store_log_prob(site, raw)
    return site


def _store_log_prob(site: Message, raw: Any) -> None:
    scale, mask = site.scale, site.mask
    if mask is None and type(scale) is float and scale == 1.0:
        log_p = raw
    else:
        log_p = scale_and_mask(raw, scale, mask)
    site.unscaled_log_prob = raw
    site.log_prob = log_p
    # a 0-dim tensor is its own sum: skip the extra op
    site.log_prob_sum = log_p.sum() if isinstance(log_p, torch.Tensor) and log_p.dim() else log_p


def _site_score_parts(trace: Trace, site: Message) -> ScoreParts:
    """The site's :class:`ScoreParts` with the site's scale and mask applied as Pyro applies
    them: to ``log_prob`` and ``entropy_term``, not to ``score_function`` (the estimator
    multiplies it by a cost that already carries them)."""
    fn = site.fn
    owner = fn
    while isinstance(owner, ExpandedDistribution):  # its parts are its base's, broadcast
        owner = owner.base_dist
    own = getattr(type(owner), "score_parts", None)
    if own is None or own is _DEFAULT_SCORE_PARTS:
        log_p = getattr(site, "log_prob", None)
        if log_p is None:
            log_p = _cache_log_prob(trace, site, "score_parts").log_prob
        if getattr(fn, "has_rsample", False):
            return ScoreParts(log_p, 0, log_p)
        return ScoreParts(log_p, getattr(site, "unscaled_log_prob", log_p), 0)
    try:
        parts = fn.score_parts(site.value, *site.args, **site.kwargs)
    except DENSITY_ERRORS as err:
        raise_density_error(site, "score_parts", err, trace.format_shapes(last_site=site.name))
    log_p = getattr(site, "log_prob", None)
    if log_p is None:
        _store_log_prob(site, parts.log_prob)
        log_p = site.log_prob
    entropy = scale_and_mask(parts.entropy_term, site.scale, site.mask)
    return ScoreParts(log_p, parts.score_function, entropy)
