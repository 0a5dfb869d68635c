"""The steps of one NUTS tree for a batch of chains, as pure functions of a :class:`TreeState`.

A tree is grown by doublings. Doubling ``d`` picks a direction per chain
(:func:`begin_subtree`), adds ``2^d`` leaves at that end one leapfrog step at a time
(:func:`add_leaf`), then merges the new subtree into the trajectory and checks the whole
trajectory for a U-turn (:func:`end_subtree`). All chains move in lockstep; a chain whose tree
has stopped keeps integrating, but what it builds is marked invalid and never counts.

The eager driver (:func:`pyrolite.infer.mcmc.nuts.build_tree`) calls the three steps from
Python loops. :func:`tree_step` fuses them into one function of tensors only: the doubling and
leaf counters live in the state, and the first-leaf and last-leaf steps are applied through
masks. That function has no Python control flow on values, so it can be traced once into a
graph and compiled (``jit_compile=True``); the driver then makes one call and one host read
per leaf.

Randomness comes from one draw ``u (C, 3)`` per leaf: column 0 picks the direction at a
subtree's first leaf, column 1 is the leaf's multinomial draw inside the subtree, column 2 the
draw that decides whether the finished subtree's candidate replaces the proposal. Both drivers
consume the same draws, so they follow the same trajectories.

Checkpoints: leaf ``k`` of a subtree completes the subtrees of sizes ``2, 4, ...`` that end at
it, whose first leaves are found through momentum checkpoints indexed by the bits of ``k``
(as NumPyro does). An even leaf writes slot ``popcount(k >> 1)``; an odd leaf checks slots
``lo..hi`` with ``hi = popcount(k >> 1)`` and ``lo = hi - trailing_ones(k) + 1``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from pyrolite.infer.mcmc.integrator import (
    MAX_DELTA_ENERGY,
    PotentialAndGrad,
    leapfrog,
    velocity,
)

__all__ = ["TreeState", "add_leaf", "begin_subtree", "end_subtree", "init_tree", "tree_step"]


class TreeState(NamedTuple):
    """One NUTS iteration in progress for C chains of dimension D (T checkpoint slots).

    The whole trajectory: its ends ``z/p/g_left``, ``z/p/g_right`` (C, D), summed momentum
    ``psum`` (C, D), log-sum of leaf weights ``log_weight`` (C,), the proposal ``prop_*``,
    ``running`` (C,) whether the chain's tree still grows, and ``depth`` (C,) doublings kept.

    The subtree being built: ``go_right`` (C,), its growing end ``z/p/g_end`` (C, D), its
    first leaf's momentum ``first_p``, summed momentum ``sub_psum``, ``sub_log_weight`` (C,),
    ``sub_invalid`` (C,), its candidate ``cand_*`` and the checkpoints ``ckpt_*`` (C, T, D),
    ``ckpt_seam`` (C, T); see :func:`add_leaf`.

    Statistics over the leaves that count: ``sum_accept``, ``num_steps``, ``diverging`` (C,).
    Counters (0-d): doubling ``d``, leaf ``k`` within the subtree, and ``growing``, whether any
    chain's tree will take another leaf.
    """

    z_left: Tensor
    p_left: Tensor
    g_left: Tensor
    z_right: Tensor
    p_right: Tensor
    g_right: Tensor
    psum: Tensor
    log_weight: Tensor
    prop_z: Tensor
    prop_grad: Tensor
    prop_potential: Tensor
    prop_energy: Tensor
    running: Tensor
    depth: Tensor
    go_right: Tensor
    z_end: Tensor
    p_end: Tensor
    g_end: Tensor
    first_p: Tensor
    sub_psum: Tensor
    sub_log_weight: Tensor
    sub_invalid: Tensor
    cand_z: Tensor
    cand_grad: Tensor
    cand_potential: Tensor
    cand_energy: Tensor
    ckpt_v: Tensor
    ckpt_a: Tensor
    ckpt_b: Tensor
    ckpt_v_prev: Tensor
    ckpt_seam: Tensor
    sum_accept: Tensor
    num_steps: Tensor
    diverging: Tensor
    d: Tensor
    k: Tensor
    growing: Tensor


def init_tree(
    z: Tensor, p: Tensor, potential: Tensor, grad: Tensor, energy0: Tensor, max_tree_depth: int
) -> TreeState:
    """The state before the first leaf: a trajectory of the single point ``z, p`` (C, D).

    The largest subtree has ``2^(max_tree_depth - 1)`` leaves, whose checkpoint slots are
    ``0 .. max_tree_depth - 2``."""
    num_chains, dim = z.shape
    ckpt = z.new_zeros((num_chains, max(max_tree_depth - 1, 1), dim))
    false = torch.zeros_like(potential, dtype=torch.bool)
    zero_count = torch.zeros((), dtype=torch.long, device=z.device)
    return TreeState(
        z_left=z,
        p_left=p,
        g_left=grad,
        z_right=z,
        p_right=p,
        g_right=grad,
        psum=p,
        log_weight=torch.zeros_like(potential),
        prop_z=z,
        prop_grad=grad,
        prop_potential=potential,
        prop_energy=energy0,
        running=~false,
        depth=torch.zeros_like(potential, dtype=torch.long),
        go_right=false,
        z_end=z,
        p_end=p,
        g_end=grad,
        first_p=p,
        sub_psum=p,
        sub_log_weight=potential,
        sub_invalid=false,
        cand_z=z,
        cand_grad=grad,
        cand_potential=potential,
        cand_energy=energy0,
        ckpt_v=ckpt,
        ckpt_a=ckpt,
        ckpt_b=ckpt,
        ckpt_v_prev=ckpt,
        ckpt_seam=torch.zeros(ckpt.shape[:2], dtype=torch.bool, device=z.device),
        sum_accept=torch.zeros_like(potential),
        num_steps=torch.zeros_like(potential, dtype=torch.long),
        diverging=false,
        d=zero_count,
        k=zero_count,
        growing=torch.ones((), dtype=torch.bool, device=z.device),
    )


def begin_subtree(state: TreeState, u: Tensor) -> dict[str, Tensor]:
    """Start a doubling: each chain picks a direction from ``u[:, 0]``; returns the fields
    that change."""
    go_right = u[:, 0] < 0.5
    right = go_right.unsqueeze(-1)
    z_end = torch.where(right, state.z_right, state.z_left)
    p_end = torch.where(right, state.p_right, state.p_left)
    g_end = torch.where(right, state.g_right, state.g_left)
    return {
        "go_right": go_right,
        "z_end": z_end,
        "p_end": p_end,
        "g_end": g_end,
        "sub_psum": torch.zeros_like(p_end),
        "sub_log_weight": torch.full_like(state.log_weight, torch.finfo(u.dtype).min),
        # a chain whose tree already stopped builds nothing that counts
        "sub_invalid": ~state.running,
    }


def add_leaf(
    state: TreeState,
    u: Tensor,
    k: int | Tensor,
    energy0: Tensor,
    step_size: Tensor,
    inverse_mass_matrix: Tensor,
    potential_and_grad: PotentialAndGrad,
) -> dict[str, Tensor]:
    """One leapfrog step at the subtree's growing end, and the subtree's bookkeeping.

    ``k`` is the leaf's index in the subtree: a Python int (eager driver) or a 0-d tensor
    (fused step). Returns the fields that change.

    An even leaf starts the subtrees of its checkpoint slot. What their U-turn checks need
    from it is stored once, so that each later check is a few dot products: its velocity
    ``v``; ``a``, the subtree's momentum sum before it (the momentum summed from it to a later
    leaf is then ``psum - a``); ``b = a - p_prev`` and ``v_prev`` of the leaf before it (for
    the check across the seam on the right); and ``seam``, whether the pair of this slot and
    the one below turns across the seam on the left (known as soon as this leaf exists).
    """
    inv = inverse_mass_matrix
    lowest = torch.finfo(u.dtype).min
    eps = torch.where(state.go_right, step_size, -step_size).unsqueeze(-1)
    p_prev = state.p_end
    z_end, p_end, potential, g_end = leapfrog(
        state.z_end, p_prev, state.g_end, eps, inv, potential_and_grad
    )
    v_end = velocity(p_end, inv)
    energy = torch.add(potential, torch.linalg.vecdot(p_end, v_end), alpha=0.5)
    log_w = torch.sub(energy0, energy).nan_to_num(nan=lowest)

    counted = ~state.sub_invalid
    divergent = log_w < -MAX_DELTA_ENERGY
    sum_accept = state.sum_accept + log_w.clamp(max=0.0).exp() * counted
    num_steps = state.num_steps + counted
    diverging = state.diverging | (counted & divergent)

    # progressive multinomial sampling of the subtree's candidate
    sub_log_weight = torch.logaddexp(state.sub_log_weight, log_w)
    take = u[:, 1].log() < log_w - sub_log_weight
    take_col = take.unsqueeze(-1)
    sub_psum = state.sub_psum + p_end
    first = k == 0

    masks = _slot_masks(k, state.ckpt_v.shape[1], state.ckpt_v.device)
    invalid = state.sub_invalid | divergent
    if masks.in_range is not None:
        invalid = invalid | _subtrees_turning(state, masks, v_end, sub_psum)
    ckpt = {} if masks.write is None else _checkpoint(state, masks, p_prev, p_end, v_end, inv)
    return {
        "z_end": z_end,
        "p_end": p_end,
        "g_end": g_end,
        "first_p": _pick(first, p_end, state.first_p),
        "sub_psum": sub_psum,
        "sub_log_weight": sub_log_weight,
        "sub_invalid": invalid,
        "cand_z": torch.where(take_col, z_end, state.cand_z),
        "cand_grad": torch.where(take_col, g_end, state.cand_grad),
        "cand_potential": torch.where(take, potential, state.cand_potential),
        "cand_energy": torch.where(take, energy, state.cand_energy),
        **ckpt,
        "sum_accept": sum_accept,
        "num_steps": num_steps,
        "diverging": diverging,
    }


def end_subtree(state: TreeState, u: Tensor, inverse_mass_matrix: Tensor) -> dict[str, Tensor]:
    """Merge the finished subtree into the trajectory and check the whole trajectory for a
    U-turn; returns the fields that change.

    A valid subtree's candidate replaces the proposal with probability
    ``min(1, w_subtree / w_old)`` (``u[:, 2]``). Chains whose subtree was discarded stop here,
    so the ends and sums below only need to be right for valid chains.
    """
    inv = inverse_mass_matrix
    valid = ~state.sub_invalid
    take = valid & (u[:, 2].log() < state.sub_log_weight - state.log_weight)
    take_col = take.unsqueeze(-1)
    right = state.go_right.unsqueeze(-1)
    far_p = torch.where(right, state.p_left, state.p_right)
    # the trajectory's ends move only here, so the end the subtree grew from is still stored
    near_p = torch.where(right, state.p_right, state.p_left)
    new_psum = state.psum + state.sub_psum
    # the whole trajectory, and the two checks across the seam between old and new (Stan
    # 2.23), as three (end, end, summed momentum) triples
    v_a = velocity(torch.stack([far_p, far_p, near_p], 1), inv)
    v_b = velocity(torch.stack([state.p_end, state.first_p, state.p_end], 1), inv)
    rho = torch.stack([new_psum, state.psum + state.first_p, state.sub_psum + near_p], 1)
    turning = _turning(v_a, v_b, rho).any(-1)
    return {
        "prop_z": torch.where(take_col, state.cand_z, state.prop_z),
        "prop_grad": torch.where(take_col, state.cand_grad, state.prop_grad),
        "prop_potential": torch.where(take, state.cand_potential, state.prop_potential),
        "prop_energy": torch.where(take, state.cand_energy, state.prop_energy),
        "log_weight": torch.logaddexp(state.log_weight, state.sub_log_weight),
        "depth": state.depth + valid,
        "z_left": torch.where(right, state.z_left, state.z_end),
        "p_left": torch.where(right, state.p_left, state.p_end),
        "g_left": torch.where(right, state.g_left, state.g_end),
        "z_right": torch.where(right, state.z_end, state.z_right),
        "p_right": torch.where(right, state.p_end, state.p_right),
        "g_right": torch.where(right, state.g_end, state.g_right),
        "psum": new_psum,
        "running": valid & ~turning,
    }


def tree_step(
    state: TreeState,
    u: Tensor,
    energy0: Tensor,
    step_size: Tensor,
    inverse_mass_matrix: Tensor,
    potential_and_grad: PotentialAndGrad,
    max_tree_depth: int,
) -> TreeState:
    """One leaf of the tree, with the doubling's start and end folded in through masks.

    Tensors only, no host reads: suitable for tracing into one graph. ``state.growing``
    (0-d bool) says whether another call is needed.
    """
    first_leaf = state.k == 0
    state = _merge(state, begin_subtree(state, u), first_leaf)
    state = state._replace(
        **add_leaf(state, u, state.k, energy0, step_size, inverse_mass_matrix, potential_and_grad)
    )
    k_next = state.k + 1
    done = (k_next == (1 << state.d)) | state.sub_invalid.all()
    state = _merge(state, end_subtree(state, u, inverse_mass_matrix), done)
    d = state.d + done.long()
    still = state.running.any() & (d < max_tree_depth)
    return state._replace(
        d=d,
        k=torch.where(done, 0, k_next),
        growing=torch.where(done, still, True),
    )


def _merge(state: TreeState, changes: dict[str, Tensor], apply: Tensor) -> TreeState:
    """``state`` with ``changes`` applied where the 0-d bool ``apply`` is True."""
    return state._replace(
        **{name: torch.where(apply, new, getattr(state, name)) for name, new in changes.items()}
    )


def _pick(cond: bool | Tensor, a: Tensor, b: Tensor) -> Tensor:
    if isinstance(cond, bool):
        return a if cond else b
    return torch.where(cond, a, b)


def _turning(v_a: Tensor, v_b: Tensor, rho: Tensor) -> Tensor:
    """Generalised U-turn: either end's velocity has a non-positive dot with ``rho``."""
    return torch.minimum(torch.linalg.vecdot(v_a, rho), torch.linalg.vecdot(v_b, rho)) <= 0


