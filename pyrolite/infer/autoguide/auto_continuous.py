"""Guides over one flat vector of all the model's latents, in the unconstrained space.

``AutoContinuous`` lays the unconstrained value of every latent site (plates included) end
to end in a vector of size ``latent_dim``, in the prototype trace's site order. A subclass
gives a distribution ``q`` over that vector (``get_posterior``). One call of the guide:

1. draws ``u ~ q`` at the auxiliary site ``"_{prefix}_latent"`` (``is_auxiliary``);
2. cuts ``u`` into the sites' unconstrained values ``u_i``, maps ``z_i = T_i(u_i)`` with
   ``T_i = biject_to(support_i)``;
3. records each ``z_i`` at its site as ``Delta(z_i, log_density=-log|det dT_i/du_i|)``
   inside the site's plates.

So the guide's total log density is ``log q(u) - sum_i log|det dT_i/du_i|``, the density of
the latents ``z`` under the pushed-forward ``q``. Subsampled plates around latents are not
supported (the vector would have to hold a whole data set's local latents).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
from torch.distributions.transforms import Transform

import pyrolite.distributions as dist
from pyrolite.distributions import biject_to, constraints
from pyrolite.distributions.constraint_registry import is_identity
from pyrolite.infer.autoguide.guide import AutoGuide, constrain_with_log_density
from pyrolite.infer.autoguide.initialization import init_to_median
from pyrolite.poutine.plate_messenger import PlateMessenger
from pyrolite.primitives import param, sample

__all__ = [
    "AutoContinuous",
    "AutoDiagonalNormal",
    "AutoLowRankMultivariateNormal",
    "AutoMultivariateNormal",
]


class _Block(NamedTuple):
    """Where one site sits in the latent vector."""

    name: str
    transform: Transform
    identity: bool
    start: int
    size: int
    unconstrained_shape: torch.Size
    event_dim: int  # constrained event dims (fn.event_dim)
    unconstrained_event_dim: int


class AutoContinuous(AutoGuide):
    """Base of the guides over the flattened latent vector (see the module docstring).

    ``init_loc_fn`` (default :func:`init_to_median`) gives the initial latent values, whose
    unconstrained images make the initial ``loc``. Subclasses define ``_setup_posterior``,
    ``get_posterior`` and ``_loc_scale``.
    """

    def __init__(
        self,
        model: Callable,
        init_loc_fn: Callable = init_to_median,
        *,
        create_plates: Callable | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(model, create_plates=create_plates, prefix=prefix)
        self.init_loc_fn = init_loc_fn
        self.latent_dim = 0

    def _setup_params(self) -> None:
        blocks, pieces, start = [], [], 0
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            for frame in site.cond_indep_stack:
                if frame.full_size != frame.size:
                    raise NotImplementedError(
                        f"{type(self).__name__}: site {name!r} is inside the subsampled plate "
                        f"{frame.name!r}; guides over a flattened latent vector do not support "
                        "subsampling. Use AutoNormal or AutoDelta for local latents."
                    )
            transform = biject_to(site.fn.support)
            value = site.value.detach()
            u = transform.inv(value).detach()
            u_event_dim = site.fn.event_dim + u.dim() - value.dim()
            blocks.append(
                _Block(
                    name,
                    transform,
                    is_identity(transform),
                    start,
                    u.numel(),
                    u.shape,
                    site.fn.event_dim,
                    u_event_dim,
                )
            )
            pieces.append(u.reshape(-1))
            start += u.numel()
        if start == 0:
            raise RuntimeError(
                f"{type(self).__name__} found no continuous latent variables in the model "
                "(its latent vector would be empty); a model with only observed sites needs "
                "no guide"
            )
        self._blocks: list[_Block] = blocks
        self.latent_dim = start
        self._init_loc = torch.cat(pieces)
        self._setup_posterior()

    # -- the distribution over the latent vector ---------------------------------------------
    def _setup_posterior(self) -> None:
        """Create the init values of the posterior's params (``self._init_loc`` is set)."""
        raise NotImplementedError

    def get_posterior(self) -> torch.distributions.Distribution:
        """The distribution ``q`` of the unconstrained latent vector (event shape
        ``(latent_dim,)``), built from params read through ``pyro.param``."""
        raise NotImplementedError

    def _loc_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and the marginal standard deviations of ``q``, each ``(latent_dim,)``."""
        raise NotImplementedError

    def _param(self, suffix: str, init: torch.Tensor, constraint: Any = constraints.real):
        name = self._param_name(suffix)
        return param(name, init, constraint=constraint, event_dim=init.dim())

    # -- sampling ----------------------------------------------------------------------------
    def sample_latent(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Draw the unconstrained latent vector at site ``"_{prefix}_latent"``."""
        self._ensure_setup(args, kwargs)
        # cached with the param names, so a new prefix (AutoGuideList) resets it too
        latent_name = self._names.get(("_latent",))
        if latent_name is None:
            latent_name = self._names[("_latent",)] = f"_{self.prefix}_latent"
        return sample(latent_name, self.get_posterior(), infer={"is_auxiliary": True})

    def _unpack_latent(self, latent: torch.Tensor) -> Iterator[tuple[_Block, torch.Tensor]]:
        """Cut ``latent`` (shape ``batch + (latent_dim,)``) into each site's unconstrained
        value; a batch shape (e.g. from a particle plate) is kept on the left."""
        batch_shape = latent.shape[:-1]
        for block in self._blocks:
            piece = latent[..., block.start : block.start + block.size]
            shape = torch.broadcast_shapes(
                block.unconstrained_shape, batch_shape + (1,) * block.unconstrained_event_dim
            )
            yield block, piece.reshape(shape)

    def _sample_sites(self, plates: dict[str, PlateMessenger]) -> dict[str, torch.Tensor]:
        latent = self.sample_latent()
        result = {}
        for block, u in self._unpack_latent(latent):
            value, log_density = constrain_with_log_density(block, u)
            point = dist.Delta(value, log_density=log_density, event_dim=block.event_dim)
            with self._plates_of(plates, block.name):
                result[block.name] = sample(block.name, point)
        return result

    # -- summaries ---------------------------------------------------------------------------
    def _constrain(self, latent: torch.Tensor) -> dict[str, torch.Tensor]:
        return {b.name: b.transform(u).detach() for b, u in self._unpack_latent(latent)}

    @torch.no_grad()
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """``{name: T(loc piece)}``: the image of ``q``'s mean (its median, for a Normal)."""
        self._ensure_setup(args, kwargs)
        loc, _ = self._loc_scale()
        return self._constrain(loc)

    @torch.no_grad()
    def quantiles(
        self, quantiles: list[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Marginal quantiles ``T(Normal(loc, sd).icdf(q))`` per site, each of shape
        ``(len(quantiles),) + site shape`` (exact for elementwise monotone transforms)."""
        self._ensure_setup(args, kwargs)
        loc, scale = self._loc_scale()
        q = torch.as_tensor(quantiles, dtype=loc.dtype, device=loc.device).reshape(-1, 1)
        latents = dist.Normal(loc, scale).icdf(q)
        per_q = [self._constrain(latent) for latent in latents]
        return {name: torch.stack([r[name] for r in per_q]) for name in per_q[0]}

    def _read(self, suffix: str, init: torch.Tensor, constraint: Any = constraints.real):
        return self._read_param(self._param_name(suffix), init, constraint, init.dim())


class AutoDiagonalNormal(AutoContinuous):
    """``q = Normal(loc, scale).to_event(1)`` over the latent vector.

    Params: ``"{prefix}.loc"`` (real, ``(latent_dim,)``) and ``"{prefix}.scale"``
    (``softplus_positive``, ``(latent_dim,)``, initially ``init_scale``).
    """

    def __init__(
        self,
        model: Callable,
        init_loc_fn: Callable = init_to_median,
        init_scale: float = 0.1,
        **kwargs: Any,
    ) -> None:
        if not init_scale > 0:
            raise ValueError(f"AutoDiagonalNormal: init_scale must be positive, got {init_scale}")
        super().__init__(model, init_loc_fn, **kwargs)
        self.init_scale = init_scale

    def _setup_posterior(self) -> None:
        self._init_scale = torch.full_like(self._init_loc, self.init_scale)

    def get_posterior(self) -> torch.distributions.Distribution:
        loc = self._param("loc", self._init_loc)
        scale = self._param("scale", self._init_scale, constraints.softplus_positive)
        return dist.Normal(loc, scale).to_event(1)

    def _loc_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        loc = self._read("loc", self._init_loc)
        return loc, self._read("scale", self._init_scale, constraints.softplus_positive)


class AutoMultivariateNormal(AutoContinuous):
    """``q = MultivariateNormal(loc, scale_tril=L)`` over the latent vector.

    Params: ``"{prefix}.loc"`` (real, ``(latent_dim,)``) and ``"{prefix}.scale_tril"``
    (``lower_cholesky``, ``(latent_dim, latent_dim)``, initially ``init_scale * I``). The
    covariance is ``L @ L.T``.
    """

    def __init__(
        self,
        model: Callable,
        init_loc_fn: Callable = init_to_median,
        init_scale: float = 0.1,
        **kwargs: Any,
    ) -> None:
        if not init_scale > 0:
            raise ValueError(
                f"AutoMultivariateNormal: init_scale must be positive, got {init_scale}"
            )
        super().__init__(model, init_loc_fn, **kwargs)
        self.init_scale = init_scale

    def _setup_posterior(self) -> None:
        eye = torch.eye(self.latent_dim, dtype=self._init_loc.dtype, device=self._init_loc.device)
        self._init_scale_tril = eye * self.init_scale

    def get_posterior(self) -> torch.distributions.Distribution:
        loc = self._param("loc", self._init_loc)
        scale_tril = self._param("scale_tril", self._init_scale_tril, constraints.lower_cholesky)
        return dist.MultivariateNormal(loc, scale_tril=scale_tril)

    def _loc_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        loc = self._read("loc", self._init_loc)
        scale_tril = self._read("scale_tril", self._init_scale_tril, constraints.lower_cholesky)
        return loc, scale_tril.pow(2).sum(-1).sqrt()


class AutoLowRankMultivariateNormal(AutoContinuous):
    """``q`` with covariance ``D (W W^T + I) D``, ``D = diag(scale)``, over the latent vector.

    Params: ``"{prefix}.loc"`` (real, ``(latent_dim,)``), ``"{prefix}.scale"``
    (``softplus_positive``, ``(latent_dim,)``, initially ``init_scale / sqrt(2)``) and
    ``"{prefix}.cov_factor"`` (real, ``(latent_dim, rank)``, initially
    ``Normal(0, 1/sqrt(rank))`` draws, so the initial marginal sd is about ``init_scale``).
    ``rank`` defaults to ``round(sqrt(latent_dim))``.
    """

    def __init__(
        self,
        model: Callable,
        init_loc_fn: Callable = init_to_median,
        init_scale: float = 0.1,
        rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        if rank is not None and (not isinstance(rank, int) or rank <= 0):
            raise ValueError(f"AutoLowRankMultivariateNormal: rank must be > 0, got {rank!r}")
        if not init_scale > 0:
            raise ValueError(
                f"AutoLowRankMultivariateNormal: init_scale must be positive, got {init_scale}"
            )
        super().__init__(model, init_loc_fn, **kwargs)
        self.rank = rank
        self.init_scale = init_scale

    def _setup_posterior(self) -> None:
        if self.rank is None:
            self.rank = max(1, round(self.latent_dim**0.5))
        loc = self._init_loc
        self._init_scale = torch.full_like(loc, self.init_scale * 0.5**0.5)
        self._init_cov_factor = loc.new_empty(self.latent_dim, self.rank).normal_(
            0.0, self.rank**-0.5
        )

    def get_posterior(self) -> torch.distributions.Distribution:
        loc = self._param("loc", self._init_loc)
        scale = self._param("scale", self._init_scale, constraints.softplus_positive)
        cov_factor = self._param("cov_factor", self._init_cov_factor)
        return dist.LowRankMultivariateNormal(loc, cov_factor * scale.unsqueeze(-1), scale * scale)

    def _loc_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        loc = self._read("loc", self._init_loc)
        scale = self._read("scale", self._init_scale, constraints.softplus_positive)
        cov_factor = self._read("cov_factor", self._init_cov_factor)
        return loc, scale * (1 + cov_factor.pow(2).sum(-1)).sqrt()
