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
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pyrolite.infer.autoguide.initialization import init_to_uniform
from pyrolite.infer.mcmc.hmc import HMC, MAX_DELTA_ENERGY, HMCState, Transition
from pyrolite.infer.mcmc.integrator import PotentialAndGrad

__all__ = ["NUTS", "build_tree"]


class NUTS(HMC):
    """No-U-Turn Sampler, batched over chains; arguments mirror Pyro's ``NUTS``.

    Each iteration doubles every chain's trajectory until it makes a U-turn, diverges or
    reaches ``max_tree_depth`` doublings (at most ``2^max_tree_depth - 1`` leapfrog steps).
    """

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable[[Tensor], Tensor] | None = None,
        step_size: float = 1.0,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        full_mass: bool = False,
        target_accept_prob: float = 0.8,
        max_tree_depth: int = 10,
        max_plate_nesting: int | None = None,
        jit_compile: bool = False,
        init_strategy: Callable = init_to_uniform,
    ) -> None:
        super().__init__(
            model=model,
            potential_fn=potential_fn,
            step_size=step_size,
            adapt_step_size=adapt_step_size,
            adapt_mass_matrix=adapt_mass_matrix,
            full_mass=full_mass,
            target_accept_prob=target_accept_prob,
            max_plate_nesting=max_plate_nesting,
            jit_compile=jit_compile,
            init_strategy=init_strategy,
        )
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
) -> Transition:
    """One NUTS iteration for every chain from ``z, p, grad (C, D)``, ``potential (C,)``.

    ``step_size (C,)``; ``inverse_mass_matrix (C, D)`` or ``(C, D, D)``. Returns the chosen
    point with its potential, gradient and Hamiltonian, and per chain the mean acceptance
    statistic, whether a divergent leaf was built, the number of leapfrog steps and the tree
    depth (doublings whose subtree was kept).
    """
    num_chains, dim = z.shape
    dense = inverse_mass_matrix.dim() == 3
    if dense:
        inv = inverse_mass_matrix

        def velocity(q: Tensor) -> Tensor:
            return torch.matmul(q, inv) if q.dim() == 3 else torch.bmm(inv, q.unsqueeze(-1))[..., 0]
    else:
        inv = inverse_mass_matrix
        inv_many = inverse_mass_matrix.unsqueeze(1)

        def velocity(q: Tensor) -> Tensor:
            return q * (inv_many if q.dim() == 3 else inv)

    dtype, device = z.dtype, z.device
    lowest = torch.finfo(dtype).min
    energy0 = torch.add(potential, torch.linalg.vecdot(p, velocity(p)), alpha=0.5)

    # The whole trajectory so far: its two ends, summed momentum, log-sum of weights, proposal.
    z_left = z_right = z
    p_left = p_right = p
    g_left = g_right = grad
    psum = p
    log_weight = torch.zeros_like(potential)
    prop_z, prop_potential, prop_grad, prop_energy = z, potential, grad, energy0

    active = torch.ones(num_chains, dtype=torch.bool, device=device)
    depth = torch.zeros(num_chains, dtype=torch.long, device=device)

    ckpt_shape = (num_chains, max_tree_depth, dim)
    ckpt_p = z.new_empty(ckpt_shape)
    ckpt_psum = z.new_empty(ckpt_shape)
    ckpt_prev = z.new_empty(ckpt_shape)
    # Per leaf of the whole tree: its log weight, and whether the chain's subtree was already
    # invalid (so the leaf does not count) before it was built.
    leaf_log_w = z.new_empty((num_chains, (1 << max_tree_depth) - 1))
    leaf_skipped = torch.empty_like(leaf_log_w, dtype=torch.bool)
    num_leapfrog = 0

    for d in range(max_tree_depth):
        num_leaves = 1 << d
        draws = torch.rand(
            (num_chains, num_leaves + 2), dtype=dtype, device=device, generator=generator
        )
        go_right = draws[:, 0] < 0.5
        log_u = draws[:, 1:].log()
        right = go_right.unsqueeze(-1)
        eps = torch.where(go_right, step_size, -step_size).unsqueeze(-1)
        neg_half = -0.5 * eps
        # A diagonal metric folds into the position step: z += (eps M^{-1}) p.
        position_step = eps if dense else eps * inv
        ze = torch.where(right, z_right, z_left)
        pe = torch.where(right, p_right, p_left)
        ge = torch.where(right, g_right, g_left)
        near_p = pe

        sub_psum = torch.zeros_like(p)
        sub_log_weight = torch.full_like(potential, lowest)
        # A chain whose tree already stopped starts invalid, so it builds nothing that counts.
        sub_invalid = ~active
        s_z, s_potential, s_grad, s_energy = ze, potential, ge, energy0
        first_p = pe
        for k in range(num_leaves):
            p_prev = pe
            p_half = torch.addcmul(pe, neg_half, ge)
            ze = torch.addcmul(ze, position_step, p_half if not dense else velocity(p_half))
            potential_e, ge = potential_and_grad(ze)
            pe = torch.addcmul(p_half, neg_half, ge)
            ve = velocity(pe)
            energy_e = torch.add(potential_e, torch.linalg.vecdot(pe, ve), alpha=0.5)
            log_w = torch.sub(energy0, energy_e).nan_to_num_(nan=lowest)
            leaf_log_w[:, num_leapfrog] = log_w
            leaf_skipped[:, num_leapfrog] = sub_invalid
            num_leapfrog += 1

            sub_log_weight = torch.logaddexp(sub_log_weight, log_w)
            take = log_u[:, k] < log_w - sub_log_weight
            take_col = take.unsqueeze(-1)
            s_z = torch.where(take_col, ze, s_z)
            s_grad = torch.where(take_col, ge, s_grad)
            s_potential = torch.where(take, potential_e, s_potential)
            s_energy = torch.where(take, energy_e, s_energy)
            sub_psum = sub_psum + pe
            if k == 0:
                first_p = pe

            invalid = log_w < -MAX_DELTA_ENERGY
            hi = (k >> 1).bit_count()
            if k % 2 == 0:
                ckpt_p[:, hi] = pe
                ckpt_psum[:, hi] = sub_psum
                ckpt_prev[:, hi] = p_prev
            else:
                lo = hi - _trailing_ones(k) + 1
                invalid = invalid | _subtrees_turning(
                    ckpt_p, ckpt_psum, ckpt_prev, lo, hi, ve, sub_psum, velocity
                )
            sub_invalid = sub_invalid | invalid
            if k + 1 < num_leaves and bool(sub_invalid.all()):
                break

        valid = ~sub_invalid
        take = valid & (log_u[:, num_leaves] < sub_log_weight - log_weight)
        take_col = take.unsqueeze(-1)
        prop_z = torch.where(take_col, s_z, prop_z)
        prop_grad = torch.where(take_col, s_grad, prop_grad)
        prop_potential = torch.where(take, s_potential, prop_potential)
        prop_energy = torch.where(take, s_energy, prop_energy)
        log_weight = torch.logaddexp(log_weight, sub_log_weight)
        depth = depth + valid

        # Chains whose subtree was discarded stop here, so the ends and sums below only need to
        # be right for valid chains.
        far_p = torch.where(right, p_left, p_right)
        z_left = torch.where(right, z_left, ze)
        p_left = torch.where(right, p_left, pe)
        g_left = torch.where(right, g_left, ge)
        z_right = torch.where(right, ze, z_right)
        p_right = torch.where(right, pe, p_right)
        g_right = torch.where(right, ge, g_right)
        new_psum = psum + sub_psum
        if d == 0:
            turning = _turning(velocity(far_p), ve, new_psum)
        else:
            # The whole trajectory, and the two checks across the seam between old and new,
            # batched as three (end, end, summed momentum) triples.
            v_a = velocity(torch.stack([far_p, far_p, near_p], 1))
            v_b = torch.stack([ve, velocity(first_p), ve], 1)
            rho = torch.stack([new_psum, psum + first_p, sub_psum + near_p], 1)
            turning = _turning(v_a, v_b, rho).any(-1)
        psum = new_psum
        active = valid & ~turning
        if not bool(active.any()):
            break

    counted = ~leaf_skipped[:, :num_leapfrog]
    log_w = leaf_log_w[:, :num_leapfrog]
    num_steps = counted.sum(-1)
    sum_accept = (log_w.clamp(max=0.0).exp() * counted).sum(-1)
    diverging = (counted & (log_w < -MAX_DELTA_ENERGY)).any(-1)
    return Transition(
        z=prop_z,
        potential=prop_potential,
        grad=prop_grad,
        energy=prop_energy,
        accept_prob=sum_accept / num_steps.clamp(min=1),
        diverging=diverging,
        num_steps=num_steps,
        tree_depth=depth,
    )