class _SlotMasks(NamedTuple):
    """Which checkpoint slots leaf ``k`` writes (``write``, (T, 1)) and checks (``in_range``
    (T,) and the seam pairs ``in_pairs`` (T - 1,)); None where an eager leaf has nothing to
    do."""

    hi: int | Tensor
    write: Tensor | None
    in_range: Tensor | None
    in_pairs: Tensor | None


_int_masks: dict[tuple, _SlotMasks] = {}


def _slot_masks(k: int | Tensor, num_slots: int, device: torch.device) -> _SlotMasks:
    """An even leaf writes slot ``hi = popcount(k >> 1)``; an odd one checks slots
    ``lo..hi`` with ``lo = hi - trailing_ones(k) + 1``, and the seams between neighbours."""
    if isinstance(k, int):
        key = (k, num_slots, device)
        if key not in _int_masks:
            slots = torch.arange(num_slots, device=device)
            hi = (k >> 1).bit_count()
            if k % 2 == 0:
                masks = _SlotMasks(hi, (slots == hi).unsqueeze(-1), None, None)
            else:
                lo = hi - (k ^ (k + 1)).bit_count() + 2
                in_range = (slots >= lo) & (slots <= hi)
                masks = _SlotMasks(hi, None, in_range, in_range[:-1] & (slots[:-1] < hi))
            _int_masks[key] = masks
        return _int_masks[key]
    # the same from tables indexed by the 0-d tensor k (k < 2^num_slots)
    hi_table, lo_table = _slot_tables(num_slots, device)
    at = k.reshape(1)
    hi, lo = hi_table.index_select(0, at)[0], lo_table.index_select(0, at)[0]
    slots = torch.arange(num_slots, device=device)
    odd = (k & 1) == 1
    in_range = (slots >= lo) & (slots <= hi) & odd
    return _SlotMasks(
        hi, ((slots == hi) & ~odd).unsqueeze(-1), in_range, in_range[:-1] & (slots[:-1] < hi)
    )


