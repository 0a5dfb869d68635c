"""``AutoGuide``: the base class of guides built automatically from a model.

On its first call an autoguide runs the model once, hidden from every outer handler
(``poutine.block`` around ``poutine.trace``), to get the *prototype trace*: the model's latent
sample sites (observed sites, params and plate subsample sites are left out), their
distributions, shapes and plates. A subclass builds its parameters from that trace. Each later
call draws a value for every latent site, inside plates of the same name, size, subsample size
and dim as the model's, and returns a dict ``site name -> value``.

Parameters live in the global param store under names starting with the guide's ``prefix``
(the class name by default): ``"AutoNormal.locs.z"``, ``"AutoDelta.z"``,
``"AutoDiagonalNormal.loc"``. They are created lazily from init values kept by the guide, so
the guide keeps working after ``pyro.clear_param_store()`` (from fresh params).

Subsampling: a plate that subsamples records a sample site named after itself holding its
indices. The guide creates its plate under the same name, so the guide draws the indices and
``replay`` hands them to the model. Pass ``create_plates=fn`` (``fn(*args, **kwargs)`` returns
a plate or a list of plates) to choose the guide's plates yourself, e.g. with explicit
``subsample=`` indices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from pyrolite.distributions.reductions import sum_rightmost
from pyrolite.infer.autoguide.initialization import InitMessenger
from pyrolite.params import get_param_store
from pyrolite.poutine.handlers import block, trace
from pyrolite.poutine.plate_messenger import CondIndepStackFrame, PlateMessenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace, is_latent
from pyrolite.primitives import plate
from pyrolite.rng import isolated_rng

__all__ = ["AutoGuide"]

ENUMERATION_DOCS = "https://pyro.ai/examples/enumeration.html"


def _not_latent(msg: Message) -> bool:
    """Hide everything but latent sample sites from the prototype trace."""
    return not is_latent(msg)


class AutoGuide:
    """Base class of autoguides (see the module docstring).

    ``model`` is the model the guide approximates the posterior of; call the guide with the
    model's arguments. ``create_plates`` optionally builds the guide's plates; ``prefix``
    (default: the class name) starts the names of the guide's params.

    Subclasses set ``init_loc_fn`` (or leave it None to trace the model with values drawn
    from the prior) and implement ``_setup_params``, ``_sample_sites``, ``median`` and
    ``quantiles``.
    """

    init_loc_fn: Callable | None = None

    def __init__(
        self,
        model: Callable,
        *,
        create_plates: Callable | None = None,
        prefix: str | None = None,
    ) -> None:
        if not callable(model):
            raise TypeError(f"{type(self).__name__}: model must be callable, got {model!r}")
        self.model = model
        self.create_plates = create_plates
        self.prefix = type(self).__name__ if prefix is None else prefix  # also resets names
        self.prototype_trace: Trace | None = None
        self._frames: dict[str, CondIndepStackFrame] = {}
        self._site_plates: dict[str, tuple[str, ...]] = {}

    @property
    def prefix(self) -> str:
        """The first part of every param name of this guide (``AutoGuideList`` renames it)."""
        return self._prefix

    @prefix.setter
    def prefix(self, value: str) -> None:
        self._prefix = value
        self._names: dict[tuple[str, ...], str] = {}

    def _param_name(self, *parts: str) -> str:
        """``"{prefix}.{part}.{part}..."``, built once per prefix (kept off the per-step path)."""
        name = self._names.get(parts)
        if name is None:
            name = self._names[parts] = ".".join((self._prefix,) + parts)
        return name

    # -- calling -----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Draw every latent site of the model; returns ``{name: constrained value}``."""
        self._ensure_setup(args, kwargs)
        return self._sample_sites(self._create_plates(*args, **kwargs))

    def _call_in_plates(
        self, plates: dict[str, PlateMessenger], *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Like calling the guide, but inside ``plates`` made by the caller (a guide made of
        guides shares one set of plates, so one subsample, among its parts). Plates of this
        guide's sites that ``plates`` lacks are created as usual."""
        self._ensure_setup(args, kwargs)
        missing = self._frames.keys() - plates.keys()
        if missing:
            plates = {**plates, **{name: _plate_like(self._frames[name]) for name in missing}}
        return self._sample_sites(plates)

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """``{name: posterior median}`` in the constrained space, full plate sizes."""
        raise NotImplementedError

    def quantiles(
        self, quantiles: list[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """``{name: tensor of shape (len(quantiles),) + site shape}`` of marginal quantiles."""
        raise NotImplementedError

    # -- set-up ------------------------------------------------------------------------------
    def _ensure_setup(self, args: tuple, kwargs: dict) -> None:
        if self.prototype_trace is None:
            # the set-up draws on generators of its own, so that the stream the run draws
            # from does not depend on when the set-up happens (a resumed run sets up later)
            with isolated_rng():
                self._setup_prototype(*args, **kwargs)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        """Trace the model once (hidden from outer handlers) and build the guide's params."""
        model = self.model
        if self.init_loc_fn is not None:
            model = InitMessenger(self.init_loc_fn)(model)
        model = block(model, hide_fn=_not_latent)
        prototype = block(trace(model).get_trace)(*args, **kwargs)
        frames: dict[str, CondIndepStackFrame] = {}
        site_plates: dict[str, tuple[str, ...]] = {}
        for name, site in prototype.iter_stochastic_nodes():
            if site.fn.support.is_discrete:
                cls = type(self).__name__
                raise ValueError(
                    f"{cls} cannot guide the discrete sample site {name!r} (a "
                    f"{type(site.fn).__name__}): continuous inference cannot handle discrete "
                    f"sites. Enumerate it instead (see {ENUMERATION_DOCS} ) and hide it from "
                    f"this guide, e.g. {cls}(poutine.block(model, hide=[{name!r}]))."
                )
            for frame in site.cond_indep_stack:
                if frame.dim is None:
                    raise NotImplementedError(
                        f"{type(self).__name__}: site {name!r} is inside the sequential plate "
                        f"{frame.name!r}; autoguides support only vectorised plates "
                        "(use `with pyro.plate(...)` instead of `for i in pyro.plate(...)`)"
                    )
                frames[frame.name] = frame
            site_plates[name] = tuple(frame.name for frame in site.cond_indep_stack)
        self.prototype_trace = prototype
        self._frames = frames
        self._site_plates = site_plates
        self._setup_params()

    def _setup_params(self) -> None:
        """Build the guide's init values from ``self.prototype_trace``."""

    # -- plates ------------------------------------------------------------------------------
    def _create_plates(self, *args: Any, **kwargs: Any) -> dict[str, PlateMessenger]:
        """Fresh plates (one per plate of the model's latents) for one call of the guide.

        A subsampling plate draws its indices here, once per call, and records them.
        """
        plates: dict[str, PlateMessenger] = {}
        if self.create_plates is not None:
            made = self.create_plates(*args, **kwargs)
            if isinstance(made, PlateMessenger):
                made = [made]
            plates = {p.name: p for p in made}
        for name, frame in self._frames.items():
            if name not in plates:
                plates[name] = _plate_like(frame)
        return plates

    @contextmanager
    def _plates_of(self, plates: dict[str, PlateMessenger], name: str) -> Iterator[None]:
        """Enter the plates site ``name`` sits in, outermost first."""
        with ExitStack() as stack:
            for plate_name in self._site_plates[name]:
                stack.enter_context(plates[plate_name])
            yield

    def _sample_sites(self, plates: dict[str, PlateMessenger]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- helpers for subclasses --------------------------------------------------------------
    def _read_param(self, name: str, init: torch.Tensor, constraint: Any, event_dim: int):
        """The constrained value of store param ``name`` without sending a message."""
        return get_param_store().get_param(name, init, constraint, event_dim)


def _plate_like(frame: CondIndepStackFrame) -> PlateMessenger:
    """A fresh plate with the name, sizes and dim of the model's plate ``frame``."""
    size = frame.full_size if frame.full_size >= 0 else None
    subsample_size = frame.size if frame.size >= 0 else None
    return plate(frame.name, size, subsample_size=subsample_size, dim=frame.dim)


def repeat_to_full_size(
    value: torch.Tensor, cond_indep_stack: tuple, event_dim: int
) -> torch.Tensor:
    """Tile ``value`` periodically along each subsampled plate's dim to the plate's full size.

    The prototype trace holds values of the subsample size; params need the full size, so
    that a subsampling plate can slice them with its indices.
    """
    for frame in cond_indep_stack:
        if frame.dim is None or frame.full_size < 0 or frame.full_size == frame.size:
            continue
        dim = frame.dim - event_dim
        index = torch.arange(frame.full_size, device=value.device) % value.shape[dim]
        value = value.index_select(dim, index)
    return value.contiguous()


def constrain_with_log_density(part: Any, u: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """The constrained value of the unconstrained draw ``u`` of a site (or flattened block)
    ``part`` (with ``identity``, ``transform``, ``event_dim``), and the log density its Delta
    carries: minus the log-Jacobian summed over the site's event dims (0 for real support)."""
    if part.identity:
        return u, 0.0
    value = part.transform(u)
    log_density = -part.transform.log_abs_det_jacobian(u, value)
    return value, sum_rightmost(log_density, log_density.dim() - value.dim() + part.event_dim)
