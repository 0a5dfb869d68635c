"""The No-U-Turn Sampler for a batch of chains, built iteratively with per-chain masks.

Every chain grows its own trajectory by doubling: at depth ``d`` it picks a direction and
integrates a new subtree of ``2^d`` leapfrog steps from that end of its trajectory. All chains
take their steps together (one batched potential evaluation per step); a chain whose tree has
stopped (a U-turn, a divergence, or the depth cap) keeps its values while the others go on,
and the loops end as soon as no chain is still growing.

Sampling is multinomial: inside a subtree each new leaf replaces the subtree's candidate with
probability ``w_leaf / w_subtree`` (progressive uniform sampling, which leaves the candidate
distributed in proportion to the leaf weights ``exp(-H)``); at the top the new subtree's
candidate replaces the chain's proposal with probability ``min(1, w_subtree / w_old)`` (the
biased progressive sampling of Stan and NumPyro, which favours moving far).

The no-U-turn criterion is the generalised one of Betancourt (2017): a stretch of trajectory
with summed momentum ``rho`` and end velocities ``M^{-1} p_-``, ``M^{-1} p_+`` is turning when
either ``M^{-1} p_- . rho <= 0`` or ``M^{-1} p_+ . rho <= 0``. It is checked for every subtree
that a new leaf completes (found through momentum checkpoints indexed by the bits of the
leaf's index, as NumPyro does) and for the whole trajectory after each doubling; like Stan
since 2.23, each merge of two halves is also checked across the seam (the left half plus the
right half's first leaf, and the left half's last leaf plus the right half). A subtree that
turns or diverges is discarded and stops the chain's tree.

The acceptance statistic reported (and used by step-size adaptation) is Stan's: the mean over
all leaves built of ``min(1, exp(H_0 - H_leaf))``.

The steps themselves are pure functions in :mod:`pyrolite.infer.mcmc.nuts_tree`.
:func:`build_tree` drives them from Python loops; with ``jit_compile=True`` it calls the fused
leaf step, traced and compiled once per run (:func:`compile_tree_step`), once per leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from pyrolite.infer.autoguide.initialization import init_to_uniform
from pyrolite.infer.mcmc.graph_compile import Packer, compile_graph, count_evaluations
from pyrolite.infer.mcmc.hmc import HMC, HMCState, Transition
from pyrolite.infer.mcmc.integrator import PotentialAndGrad, kinetic_energy
from pyrolite.infer.mcmc.nuts_tree import (
    TreeState,
    add_leaf,
    begin_subtree,
    end_subtree,
    init_tree,
    tree_step,
)

__all__ = ["NUTS", "build_tree"]


class NUTS(HMC):
    """No-U-Turn Sampler, batched over chains; arguments mirror Pyro's ``NUTS``.

    Each iteration doubles every chain's trajectory until it makes a U-turn, diverges or
    reaches ``max_tree_depth`` doublings (at most ``2^max_tree_depth - 1`` leapfrog steps).
    The other arguments are :class:`~pyrolite.infer.mcmc.HMC`'s. Only multinomial sampling is
    implemented: ``use_multinomial_sampling=False`` raises ``NotImplementedError``.
    """

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable[[Tensor], Tensor] | None = None,
        step_size: float | None = 1,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        full_mass: bool | list[tuple[str, ...]] = False,
        use_multinomial_sampling: bool = True,
        transforms: dict[str, Any] | None = None,
        max_plate_nesting: int | None = None,
        jit_compile: bool = False,
        jit_options: dict[str, Any] | None = None,
        ignore_jit_warnings: bool = False,
        target_accept_prob: float = 0.8,
        max_tree_depth: int = 10,
        init_strategy: Callable = init_to_uniform,
    ) -> None:
        super().__init__(
            model=model,
            potential_fn=potential_fn,
            step_size=step_size,
            adapt_step_size=adapt_step_size,
            adapt_mass_matrix=adapt_mass_matrix,
            full_mass=full_mass,
            transforms=transforms,
            max_plate_nesting=max_plate_nesting,
            jit_compile=jit_compile,
            jit_options=jit_options,
            ignore_jit_warnings=ignore_jit_warnings,
            target_accept_prob=target_accept_prob,
            init_strategy=init_strategy,
        )
        if not use_multinomial_sampling:
            raise NotImplementedError(
                "NUTS(use_multinomial_sampling=False), the slice sampler of the original NUTS "
                "paper, is not implemented in pyrolite; multinomial sampling (the default, as "
                "in Stan) is the only variant"
            )
        self.use_multinomial_sampling = use_multinomial_sampling
        if max_tree_depth < 1:
            raise ValueError(f"max_tree_depth must be >= 1, got {max_tree_depth}")
        self.max_tree_depth = max_tree_depth

    def _transition(self, state: HMCState, p: Tensor) -> Transition:
        return build_tree(
            state.z,
            p,
            state.potential,
            state.grad,
            state.step_size,
            state.inverse_mass_matrix,
            self._potential_and_grad,
            self.max_tree_depth,
            self._generator,
            self._compiled,
        )

    def _compile(self, state: HMCState) -> Callable | None:
        """The whole tree step compiled for the chains' shapes; the potential stays eager for
        the step-size searches."""
        return compile_tree_step(
            state.z,
            state.step_size,
            state.inverse_mass_matrix,
            self._potential_and_grad,
            self.max_tree_depth,
            **self._compile_options(),
        )


def build_tree(
    z: Tensor,
    p: Tensor,
    potential: Tensor,
    grad: Tensor,
    step_size: Tensor,
    inverse_mass_matrix: Tensor,
    potential_and_grad: PotentialAndGrad,
    max_tree_depth: int,
    generator: torch.Generator | None = None,
    compiled_step: CompiledTreeStep | None = None,
) -> Transition:
    """One NUTS iteration for every chain from ``z, p, grad (C, D)``, ``potential (C,)``.

    ``step_size (C,)``; ``inverse_mass_matrix (C, D)`` or ``(C, D, D)``. Returns the chosen
    point with its potential, gradient and Hamiltonian, and per chain the mean acceptance
    statistic, whether a divergent leaf was built, the number of leapfrog steps and the tree
    depth (doublings whose subtree was kept). ``compiled_step`` is :func:`tree_step` compiled
    for these shapes (see :meth:`NUTS.init`); without it the steps run eagerly.
    """
    num_chains = z.shape[0]
    energy0 = potential + kinetic_energy(p, inverse_mass_matrix)
    state = init_tree(z, p, potential, grad, energy0, max_tree_depth)

    def draw() -> Tensor:
        return torch.rand((num_chains, 3), dtype=z.dtype, device=z.device, generator=generator)

    if compiled_step is not None:
        packed = compiled_step.packer.pack(state)
        growing, at = compiled_step.growing
        while True:
            packed = compiled_step.fn(*packed, draw(), energy0, step_size, inverse_mass_matrix)
            count_evaluations(potential_and_grad)
            if not bool(packed[growing][at]):
                break
        state = compiled_step.packer.unpack(packed)
    else:
        for d in range(max_tree_depth):
            num_leaves = 1 << d
            for k in range(num_leaves):
                u = draw()
                if k == 0:
                    state = state._replace(**begin_subtree(state, u))
                leaf = add_leaf(
                    state, u, k, energy0, step_size, inverse_mass_matrix, potential_and_grad
                )
                state = state._replace(**leaf)
                if k + 1 < num_leaves and bool(state.sub_invalid.all()):
                    break
            state = state._replace(**end_subtree(state, u, inverse_mass_matrix))
            if not bool(state.running.any()):
                break

    num_steps = state.num_steps
    return Transition(
        z=state.prop_z,
        potential=state.prop_potential,
        grad=state.prop_grad,
        energy=state.prop_energy,
        accept_prob=state.sum_accept / num_steps.clamp(min=1),
        diverging=state.diverging,
        num_steps=num_steps,
        tree_depth=state.depth,
    )


def compile_tree_step(
    z: Tensor,
    step_size: Tensor,
    inverse_mass_matrix: Tensor,
    potential_and_grad: PotentialAndGrad,
    max_tree_depth: int,
    options: dict[str, Any] | None = None,
    quiet: bool = False,
) -> CompiledTreeStep | None:
    """:func:`tree_step` traced and compiled for chains shaped like ``z (C, D)`` (None, with
    a warning, when that fails). It takes and returns the :class:`TreeState` packed by its
    ``packer``, followed by ``u (C, 3)``, ``energy0 (C,)``, ``step_size`` and
    ``inverse_mass_matrix``. ``options`` and ``quiet`` are :func:`compile_graph`'s."""
    potential, grad = potential_and_grad(z)
    state = init_tree(z, torch.zeros_like(z), potential, grad, potential, max_tree_depth)
    packer = Packer(state)
    num_groups = len(packer.groups)
    u = torch.full((z.shape[0], 3), 0.5, dtype=z.dtype, device=z.device)

    def step(*args: Tensor) -> list[Tensor]:
        tree = packer.unpack(args[:num_groups])
        u, energy0, eps, inv = args[num_groups:]
        tree = tree_step(tree, u, energy0, eps, inv, potential_and_grad, max_tree_depth)
        return packer.pack(tree)

    example = (*packer.pack(state), u, potential, step_size, inverse_mass_matrix)
    compiled = compile_graph(step, example, "NUTS tree step", options, quiet)
    if compiled is None:
        return None
    return CompiledTreeStep(compiled, packer, packer.group_of(TreeState._fields.index("growing")))


class CompiledTreeStep(NamedTuple):
    """A compiled :func:`tree_step` on packed states (``fn``), the :class:`Packer`, and
    ``growing``: (group, position) of the flag in the packed list."""

    fn: Callable[..., list[Tensor]]
    packer: Packer
    growing: tuple[int, int]