def _slot_tables(num_slots: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """``hi`` and ``lo`` of every leaf index ``k < 2^num_slots``, as tensors."""
    ks = range(1 << num_slots)
    hi = [(k >> 1).bit_count() for k in ks]
    lo = [h - (k ^ (k + 1)).bit_count() + 2 for h, k in zip(hi, ks, strict=True)]
    return torch.tensor(hi, device=device), torch.tensor(lo, device=device)


def _checkpoint(
    state: TreeState,
    masks: _SlotMasks,
    p_prev: Tensor,
    p_new: Tensor,
    v_new: Tensor,
    inverse_mass_matrix: Tensor,
) -> dict[str, Tensor]:
    """The checkpoint fields with slot ``hi`` (``masks.write``) holding the new leaf."""
    a = state.sub_psum
    # the slot below, whose first leaf starts the left half that ends just before this leaf
    # (slot 0 has no pair below: its seam is never read)
    if isinstance(masks.hi, int):
        below = max(masks.hi - 1, 0)
        v_below, a_below = state.ckpt_v[:, below], state.ckpt_a[:, below]
    else:
        below = (masks.hi - 1).clamp(min=0).reshape(1)
        v_below = state.ckpt_v.index_select(1, below)[:, 0]
        a_below = state.ckpt_a.index_select(1, below)[:, 0]
    seam = _turning(v_below, v_new, a + p_new - a_below)
    write = masks.write
    v_prev = velocity(p_prev, inverse_mass_matrix)
    return {
        "ckpt_v": torch.where(write, v_new.unsqueeze(1), state.ckpt_v),
        "ckpt_a": torch.where(write, a.unsqueeze(1), state.ckpt_a),
        "ckpt_b": torch.where(write, (a - p_prev).unsqueeze(1), state.ckpt_b),
        "ckpt_v_prev": torch.where(write, v_prev.unsqueeze(1), state.ckpt_v_prev),
        "ckpt_seam": torch.where(write.squeeze(-1), seam.unsqueeze(1), state.ckpt_seam),
    }


def _subtrees_turning(state: TreeState, masks: _SlotMasks, v_new: Tensor, psum: Tensor) -> Tensor:
    """Whether any subtree ending at the new (odd) leaf turns, ``(C,)`` bool.

    Slot ``i`` in ``[lo, hi]`` holds the first leaf of a subtree ending at the new leaf
    (``i = hi`` the 2-leaf one, each lower index twice as long); the momentum summed over
    that subtree is ``psum - a_i``. Slot ``i + 1`` starts the right half of slot ``i``'s
    subtree, which gives the two checks across the seam: the left one was stored with slot
    ``i + 1``, the right one (the left half's last leaf plus the right half) sums
    ``psum - b_{i + 1}``. Slots outside the range hold stale values and are masked out.
    """
    rho = psum.unsqueeze(1) - state.ckpt_a
    turning = _turning(state.ckpt_v, v_new.unsqueeze(1), rho) & masks.in_range
    rho_right = psum.unsqueeze(1) - state.ckpt_b[:, 1:]
    right = _turning(state.ckpt_v_prev[:, 1:], v_new.unsqueeze(1), rho_right)
    seam = (right | state.ckpt_seam[:, 1:]) & masks.in_pairs
    return turning.any(-1) | seam.any(-1)
