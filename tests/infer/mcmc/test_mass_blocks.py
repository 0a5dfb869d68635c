import pytest
import torch
from tolerances import mean_tolerance, variance_ess

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer.mcmc import MCMC, NUTS, ArrowheadMassMatrix, BlockMassMatrix
from pyrolite.infer.mcmc.mass_matrix import welford_init, welford_update

# w (2), x (1), y (1), z (1) with block covariance: w dense, (x, y) dense, z alone
W_COV = torch.tensor([[1.5, 0.5], [0.5, 1.5]], dtype=torch.float64)
XY_COV = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
Z_VAR = torch.tensor([2.5], dtype=torch.float64)
COV = torch.block_diag(W_COV, XY_COV, torch.diag(Z_VAR))
LAYOUT = {
    "w": (0, 2, torch.Size([2])),
    "x": (2, 3, torch.Size([1])),
    "y": (3, 4, torch.Size([1])),
    "z": (4, 5, torch.Size([1])),
}


def block_model():
    w = pyro.sample("w", dist.Normal(0.0, 1000.0).expand([2]).to_event(1))
    x = pyro.sample("x", dist.Normal(0.0, 1000.0).expand([1]).to_event(1))
    y = pyro.sample("y", dist.Normal(0.0, 1000.0).expand([1]).to_event(1))
    z = pyro.sample("z", dist.Normal(0.0, 1000.0).expand([1]).to_event(1))
    value = torch.cat([w, x, y, z])
    pyro.sample("obs", dist.MultivariateNormal(torch.zeros(5, dtype=COV.dtype), COV), obs=value)


PREC = torch.linalg.inv(COV)
INIT = {
    n: torch.zeros(4, stop - start, dtype=torch.float64) for n, (start, stop, _) in LAYOUT.items()
}


def block_potential(params):
    """The same Gaussian as ``block_model``'s posterior, as Pyro's potential_fn on dicts."""
    value = torch.cat([params[n] for n in ("w", "x", "y", "z")])
    return 0.5 * value @ PREC @ value


def welford_of(draws):
    state = welford_init(draws[0], dense=True)
    for z in draws:
        state = welford_update(state, z)
    return state


@pytest.mark.parametrize(
    "full_mass, keys",
    [
        (False, [("w", "x", "y", "z")]),
        (True, [("w", "x", "y", "z")]),
        ([("w",), ("y", "x")], [("w",), ("y", "x"), ("z",)]),
    ],
)
def test_block_keys_and_shapes_for_batched_chains(full_mass, keys):
    adapter = BlockMassMatrix(init_scale=2.0)
    flat = adapter.configure(LAYOUT, full_mass, torch.zeros(3, 5, dtype=torch.float64))
    assert flat.shape == ((3, 5) if full_mass is False else (3, 5, 5))
    blocks = adapter.inverse_mass_matrix
    assert list(blocks) == keys
    for key, block in blocks.items():
        size = sum(LAYOUT[n][1] - LAYOUT[n][0] for n in key)
        dense = full_mass is True or (isinstance(full_mass, list) and key in full_mass)
        assert block.shape == ((3, size, size) if dense else (3, size))
        expected = 2.0 * (torch.eye(size) if dense else torch.ones(size))
        assert torch.equal(block, expected.to(block).expand_as(block))


def test_block_estimate_is_the_dense_estimate_restricted_to_the_blocks():
    torch.manual_seed(0)
    draws = torch.randn(40, 2, 5, dtype=torch.float64) @ torch.linalg.cholesky(COV + 0.5).mT
    adapter = BlockMassMatrix()
    adapter.configure(LAYOUT, [("w",), ("y", "x")], draws[0])
    state = welford_of(draws)
    got = adapter.estimate(state)
    adapter.record(got)
    n = draws.shape[0]
    for c in range(2):
        reference = torch.cov(draws[:, c].T) * n / (n + 5) + 1e-3 * 5 / (n + 5) * torch.eye(5)
        mask = torch.eye(5, dtype=torch.bool)
        mask[:2, :2] = True
        mask[2:4, 2:4] = True
        assert torch.allclose(got[c], reference * mask)
        blocks = adapter.inverse_mass_matrix
        assert torch.allclose(blocks[("w",)][c], reference[:2, :2])
        # the key's order: y before x
        assert torch.allclose(blocks[("y", "x")][c], reference[[3, 2]][:, [3, 2]])
        assert torch.allclose(blocks[("z",)][c], reference[4, 4:5])


