"""The potential energy of a model over an unconstrained vector, batched over chains.

:func:`initialize_model` turns a model into a :class:`ModelPotential`: every latent site is
mapped to an unconstrained real vector through ``biject_to(site.fn.support)``, the sites are
laid out side by side in one flat vector of D coordinates, and

    U(z) = -log p(data, constrain(z)) - log|det J_constrain(z)|

is evaluated for C chains at once, ``z`` of shape ``(C, D)``; one ``torch.autograd.grad`` of
the sum over chains gives every chain's gradient (chains are independent). The model is an
ordinary single-chain model, and one of three ways of running it for all chains is chosen
when the potential is built (``ModelPotential.mode``):

- ``"broadcast"`` (fastest): one run of the model with every latent value carrying a chain
  dim left of the model's batch dims, as an outer plate would. Used when it gives the same
  energies and gradients as ``"vmap"`` at the initial points; a model that mixes a latent
  into matrix products (``X @ w``) or reads shapes of latents fails that check.
- ``"vmap"``: the single-chain potential vectorised with ``torch.func.vmap``; works for any
  model written with tensor operations.
- ``"loop"``: a Python loop over chains, with a warning, for models vmap cannot run
  (Python control flow on tensor values, ``.item()``, random draws inside the model).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from pyrolite import poutine
from pyrolite.distributions import biject_to
from pyrolite.infer.autoguide.initialization import InitMessenger, init_to_uniform
from pyrolite.infer.mcmc.integrator import potential_and_grad_from
from pyrolite.infer.mcmc.potential_messenger import PotentialMessenger
from pyrolite.poutine.trace_struct import Trace, is_subsample
from pyrolite.primitives import validation_enabled

__all__ = ["ModelPotential", "initialize_model"]

MAX_INIT_TRIES = 100


class ModelPotential:
    """A model's potential energy over a flat unconstrained vector, for C chains at once.

    Attributes: ``init_params`` (C, D) unconstrained initial point of each chain;
    ``transforms`` (site name -> ``biject_to(support)`` of the first run);
    ``site_shapes`` (site name -> constrained shape); ``model_trace`` (a trace of the model at
    chain 0's initial point); ``num_evaluations`` (calls to :meth:`potential_and_grad`);
    ``vectorized`` (False when the model runs chain by chain, see the module docstring).
    """

    def __init__(
        self,
        model: Callable,
        model_args: tuple,
        model_kwargs: dict,
        layout: dict[str, tuple[int, int, torch.Size]],
        site_shapes: dict[str, torch.Size],
        transforms: dict[str, Any],
        model_trace: Trace,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self.overrides = overrides
        self.model = model
        self.model_args = model_args
        self.model_kwargs = model_kwargs
        self.layout = layout
        self.site_shapes = site_shapes
        self.transforms = transforms
        self.model_trace = model_trace
        self.num_evaluations = 0
        self.mode = "vmap"
        self.vmap_works = True
        self.nesting = max(
            (len(site.fn.batch_shape) for site in _sample_sites(model_trace)), default=0
        )
        self.init_params: torch.Tensor | None = None
        self.num_dims = sum(stop - start for start, stop, _ in layout.values())
        self._batched_energy = torch.func.vmap(self._energy)
        self._batched_values = torch.func.vmap(self._values)
        self._energies_and_grad = potential_and_grad_from(self._energies)

    # -- one chain ------------------------------------------------------------------------
    def _run(self, z: torch.Tensor, record: bool) -> PotentialMessenger:
        messenger = PotentialMessenger(z, self.layout, record=record, transforms=self.overrides)
        with messenger:
            self.model(*self.model_args, **self.model_kwargs)
        return messenger

    def _energy(self, z: torch.Tensor) -> torch.Tensor:
        """U(z) of one chain, ``z`` of shape (D,) -> scalar."""
        messenger = self._run(z, record=False)
        return -(messenger.log_joint + messenger.log_det)

    def _values(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Constrained latent and deterministic values of one chain, ``z`` (D,)."""
        return self._run(z, record=True).values

    # -- all chains -----------------------------------------------------------------------
    def _energies(self, z: torch.Tensor) -> torch.Tensor:
        if self.mode == "broadcast":
            messenger = PotentialMessenger(
                z, self.layout, record=False, nesting=self.nesting, transforms=self.overrides
            )
            with messenger:
                self.model(*self.model_args, **self.model_kwargs)
            return -(messenger.log_joint + messenger.log_det)
        if z.shape[0] == 1:  # one chain needs no vectorising; vmap would only add overhead
            return self._energy(z[0]).unsqueeze(0)
        if self.mode == "vmap":
            return self._batched_energy(z)
        return torch.stack([self._energy(z_c) for z_c in z])

    def potential_fn(self, z: torch.Tensor) -> torch.Tensor:
        """U(z) for every chain: ``z`` (C, D) -> (C,), without gradient."""
        with torch.no_grad(), validation_enabled(False):
            return self._energies(z)

    def potential_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """U(z) and dU/dz for every chain: ``z`` (C, D) -> ((C,), (C, D)), both detached."""
        self.num_evaluations += 1
        return self._potential_and_grad(z)

    def _potential_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with validation_enabled(False):
            return self._energies_and_grad(z)

    def constrain(
        self, z: torch.Tensor, include_deterministic: bool = False
    ) -> dict[str, torch.Tensor]:
        """Constrained values of every latent site: ``z`` (N, D) -> {name: (N, *site_shape)}.

        With ``include_deterministic=True`` the model's ``deterministic`` sites are added.
        Any number N of rows (chains, or draws of all chains flattened) in one call.
        """
        with torch.no_grad(), validation_enabled(False):
            values = None
            if self.vmap_works:
                try:
                    values = self._batched_values(z)
                except Exception:  # noqa: BLE001 - e.g. one chain, where vmap was never tried
                    self.vmap_works = False
            if values is None:
                rows = [self._values(z_n) for z_n in z]
                values = {name: torch.stack([r[name] for r in rows]) for name in rows[0]}
        if not include_deterministic:
            values = {name: values[name] for name in self.layout}
        return values

    def unconstrain(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """The flat unconstrained point of constrained ``values`` {name: (C, *site_shape)}
        -> (C, D). Supports are read from a run of the model at each chain's values, so a
        support that depends on other latents is handled."""
        num_chains = next(iter(values.values())).shape[0]
        rows = []
        for c in range(num_chains):
            chain_values = {name: v[c] for name, v in values.items()}
            trace = _trace(poutine.substitute(self.model, data=chain_values), self)
            rows.append(self._flatten(trace))
        return torch.stack(rows)

    def _flatten(self, trace: Trace) -> torch.Tensor:
        """The unconstrained flat vector (D,) of the latent values in ``trace``."""
        parts = []
        for name in self.layout:
            site = trace.nodes[name]
            parts.append(_to_unconstrained(site, self.overrides)(site.value).reshape(-1))
        return torch.cat(parts) if parts else torch.zeros(0)


def initialize_model(
    model: Callable,
    model_args: tuple = (),
    model_kwargs: dict | None = None,
    *,
    num_chains: int = 1,
    init_strategy: Callable = init_to_uniform,
    initial_params: dict[str, torch.Tensor] | None = None,
    max_plate_nesting: int | None = None,
    transforms: dict[str, Any] | None = None,
) -> ModelPotential:
    """Build the chain-batched potential of ``model`` and a valid start for each chain.

    Each chain draws its own initial point from ``init_strategy`` (a constrained-value
    strategy from :mod:`pyrolite.infer.autoguide.initialization`); a draw whose potential or
    gradient is not finite is redrawn, up to 100 times, after which a ``ValueError`` names the
    sites with a non-finite density. ``initial_params`` ({name: (C, *shape) or (*shape)},
    *unconstrained* values, as in Pyro) fixes the start of the sites it names.
    ``transforms`` ({site: transform from its support to the reals}) replaces
    ``biject_to(support)`` for the sites it names.

    Returns a :class:`ModelPotential` with ``init_params`` of shape (C, D).
    ``max_plate_nesting`` is accepted for Pyro compatibility; chains are vectorised with
    ``vmap``, so the model's plates need no room for an extra chain dim.

    Example::

        info = initialize_model(model, (x, y), num_chains=4)
        energy, grad = info.potential_and_grad(info.init_params)   # (4,), (4, D)
    """
    model_kwargs = {} if model_kwargs is None else model_kwargs
    if num_chains < 1:
        raise ValueError(f"num_chains must be at least 1, got {num_chains}")
    per_chain = per_chain_values(initial_params, num_chains)

    device = device_of(model_args, model_kwargs)

    def chain_strategy(c: int) -> Callable:
        given = {} if per_chain is None else per_chain[c]

        def strategy(site: Any) -> torch.Tensor:
            name = site["name"]
            if name in given:
                value = _to_unconstrained(site, transforms).inv(given[name])
            else:
                value = init_strategy(site)
            # Priors built from Python numbers draw on the CPU: move init values to the data.
            return value if device is None else value.to(device)

        return strategy

    def draw(c: int) -> Trace:
        return _trace(InitMessenger(chain_strategy(c))(model), model_args, model_kwargs)

    prototype = draw(0)
    potential = _build(model, model_args, model_kwargs, prototype, transforms)
    if per_chain is not None:
        unknown = sorted(set(per_chain[0]) - set(potential.layout))
        if unknown:
            raise ValueError(
                f"initial_params names {unknown}, which are not latent sample sites of the "
                f"model; its latent sites are {sorted(potential.layout)}"
            )

    traces = [prototype] + [draw(c) for c in range(1, num_chains)]
    z = torch.stack([potential._flatten(tr) for tr in traces])
    if per_chain is not None:  # the given unconstrained values exactly, not a round trip
        for c, given in enumerate(per_chain):
            for name, value in given.items():
                start, stop, _ = potential.layout[name]
                z[c, start:stop] = value.reshape(-1).to(z)
    _choose_vectorization(potential, z)
    # float32 init draws in a model with float64 data: the chains run in the wider dtype.
    z = z.to(torch.promote_types(z.dtype, potential.potential_fn(z).dtype))
    for _ in range(MAX_INIT_TRIES):
        energy, grad = potential.potential_and_grad(z)
        bad = ~(torch.isfinite(energy) & torch.isfinite(grad).all(-1))
        if not bool(bad.any()):
            break
        for c in bad.nonzero().flatten().tolist():
            z[c] = potential._flatten(draw(c))
    else:
        raise ValueError(_init_failure(potential, z, bad))
    potential.num_evaluations = 0
    potential.init_params = z
    return potential


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


def device_of(args: tuple, kwargs: dict) -> torch.device | None:
    """The device of the first tensor among a model's arguments (None if there is none)."""
    found = _tensors((args, kwargs))
    return found[0].device if found else None


def _trace(model: Callable, *args: Any) -> Trace:
    if len(args) == 1:  # a ModelPotential: use its arguments
        args = (args[0].model_args, args[0].model_kwargs)
    model_args, model_kwargs = args
    return poutine.trace(model).get_trace(*model_args, **model_kwargs)


def _to_unconstrained(site: Any, overrides: dict[str, Any] | None) -> Any:
    """The transform from the site's support to the reals (Pyro's per-site transform)."""
    if overrides is not None and site["name"] in overrides:
        return overrides[site["name"]]
    return biject_to(site["fn"].support).inv


def _build(
    model: Callable,
    model_args: tuple,
    model_kwargs: dict,
    trace: Trace,
    overrides: dict[str, Any] | None = None,
) -> ModelPotential:
    """Lay the latent sites of ``trace`` out in one flat unconstrained vector."""
    for site in trace.nodes.values():
        if is_subsample(site):
            size, subsample_size = getattr(site.fn, "size", None), site.value.numel()
            if size is not None and subsample_size < size:
                raise RuntimeError(
                    f"HMC/NUTS does not support model with subsample sites: plate {site.name!r} "
                    f"draws {subsample_size} of {size} indices; MCMC needs the full data "
                    "(drop subsample_size)"
                )
    layout, site_shapes, transforms = {}, {}, {}
    start = 0
    discrete = []
    for name in trace.stochastic_nodes:
        site = trace.nodes[name]
        if site.fn.support.is_discrete:
            discrete.append(f"{name!r} ({type(site.fn).__name__})")
            continue
        transform = _to_unconstrained(site, overrides).inv
        shape = transform.inv(site.value).shape
        size = shape.numel()
        layout[name] = (start, start + size, shape)
        site_shapes[name] = site.value.shape
        transforms[name] = transform
        start += size
    if discrete:
        raise ValueError(
            f"HMC/NUTS need continuous latent sites, but {', '.join(discrete)} have a discrete "
            "support. Sum them out by hand in the model (e.g. a mixture distribution), or "
            "observe them."
        )
    if not layout:
        raise ValueError("the model has no latent sample sites: there is nothing to sample")
    return ModelPotential(
        model, model_args, model_kwargs, layout, site_shapes, transforms, trace, overrides
    )


def _sample_sites(trace: Trace) -> list:
    return [
        site for site in trace.nodes.values() if site.type == "sample" and not is_subsample(site)
    ]


def _choose_vectorization(potential: ModelPotential, z: torch.Tensor) -> None:
    """Pick the fastest way of running the model for all chains that agrees with vmap."""
    # Distinct points for every chain, so that a mix-up between chains shows.
    z = z + 0.1 * torch.randn_like(z)
    try:
        reference = potential.potential_and_grad(z)
    except Exception as err:  # vmap refuses many things; find out if the loop works
        potential.mode, potential.vmap_works = "loop", False
        reference = potential.potential_and_grad(z)  # a genuine model error is raised here
        reason = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    potential.mode, mode = "broadcast", potential.mode
    try:
        energy, grad = potential.potential_and_grad(z)
        agrees = energy.shape == reference[0].shape and _close(energy, reference[0])
        agrees = agrees and _close(grad, reference[1])
    except Exception:
        agrees = False
    if agrees:
        return
    potential.mode = mode
    if mode == "loop":
        warnings.warn(
            f"The model cannot be vectorised over chains with torch.func.vmap ({reason}); its "
            "chains are evaluated one by one in a Python loop, which is slower. Avoid Python "
            "control flow on tensor values, .item() and random draws inside the model to "
            "vectorise it.",
            stacklevel=3,
        )


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    tol = 1e-4 if a.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-8
    return bool(torch.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))


def per_chain_values(
    initial_params: dict[str, torch.Tensor] | None, num_chains: int
) -> list[dict[str, torch.Tensor]] | None:
    """Split ``initial_params`` into one dict per chain ((C, *shape) rows or shared)."""
    if initial_params is None:
        return None
    if isinstance(initial_params, torch.Tensor):
        raise TypeError(
            "initial_params for a model is a dict {site name: constrained value}; a flat "
            "(C, D) tensor is for kernels built from potential_fn"
        )
    chains: list[dict[str, torch.Tensor]] = [{} for _ in range(num_chains)]
    for name, value in initial_params.items():
        value = torch.as_tensor(value)
        for c in range(num_chains):
            chains[c][name] = _chain_value(name, value, c, num_chains)
    return chains


def _chain_value(name: str, value: torch.Tensor, c: int, num_chains: int) -> torch.Tensor:
    # A leading dim of size C is read as per-chain; anything else is shared by every chain
    # (its shape is checked against the site when the model runs).
    if num_chains > 1 and value.dim() > 0 and value.shape[0] == num_chains:
        return value[c]
    return value


def _init_failure(potential: ModelPotential, z: torch.Tensor, bad: torch.Tensor) -> str:
    c = int(bad.nonzero()[0])
    values = potential.constrain(z[c : c + 1])
    chain_values = {name: v[0] for name, v in values.items()}
    with validation_enabled(False):
        trace = _trace(poutine.substitute(potential.model, data=chain_values), potential)
        sites = trace.nonfinite_sites()
    where = f"non-finite log density at site(s) {sites}" if sites else "a non-finite gradient"
    return (
        f"Could not find a valid initial point for chain {c} in {MAX_INIT_TRIES} tries: "
        f"{where}. Give initial_params inside the region of positive density, use another "
        "init_strategy (e.g. init_to_median or init_to_sample), or check the model's data."
    )
