"""``MCMC``: runs an HMC/NUTS kernel for C chains in lockstep and keeps the draws.

The runner builds the model's chain-batched potential (:func:`initialize_model`), then
drives the kernel through its protocol::

    state = kernel.init(z0 (C, D), potential_and_grad, num_warmup)
    state = kernel.sample(state)            # num_warmup + num_samples times

Draws of the unconstrained point are written into one preallocated ``(num_samples, C, D)``
tensor (no list of dicts) and constrained once, in one vectorised call, at the end.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import torch

from pyrolite.infer.mcmc.integrator import potential_and_grad_from
from pyrolite.infer.mcmc.potential import ModelPotential, device_of, initialize_model
from pyrolite.infer.mcmc.progress import ProgressBar
from pyrolite.infer.mcmc.run_record import RunRecord
from pyrolite.infer.mcmc.site_potential import SitePotential
from pyrolite.infer.mcmc.summary import print_summary, to_arviz
from pyrolite.infer.mcmc.util import diagnostics as site_diagnostics
from pyrolite.primitives import validation_enabled

__all__ = ["MCMC"]

CHAIN_METHODS = ("vectorized", "sequential")


class MCMC:
    """Markov chain Monte Carlo with Pyro's interface, chains batched on one device.

    Pyro's arguments, in Pyro's order and with Pyro's meaning:

    - ``kernel``: an :class:`~pyrolite.infer.mcmc.HMC` or :class:`~pyrolite.infer.mcmc.NUTS`
      (anything with the kernel protocol above); ``num_samples`` draws per chain after
      ``warmup_steps`` (default ``num_samples``, as in Pyro); ``num_chains`` chains.
    - ``initial_params``: ``{site: unconstrained value}``, with a leading dim of size
      ``num_chains`` when there are several chains (sites not named start from the kernel's
      ``init_strategy``). For a kernel built from Pyro's ``potential_fn`` on dicts it is
      required; for one built from pyrolite's flat ``potential_fn (C, D) -> (C,)`` it is a
      tensor ``(C, D)`` or ``(D,)``.
    - ``hook_fn(kernel, params, stage, i)`` is called after every iteration with the
      unconstrained ``{site: value}`` (a leading chain dim when ``num_chains > 1``),
      ``stage`` ``"Warmup"`` or ``"Sample"`` and ``i`` counted within the stage.
    - ``mp_context``: accepted and unused (chains are a batch dim, not processes).
    - ``disable_progbar``; ``disable_validation`` (True: distribution checks off during the
      run, False: on, None: left as they are).
    - ``transforms``: for a dict ``potential_fn`` kernel, ``{site: transform to the
      unconstrained space}``; draws are returned through ``transform.inv``.
    - ``save_params``: the site names to keep (default: all).

    pyrolite's own, after Pyro's: ``chain_method="vectorized"`` advances all chains together,
    ``"sequential"`` runs them one after another (same results, statistically); ``device``:
    where the chains run (default: the device of the model's tensor arguments).

    Differences from Pyro: ``deterministic`` sites are returned by :meth:`get_samples` next
    to the latent sites; for a flat ``potential_fn`` kernel the draws are one site ``"z"`` of
    shape (D,).

    Example::

        mcmc = MCMC(NUTS(model), num_samples=500, warmup_steps=500, num_chains=4)
        mcmc.run(x, y)
        mcmc.get_samples(group_by_chain=True)["w"].shape   # (4, 500, *w_shape)
    """

    def __init__(
        self,
        kernel: Any,
        num_samples: int,
        warmup_steps: int | None = None,
        initial_params: dict[str, torch.Tensor] | torch.Tensor | None = None,
        num_chains: int = 1,
        hook_fn: Callable | None = None,
        mp_context: str | None = None,
        disable_progbar: bool = False,
        disable_validation: bool | None = True,
        transforms: dict[str, Any] | None = None,
        save_params: list[str] | None = None,
        chain_method: str = "vectorized",
        device: str | torch.device | None = None,
    ) -> None:
        if chain_method not in CHAIN_METHODS:
            raise ValueError(f"chain_method must be one of {CHAIN_METHODS}, got {chain_method!r}")
        if num_samples < 1 or num_chains < 1:
            raise ValueError(
                f"num_samples and num_chains must be positive, got {num_samples}, {num_chains}"
            )
        if isinstance(initial_params, dict) and num_chains > 1:
            for value in initial_params.values():
                if torch.as_tensor(value).dim() == 0 or len(value) != num_chains:
                    raise ValueError(
                        "The leading dimension of tensors in `initial_params` must match the "
                        "number of chains."
                    )
        self.kernel = kernel
        self.num_samples = num_samples
        self.warmup_steps = num_samples if warmup_steps is None else warmup_steps
        self.num_chains = num_chains
        self.initial_params = initial_params
        self.hook_fn = hook_fn
        self.mp_context = mp_context
        self.disable_progbar = disable_progbar
        self.disable_validation = disable_validation
        self.transforms = transforms
        self.save_params = save_params
        self.chain_method = chain_method
        self.device = None if device is None else torch.device(device)
        self.potential: ModelPotential | None = None
        self._site_potential: SitePotential | None = None
        self._record: RunRecord | None = None
        self._samples: dict[str, torch.Tensor] | None = None

    # -- running --------------------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> None:
        """Run warmup and sampling for every chain on the model's arguments."""
        device = self.device or device_of(args, kwargs)
        if device is not None:
            args, kwargs = _to_device((args, kwargs), device)
        validation = self.disable_validation
        with optional_validation(None if validation is None else not validation):
            if self.chain_method == "vectorized":
                records = [self._run_chains(self.num_chains, self._initial(), args, kwargs)]
            else:
                records = [
                    self._run_chains(1, self._chain_initial(c), args, kwargs, f"[chain {c}]")
                    for c in range(self.num_chains)
                ]
        self._record = RunRecord.concat(records)
        samples = self._constrain(self._record.draws)
        if self.save_params is not None:
            samples = {name: samples[name] for name in self.save_params}
        self._samples = samples

    def _initial(self) -> Any:
        """``initial_params``, else the kernel's (Pyro's ``kernel.initial_params``, shared by
        every chain)."""
        if self.initial_params is not None:
            return self.initial_params
        return getattr(self.kernel, "initial_params", None)

    def _chain_initial(self, c: int) -> Any:
        init = self.initial_params
        if init is None:
            return self._initial()
        if isinstance(init, torch.Tensor):
            return init[c : c + 1] if init.dim() == 2 else init
        if self.num_chains == 1:
            return init
        return {name: torch.as_tensor(value)[c] for name, value in init.items()}

    def _run_chains(
        self, num_chains: int, initial_params: Any, args: tuple, kwargs: dict, label: str = ""
    ) -> RunRecord:
        z0, potential_and_grad, layout = self._initialize(num_chains, initial_params, args, kwargs)
        kernel = self.kernel
        num_warmup = self.warmup_steps
        record = RunRecord.empty(num_warmup, self.num_samples, z0)
        bar = ProgressBar(num_warmup, self.num_samples, not self.disable_progbar, label)
        hook = self.hook_fn
        extra = {"layout": layout} if _accepts_layout(kernel) else {}
        try:
            state = kernel.init(z0, potential_and_grad, num_warmup, **extra)
            for i in range(num_warmup + self.num_samples):
                state = kernel.sample(state)
                record.store(i, state)
                bar.update(i, state)
                if hook is not None:
                    stage, j = ("Warmup", i) if i < num_warmup else ("Sample", i - num_warmup)
                    if label:
                        stage = f"{stage} {label}"
                    hook(kernel, self._unflatten(state.z, layout), stage, j)
        finally:
            bar.close()
        record.finish(state)
        return record

    def _unflatten(self, z: torch.Tensor, layout: dict) -> dict[str, torch.Tensor]:
        """Unconstrained ``{site: (C, *shape)}`` of ``z (C, D)``; no chain dim for one chain."""
        out = {}
        for name, (start, stop, shape) in layout.items():
            value = z[:, start:stop].reshape((z.shape[0],) + tuple(shape))
            out[name] = value[0] if self.num_chains == 1 else value
        return out

    def _initialize(
        self, num_chains: int, initial_params: Any, args: tuple, kwargs: dict
    ) -> tuple[torch.Tensor, Callable, dict]:
        """The chains' starting point (C, D), the batched potential-and-gradient and the
        layout of the sites in the flat vector."""
        kernel = self.kernel
        device = self.device or device_of(args, kwargs)
        if getattr(kernel, "model", None) is not None:
            self.potential = initialize_model(
                kernel.model,
                args,
                kwargs,
                num_chains=num_chains,
                init_strategy=kernel.init_strategy,
                initial_params=initial_params,
                max_plate_nesting=getattr(kernel, "max_plate_nesting", None),
                transforms=getattr(kernel, "transforms", None),
            )
            z0 = self.potential.init_params
            if device is not None:
                z0 = z0.to(device)
            return z0, self.potential.potential_and_grad, self.potential.layout
        if getattr(kernel, "potential_fn", None) is None:
            raise ValueError("the kernel has neither a model nor a potential_fn")
        if isinstance(initial_params, dict):
            values = {k: torch.as_tensor(v) for k, v in initial_params.items()}
            if num_chains == 1:
                values = {k: v.unsqueeze(0) for k, v in values.items()}
            sites = SitePotential(kernel.potential_fn, {k: v.shape[1:] for k, v in values.items()})
            self._site_potential = sites
            z0 = sites.flatten(values, num_chains).detach().clone()
            if device is not None:
                z0 = z0.to(device)
            return z0, potential_and_grad_from(sites), sites.layout
        if initial_params is None or not isinstance(initial_params, torch.Tensor):
            raise ValueError(
                "Must provide valid initial parameters to begin sampling when using "
                "`potential_fn` in HMC/NUTS kernel: a kernel built from potential_fn needs "
                "initial_params, a dict {site: unconstrained value} (Pyro's potential_fn on "
                "dicts) or a tensor (C, D) of unconstrained starting points (or (D,) shared by "
                "every chain)"
            )
        z0 = initial_params.expand(num_chains, initial_params.shape[-1]).clone()
        if device is not None:
            z0 = z0.to(device)
        dim = z0.shape[-1]
        return z0, potential_and_grad_from(kernel.potential_fn), {"z": (0, dim, (dim,))}

    def _constrain(self, draws: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unconstrained draws (C, n, D) -> {name: (C, n, *site_shape)}, one batched call."""
        num_chains, num_draws, dims = draws.shape
        if self._site_potential is not None:
            values = self._site_potential.unflatten(draws.reshape(-1, dims))
            transforms = self.transforms or {}
            return {
                name: (transforms[name].inv(v) if name in transforms else v).reshape(
                    (num_chains, num_draws) + v.shape[1:]
                )
                for name, v in values.items()
            }
        if self.potential is None:
            return {"z": draws}
        flat = self.potential.constrain(draws.reshape(-1, dims), include_deterministic=True)
        return {
            name: value.reshape((num_chains, num_draws) + value.shape[1:])
            for name, value in flat.items()
        }

    # -- results --------------------------------------------------------------------------
    def _require_run(self) -> dict[str, torch.Tensor]:
        if self._samples is None:
            raise RuntimeError("MCMC has no draws yet: call mcmc.run(*model_args) first")
        return self._samples

    def get_samples(
        self, num_samples: int | None = None, group_by_chain: bool = False
    ) -> dict[str, torch.Tensor]:
        """Constrained draws {name: (C * n, *site_shape)}, or (C, n, *site_shape) with
        ``group_by_chain=True``. ``num_samples`` picks that many draws at random (with
        replacement, as Pyro does) from all chains (per chain when grouped)."""
        samples = self._require_run()
        if not group_by_chain:
            samples = {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}
        if num_samples is not None:
            dim = 1 if group_by_chain else 0
            size = next(iter(samples.values())).shape[dim]
            index = torch.randint(0, size, (num_samples,))
            samples = {k: v.index_select(dim, index.to(v.device)) for k, v in samples.items()}
        return samples

    @property
    def num_divergences(self) -> int:
        """Divergent transitions after warmup, over all chains."""
        self._require_run()
        return int(self._record.diverging[:, self.warmup_steps :].sum())

    def diagnostics(self) -> dict[str, Any]:
        """Per site ``{"n_eff": (*shape), "r_hat": (*shape)}``; and, per chain,
        ``"divergences"`` (draw indices), ``"acceptance rate"``, ``"step size"``,
        ``"mean num steps"`` (leapfrog steps per draw), ``"mean tree depth"`` and
        ``"E-BFMI"`` (Stan's energy diagnostic; below 0.3 flags poor exploration)."""
        samples = self._require_run()
        result: dict[str, Any] = {}
        for name, stats in site_diagnostics(samples).items():
            result[name] = {"n_eff": stats["n_eff"], "r_hat": stats["r_hat"]}
        result.update(self._record.chain_stats(self.warmup_steps))
        return result

    def summary(self, prob: float = 0.9) -> None:
        """Print mean, sd, median, the ``prob`` interval, bulk ESS and split R-hat per
        parameter, and the number of divergences."""
        print_summary(self._require_run(), num_divergences=self.num_divergences, prob=prob)

    def to_arviz(self) -> Any:
        """An ``arviz.InferenceData`` with the draws and the sampler statistics."""
        samples = self._require_run()
        return to_arviz(samples, sample_stats=self._record.sample_stats(self.warmup_steps))


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple):
        return tuple(_to_device(item, device) for item in obj)
    if isinstance(obj, list):
        return [_to_device(item, device) for item in obj]
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _accepts_layout(kernel: Any) -> bool:
    try:
        return "layout" in inspect.signature(kernel.init).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def optional_validation(enabled: bool | None):
    """``validation_enabled(enabled)``, or nothing when ``enabled`` is None."""
    if enabled is None:
        yield
    else:
        with validation_enabled(enabled):
            yield