def test_set_inverse_mass_matrix_is_used_by_the_run():
    kernel = NUTS(block_model, adapt_mass_matrix=False, full_mass=[("x", "y")])
    kernel.inverse_mass_matrix = {("x", "y"): XY_COV, ("w", "z"): torch.tensor([1.5, 1.5, 2.5])}
    mcmc = MCMC(kernel, num_samples=2, warmup_steps=0, num_chains=2, disable_progbar=True)
    mcmc.run()
    flat = mcmc._record.final_state.inverse_mass_matrix
    expected = torch.diag(torch.tensor([1.5, 1.5, 0.0, 0.0, 2.5], dtype=torch.float64))
    expected[2:4, 2:4] = XY_COV
    assert torch.equal(flat, expected.expand(2, 5, 5))
    assert torch.equal(kernel.inverse_mass_matrix[("x", "y")], XY_COV.expand(2, 2, 2))
    with pytest.raises(KeyError, match="no mass matrix block"):
        kernel.inverse_mass_matrix = {("w",): torch.ones(2)}


def test_full_mass_names_unknown_site():
    kernel = NUTS(block_model, full_mass=[("w", "nope")])
    mcmc = MCMC(kernel, num_samples=1, warmup_steps=0, disable_progbar=True)
    with pytest.raises(ValueError, match="'nope', which is not a latent site"):
        mcmc.run()


@pytest.mark.statistical
def test_adapted_blocks_match_the_posterior_covariance(seed):
    # The last slow window (450-950 of 1000) estimates each block from 500 draws per chain.
    # A sample covariance entry S_ij has sd sqrt((C_ij^2 + C_ii C_jj) / ess); the ess of the
    # window is taken from the post-warmup draws' variance ESS per draw, times 500.
    num_chains, window = 4, 500
    kernel = NUTS(potential_fn=block_potential, full_mass=[("w",), ("x", "y")])
    mcmc = MCMC(
        kernel,
        num_samples=500,
        warmup_steps=1000,
        initial_params=INIT,
        num_chains=num_chains,
        disable_progbar=True,
    )
    mcmc.run()
    samples = mcmc.get_samples(group_by_chain=True)
    draws = torch.cat([samples[n] for n in ("w", "x", "y", "z")], -1)
    ess_ratio = float((variance_ess(draws) / (num_chains * draws.shape[1])).min().clamp(max=1))
    ess = ess_ratio * window
    shrink, ridge = window / (window + 5), 1e-3 * 5 / (window + 5)
    blocks = kernel.inverse_mass_matrix
    pieces = [(("w",), W_COV, True), (("x", "y"), XY_COV, True), (("z",), Z_VAR, False)]
    n_comparisons = num_chains * (4 + 4 + 1)
    for key, truth, dense in pieces:
        if dense:
            diag = truth.diagonal()
            sd = (truth**2 + diag[:, None] * diag[None, :]).sqrt()
            expected = shrink * truth + ridge * torch.eye(len(truth), dtype=truth.dtype)
        else:
            sd = 2**0.5 * truth
            expected = shrink * truth + ridge
        tol = mean_tolerance(sd, ess, n_comparisons)
        assert ((blocks[key] - expected).abs() < tol).all(), (key, blocks[key], expected, tol)


def test_arrowhead_estimate_from_gradients():
    torch.manual_seed(1)
    num_chains = 3
    grads = torch.randn(30, num_chains, 5, dtype=torch.float64) @ torch.linalg.cholesky(COV).mT
    adapter = ArrowheadMassMatrix()
    adapter.configure(LAYOUT, [("w",), ("y", "x")], grads[0])
    key = ("w", "y", "x", "z")
    mass0 = adapter.mass_matrix[key]
    assert mass0.top.shape == (3, 4, 5) and mass0.bottom_diag.shape == (3, 1)
    inverse = adapter.estimate(welford_of(grads))
    adapter.record(inverse)
    order = [0, 1, 3, 2, 4]
    n = grads.shape[0]
    for c in range(num_chains):
        cov = torch.cov(grads[:, c].T) * n / (n + 5) + 1e-3 * 5 / (n + 5) * torch.eye(5)
        cov = cov[order][:, order]
        arrow = torch.eye(5, dtype=torch.bool)
        arrow[:4] = True
        arrow[:, :4] = True
        mass = cov * arrow
        got = adapter.mass_matrix[key]
        assert torch.allclose(got.top[c], mass[:4])
        assert torch.allclose(got.bottom_diag[c], mass.diagonal()[4:])
        assert torch.allclose(adapter.inverse_mass_matrix[key][c], torch.linalg.inv(mass))
    with pytest.raises(NotImplementedError, match="cannot be set"):
        adapter.inverse_mass_matrix = {key: torch.eye(5)}


def test_arrowhead_without_head_is_diagonal_in_the_run():
    kernel = NUTS(potential_fn=block_potential)
    kernel.mass_matrix_adapter = ArrowheadMassMatrix()
    init = {n: v[:2] for n, v in INIT.items()}
    mcmc = MCMC(
        kernel,
        num_samples=5,
        warmup_steps=40,
        initial_params=init,
        num_chains=2,
        disable_progbar=True,
    )
    mcmc.run()
    assert mcmc._record.final_state.inverse_mass_matrix.shape == (2, 5)
    mass = kernel.mass_matrix_adapter.mass_matrix[("w", "x", "y", "z")]
    assert mass.top.shape == (2, 0, 5) and mass.bottom_diag.shape == (2, 5)