def _turning(v_a: Tensor, v_b: Tensor, rho: Tensor) -> Tensor:
    """Generalised U-turn: either end's velocity has a non-positive dot with ``rho``."""
    return torch.minimum(torch.linalg.vecdot(v_a, rho), torch.linalg.vecdot(v_b, rho)) <= 0


def _subtrees_turning(
    ckpt_p: Tensor,
    ckpt_psum: Tensor,
    ckpt_prev: Tensor,
    lo: int,
    hi: int,
    v_new: Tensor,
    psum: Tensor,
    velocity: Callable[[Tensor], Tensor],
) -> Tensor:
    """Whether any subtree ending at the new leaf turns, ``(C,)`` bool.

    Checkpoint ``i`` in ``[lo, hi]`` holds the first leaf of a subtree ending at the new leaf
    (``i = hi`` the 2-leaf one, each lower index twice as long): its momentum, the subtree's
    running momentum sum up to that leaf, and the momentum of the leaf before it. Checkpoint
    ``i + 1`` starts the right half of checkpoint ``i``'s subtree, which gives the two checks
    across the seam.
    """
    if hi == lo:
        first = ckpt_p[:, hi]
        rho = psum - ckpt_psum[:, hi] + first
        return _turning(velocity(first), v_new, rho)
    first = ckpt_p[:, lo : hi + 1]
    first_psum = ckpt_psum[:, lo : hi + 1]
    v_first = velocity(first)
    rho = psum.unsqueeze(1) - first_psum + first
    turning = _turning(v_first, v_new.unsqueeze(1), rho)
    # Left half plus the right half's first leaf.
    mid = first[:, 1:]
    rho_left = first_psum[:, 1:] - first_psum[:, :-1] + first[:, :-1]
    turning_left = _turning(v_first[:, :-1], v_first[:, 1:], rho_left)
    # The left half's last leaf plus the right half.
    before_mid = ckpt_prev[:, lo + 1 : hi + 1]
    rho_right = psum.unsqueeze(1) - (first_psum[:, 1:] - mid) + before_mid
    turning_right = _turning(velocity(before_mid), v_new.unsqueeze(1), rho_right)
    return turning.any(-1) | (turning_left | turning_right).any(-1)


def _trailing_ones(n: int) -> int:
    return (n ^ (n + 1)).bit_length() - 1
