"""Hamiltonian Monte Carlo for a batch of chains, and the kernel protocol NUTS shares.

A kernel is driven by the runner through two calls::

    state = kernel.init(z0, potential_and_grad, num_warmup, seed)   # z0: (C, D)
    for _ in range(num_warmup + num_samples):
        state = kernel.sample(state)

Each ``sample`` advances every chain by one MCMC iteration and, during warmup, adapts step
size and mass matrix (:mod:`pyrolite.infer.mcmc.adaptation`). The state is an immutable
:class:`HMCState`; the kernel itself holds only its settings, the potential and the random
generator.

Differences from Pyro: the number of leapfrog steps, ``ceil(trajectory_length / step_size)``
(Pyro rounds down), is per chain and capped at 1024;
``jit_compile=True`` traces the chain-batched potential and gradient once and compiles it
with TorchInductor (:mod:`pyrolite.infer.mcmc.graph_compile`; seconds once per run, then many
times cheaper per leapfrog step); NUTS compiles its whole tree step that way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from pyrolite.infer.autoguide.initialization import init_to_uniform
from pyrolite.infer.mcmc.adaptation import WarmupAdapter
from pyrolite.infer.mcmc.graph_compile import compile_graph, count_evaluations
from pyrolite.infer.mcmc.integrator import (
    MAX_DELTA_ENERGY,
    PotentialAndGrad,
    kinetic_energy,
    leapfrog,
    mass_matrix_sqrt,
    potential_and_grad_from,
    sample_momentum,
)
from pyrolite.infer.mcmc.mass_blocks import BlockMassMatrix

__all__ = ["HMC", "HMCState"]

MAX_NUM_STEPS = 1024


class HMCState(NamedTuple):
    """Everything about a batch of C chains between two iterations.

    ``i`` counts iterations done; ``z (C, D)`` are unconstrained positions with their
    ``potential (C,)`` and ``grad (C, D)``; ``step_size (C,)``; ``inverse_mass_matrix`` is
    ``(C, D)`` (diagonal) or ``(C, D, D)`` (dense) and ``mass_matrix_sqrt`` its matching
    momentum factor. ``accept_prob``, ``diverging``, ``num_steps``, ``energy`` (the
    Hamiltonian at the kept point) and ``tree_depth`` (NUTS) describe the last iteration,
    each ``(C,)``. ``warmup`` is True while the next iteration still adapts.
    """

    i: int
    z: Tensor
    potential: Tensor
    grad: Tensor
    step_size: Tensor
    inverse_mass_matrix: Tensor
    accept_prob: Tensor
    diverging: Tensor
    num_steps: Tensor
    adapt_state: Any
    warmup: bool
    mass_matrix_sqrt: Tensor
    energy: Tensor
    tree_depth: Tensor


class Transition(NamedTuple):
    """One iteration's outcome per chain (all leading dim C)."""

    z: Tensor
    potential: Tensor
    grad: Tensor
    energy: Tensor
    accept_prob: Tensor
    diverging: Tensor
    num_steps: Tensor
    tree_depth: Tensor


