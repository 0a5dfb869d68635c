import warnings

import pytest
import torch
from gaussian_targets import COV, MEAN, assert_moments, gaussian, run

from pyrolite.infer.mcmc.graph_compile import Packer, compile_graph
from pyrolite.infer.mcmc.integrator import kinetic_energy, potential_and_grad_from
from pyrolite.infer.mcmc.nuts import NUTS, build_tree, compile_tree_step
from pyrolite.infer.mcmc.nuts_tree import TreeState, _slot_masks, init_tree, tree_step

MAX_DEPTH = 6


def banana(z):
    """A curved 2-d target, so that trees of different chains stop at different depths."""
    x, y = z[..., 0], z[..., 1]
    return 0.5 * (x**2 / 4 + (y - 0.3 * x**2) ** 2)


def start(num_chains, full_mass, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(num_chains, 2, generator=gen, dtype=torch.float64)
    p = torch.randn(num_chains, 2, generator=gen, dtype=torch.float64)
    step_size = torch.linspace(0.2, 1.5, num_chains, dtype=torch.float64)
    if full_mass:
        inv = torch.tensor([[1.5, 0.4], [0.4, 0.8]], dtype=torch.float64)
        inv = inv.expand(num_chains, 2, 2).contiguous()
    else:
        inv = torch.tensor([1.5, 0.8], dtype=torch.float64).expand(num_chains, 2).contiguous()
    return z, p, step_size, inv


def eager(z, p, step_size, inv, pag, compiled_step=None, seed=1):
    potential, grad = pag(z)
    gen = torch.Generator().manual_seed(seed)
    return build_tree(z, p, potential, grad, step_size, inv, pag, MAX_DEPTH, gen, compiled_step)


def fused(z, p, step_size, inv, pag, seed=1):
    """The fused step, uncompiled, driven the way the compiled driver drives it."""
    potential, grad = pag(z)
    energy0 = potential + kinetic_energy(p, inv)
    state = init_tree(z, p, potential, grad, energy0, MAX_DEPTH)
    gen = torch.Generator().manual_seed(seed)
    calls = 0
    while True:
        u = torch.rand((z.shape[0], 3), generator=gen, dtype=z.dtype)
        state = tree_step(state, u, energy0, step_size, inv, pag, MAX_DEPTH)
        calls += 1
        if not bool(state.growing):
            return state, calls


@pytest.mark.parametrize("full_mass", [False, True])
def test_fused_step_follows_the_eager_driver(full_mass):
    z, p, step_size, inv = start(6, full_mass)
    pag = potential_and_grad_from(banana)
    out = eager(z, p, step_size, inv, pag)
    state, calls = fused(z, p, step_size, inv, pag)
    assert out.num_steps.unique().numel() > 1, "the chains should stop at different depths"
    assert calls == int(out.num_steps.max())
    assert torch.equal(state.num_steps, out.num_steps)
    assert torch.equal(state.depth, out.tree_depth)
    assert torch.equal(state.diverging, out.diverging)
    torch.testing.assert_close(state.prop_z, out.z)
    torch.testing.assert_close(state.prop_grad, out.grad)
    torch.testing.assert_close(state.prop_energy, out.energy)
    torch.testing.assert_close(state.sum_accept / state.num_steps, out.accept_prob)


def test_checkpoint_masks_of_tensor_and_int_leaf_indices_agree():
    num_slots = 9
    for k in range(1 << (num_slots - 1)):
        ints = _slot_masks(k, num_slots, torch.device("cpu"))
        tensors = _slot_masks(torch.tensor(k), num_slots, torch.device("cpu"))
        if k % 2 == 0:
            assert torch.equal(ints.write, tensors.write), k
            assert ints.in_range is None and not tensors.in_range.any(), k
            assert not tensors.in_pairs.any(), k
        else:
            assert ints.write is None and not tensors.write.any(), k
            assert torch.equal(ints.in_range, tensors.in_range), k
            assert torch.equal(ints.in_pairs, tensors.in_pairs), k
    # leaf 5 (binary 101) of a subtree ends only the 2-leaf subtree {4, 5}: slot
    # popcount(5 >> 1) = 1; leaf 7 ends {6, 7}, {4..7} and {0..7}: slots 0..2
    assert _slot_masks(5, 4, torch.device("cpu")).in_range.tolist() == [0, 1, 0, 0]
    assert _slot_masks(7, 4, torch.device("cpu")).in_range.tolist() == [1, 1, 1, 0]


def test_packer_round_trip_groups_fields_by_shape_and_dtype():
    z, p, _, _ = start(3, False)
    potential = banana(z)
    state = init_tree(z, p, potential, p, potential, 4)
    packer = Packer(state)
    packed = packer.pack(state)
    assert len(packed) == len({(v.shape, v.dtype) for v in state})
    back = packer.unpack(packed)
    assert isinstance(back, TreeState)
    for name in TreeState._fields:
        assert torch.equal(getattr(back, name), getattr(state, name)), name
    group, at = packer.group_of(TreeState._fields.index("growing"))
    assert bool(packed[group][at])


@pytest.mark.parametrize("full_mass", [False, True])
def test_compiled_step_follows_the_eager_driver(full_mass):
    z, p, step_size, inv = start(6, full_mass)
    pag = potential_and_grad_from(banana)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = compile_tree_step(z, step_size, inv, pag, MAX_DEPTH)
    assert compiled is not None, [str(w.message) for w in caught]
    for seed in (1, 2, 3):
        ref = eager(z, p, step_size, inv, pag, seed=seed)
        got = eager(z, p, step_size, inv, pag, compiled, seed=seed)
        assert torch.equal(got.num_steps, ref.num_steps), seed
        assert torch.equal(got.tree_depth, ref.tree_depth), seed
        torch.testing.assert_close(got.z, ref.z)
        torch.testing.assert_close(got.energy, ref.energy)
        torch.testing.assert_close(got.accept_prob, ref.accept_prob)


def test_compile_failure_warns_and_nuts_samples_eagerly():
    def branching(z):  # reads a value: cannot be traced into one graph
        return 0.5 * (z**2).sum(-1) * (2.0 if float(z.sum()) > 1e9 else 1.0)

    with pytest.warns(UserWarning, match="compiling the potential failed"):
        assert (
            compile_graph(potential_and_grad_from(branching), (torch.ones(2, 3),), "potential")
            is None
        )

    kernel = NUTS(potential_fn=branching, jit_compile=True)
    with pytest.warns(UserWarning, match="compiling the NUTS tree step failed"):
        state = kernel.init(torch.zeros(2, 3), num_warmup=0, seed=0)
    for _ in range(3):
        state = kernel.sample(state)
    assert (state.num_steps > 0).all()


@pytest.mark.statistical
def test_jit_nuts_samples_the_correlated_gaussian(seed):
    kernel = NUTS(potential_fn=gaussian(MEAN, COV), jit_compile=True)
    _, x, _ = run(kernel, 4, 2, 200, 600, seed=seed)
    assert_moments(x, MEAN, COV)
    assert kernel._compiled is not None