class HMC:
    """Hamiltonian Monte Carlo with a fixed trajectory per iteration, batched over chains.

    Pyro's arguments, in Pyro's order and with Pyro's meaning. Give either ``model`` (the
    runner builds the potential) or ``potential_fn``: with a dict of ``initial_params`` it is
    Pyro's ``{site: unconstrained tensor} -> scalar``, otherwise pyrolite's batched
    ``Tensor (C, D) -> Tensor (C,)``. Each iteration takes ``ceil(trajectory_length /
    step_size)`` leapfrog steps per chain; ``trajectory_length`` defaults to
    ``step_size * num_steps`` when ``num_steps`` is given, else ``2 * pi`` (so with step-size
    adaptation the number of steps follows the adapted step size, as in Pyro).
    ``step_size=None`` means 1. ``full_mass``: False (diagonal), True (dense) or a list of
    tuples of site names, each a dense block (:mod:`pyrolite.infer.mcmc.mass_blocks`).
    ``transforms``: {site: transform from the site's support to the reals} replacing
    ``biject_to`` for those sites. ``jit_compile`` compiles with TorchInductor;
    ``jit_options`` is a dict of Inductor config options for that compilation (options of
    ``torch.jit.trace`` such as ``check_trace`` have no meaning here and are ignored);
    ``ignore_jit_warnings`` silences the warnings of tracing and compiling.
    ``min_stepsize``/``max_stepsize`` bound the step-size search. The attribute
    ``initial_params`` (Pyro's, unconstrained ``{site: value}``) is the start :class:`MCMC`
    uses when it is given none.
    """

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable[[Tensor], Tensor] | None = None,
        step_size: float | None = 1,
        trajectory_length: float | None = None,
        num_steps: int | None = None,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        full_mass: bool | list[tuple[str, ...]] = False,
        transforms: dict[str, Any] | None = None,
        max_plate_nesting: int | None = None,
        jit_compile: bool = False,
        jit_options: dict[str, Any] | None = None,
        ignore_jit_warnings: bool = False,
        target_accept_prob: float = 0.8,
        init_strategy: Callable = init_to_uniform,
        *,
        min_stepsize: float = 1e-10,
        max_stepsize: float = 1e10,
    ) -> None:
        if (model is None) == (potential_fn is None):
            raise ValueError(
                f"{type(self).__name__} needs exactly one of `model` or `potential_fn`; got "
                f"{'both' if model is not None else 'neither'}."
            )
        if not isinstance(full_mass, (bool, list)):
            raise ValueError(
                f"full_mass should be a bool or a list of tuples of site names; got {full_mass!r}"
            )
        step_size = 1.0 if step_size is None else float(step_size)
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if num_steps is not None and num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        self.model = model
        self.potential_fn = potential_fn
        self.step_size = step_size
        self.num_steps = num_steps
        if trajectory_length is None:
            # as in Pyro: num_steps fixes the trajectory at the initial step size
            trajectory_length = 2 * math.pi if num_steps is None else step_size * num_steps
        self.trajectory_length = trajectory_length
        self.adapt_step_size = adapt_step_size
        self.adapt_mass_matrix = adapt_mass_matrix
        self.full_mass = full_mass
        self.transforms = transforms
        self.target_accept_prob = target_accept_prob
        self.max_plate_nesting = max_plate_nesting
        self.jit_compile = jit_compile
        self.jit_options = jit_options
        self.ignore_jit_warnings = ignore_jit_warnings
        self.init_strategy = init_strategy
        self.min_stepsize = min_stepsize
        self.max_stepsize = max_stepsize
        self.initial_params: dict[str, Tensor] | None = None
        self._adapter = WarmupAdapter(adapt_step_size, adapt_mass_matrix, target_accept_prob)
        self._potential_and_grad: PotentialAndGrad | None = None
        self._compiled: Callable | None = None
        self.compile_seconds: float | None = None  # wall time of the last jit compilation
        self._generator: torch.Generator | None = None
        self._num_warmup = 0

    def init(
        self,
        z0: Tensor,
        potential_and_grad: PotentialAndGrad | None = None,
        num_warmup: int = 0,
        seed: int | None = None,
        layout: dict[str, tuple[int, int, torch.Size]] | None = None,
    ) -> HMCState:
        """The state before the first iteration, for chains starting at ``z0 (C, D)``.

        ``potential_and_grad`` maps ``(C, D)`` to ``(U (C,), dU/dz (C, D))``; when omitted it
        is built from ``potential_fn``. ``seed`` seeds the kernel's own generator (drawn from
        torch's global generator when None). ``layout`` names the sites of the flat vector
        ({name: (start, stop, shape)}, for ``full_mass`` blocks and ``inverse_mass_matrix``);
        without it the whole vector is one site ``"z"``.
        """
        if z0.dim() != 2:
            raise ValueError(
                f"initial positions must have shape (num_chains, D); got {tuple(z0.shape)}"
            )
        if potential_and_grad is None:
            if self.potential_fn is None:
                raise ValueError(
                    "kernel.init needs potential_and_grad when the kernel was built from a model"
                )
            potential_and_grad = potential_and_grad_from(self.potential_fn)
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        generator = torch.Generator(device=z0.device)
        generator.manual_seed(seed)
        self._potential_and_grad = potential_and_grad
        self._generator = generator
        self._num_warmup = num_warmup

        z = z0.detach()
        potential, grad = potential_and_grad(z)
        bad = ~(torch.isfinite(potential) & torch.isfinite(grad).all(-1))
        if bool(bad.any()):
            chains = bad.nonzero().flatten().tolist()
            raise ValueError(
                f"the potential or its gradient is not finite at the initial position of "
                f"chain(s) {chains}; choose initial values inside the support (another "
                f"init_strategy or initial_params)."
            )
        if layout is None:
            layout = {"z": (0, z.shape[1], torch.Size([z.shape[1]]))}
        masses = self.mass_matrix_adapter
        inverse_mass_matrix = masses.configure(layout, self.full_mass, z)
        zeros = torch.zeros_like(potential)
        state = HMCState(
            i=0,
            z=z,
            potential=potential,
            grad=grad,
            step_size=torch.full_like(potential, self.step_size),
            inverse_mass_matrix=inverse_mass_matrix,
            accept_prob=zeros,
            diverging=torch.zeros_like(potential, dtype=torch.bool),
            num_steps=torch.zeros_like(potential, dtype=torch.long),
            adapt_state=None,
            warmup=num_warmup > 0,
            mass_matrix_sqrt=mass_matrix_sqrt(inverse_mass_matrix),
            energy=potential,
            tree_depth=torch.zeros_like(potential, dtype=torch.long),
        )
        if self.jit_compile:
            started = time.perf_counter()
            self._compiled = self._compile(state)
            self.compile_seconds = time.perf_counter() - started
        if num_warmup > 0:
            if self.adapt_step_size:
                step_size = self._adapter.search_step_size(state, potential_and_grad, generator)
                step_size = step_size.clamp(self.min_stepsize, self.max_stepsize)
                state = state._replace(step_size=step_size)
            adapt_state = self._adapter.init(num_warmup, z, state.step_size)
            state = state._replace(adapt_state=adapt_state)
        return state

    @property
    def mass_matrix_adapter(self) -> BlockMassMatrix:
        """The object that structures, adapts and shows the mass matrix (Pyro's
        ``BlockMassMatrix`` by default; assign an ``ArrowheadMassMatrix`` before a run)."""
        return self._adapter.mass_matrix_adapter

    @mass_matrix_adapter.setter
    def mass_matrix_adapter(self, value: BlockMassMatrix) -> None:
        self._adapter.mass_matrix_adapter = value

    @property
    def inverse_mass_matrix(self) -> dict[tuple[str, ...], Tensor]:
        """{tuple of site names: inverse mass matrix block} of the last run (a vector for a
        diagonal block; with several chains each block has a leading chain dim)."""
        return self.mass_matrix_adapter.inverse_mass_matrix

    @inverse_mass_matrix.setter
    def inverse_mass_matrix(self, value: dict[tuple[str, ...], Tensor]) -> None:
        self.mass_matrix_adapter.inverse_mass_matrix = value

    def _compile_options(self) -> dict[str, Any]:
        return {"options": self.jit_options, "quiet": self.ignore_jit_warnings}

    def _compile(self, state: HMCState) -> Callable | None:
        """The potential and gradient compiled for the chains' shapes (None if that fails);
        it replaces the eager one for the whole run."""
        compiled = compile_graph(
            self._potential_and_grad, (state.z,), "potential", **self._compile_options()
        )
        if compiled is not None:
            eager = self._potential_and_grad

            def potential_and_grad(z: Tensor) -> tuple[Tensor, Tensor]:
                count_evaluations(eager)
                return tuple(compiled(z))

            self._potential_and_grad = potential_and_grad
        return compiled

    def sample(self, state: HMCState) -> HMCState:
        """One iteration for every chain (plus adaptation while ``state.i < num_warmup``)."""
        if self._potential_and_grad is None:
            raise RuntimeError("call kernel.init(...) before kernel.sample(state)")
        p = sample_momentum(state.mass_matrix_sqrt, self._generator)
        out = self._transition(state, p)
        adapting = state.i < self._num_warmup
        new = state._replace(i=state.i + 1, **out._asdict())  # Transition's fields are state's
        if adapting:
            new = self._adapter.adapt(new, self._potential_and_grad, self._generator)
        return new._replace(warmup=new.i < self._num_warmup)

    def _transition(self, state: HMCState, p: Tensor) -> Transition:
        """A fixed-length leapfrog trajectory and a Metropolis accept per chain."""
        inverse_mass_matrix = state.inverse_mass_matrix
        step_size = state.step_size
        # the relative slack keeps an exact multiple (step_size * num_steps) from rounding up
        num_steps = (self.trajectory_length / step_size * (1 - 1e-9)).ceil()
        num_steps = num_steps.clamp(1, MAX_NUM_STEPS).nan_to_num(1.0).long()
        low, high = torch.aminmax(num_steps)
        low, high = int(low), int(high)

        energy = state.potential + kinetic_energy(p, inverse_mass_matrix)
        z, potential, grad = state.z, state.potential, state.grad
        eps = step_size.unsqueeze(-1)
        for k in range(high):
            z_new, p_new, potential_new, grad_new = leapfrog(
                z, p, grad, eps, inverse_mass_matrix, self._potential_and_grad
            )
            if k < low:
                z, p, potential, grad = z_new, p_new, potential_new, grad_new
            else:
                moving = k < num_steps
                z = torch.where(moving.unsqueeze(-1), z_new, z)
                p = torch.where(moving.unsqueeze(-1), p_new, p)
                grad = torch.where(moving.unsqueeze(-1), grad_new, grad)
                potential = torch.where(moving, potential_new, potential)
        energy_new = potential + kinetic_energy(p, inverse_mass_matrix)
        delta = (energy_new - energy).nan_to_num(math.inf, math.inf, -math.inf)
        accept_prob = (-delta).clamp(max=0.0).exp()
        uniform = torch.rand(
            accept_prob.shape,
            dtype=accept_prob.dtype,
            device=accept_prob.device,
            generator=self._generator,
        )
        accept = uniform < accept_prob
        keep = accept.unsqueeze(-1)
        return Transition(
            z=torch.where(keep, z, state.z),
            potential=torch.where(accept, potential, state.potential),
            grad=torch.where(keep, grad, state.grad),
            energy=torch.where(accept, energy_new, energy),
            accept_prob=accept_prob,
            diverging=delta > MAX_DELTA_ENERGY,
            num_steps=num_steps,
            tree_depth=torch.zeros_like(num_steps),
        )
