import math

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer.autoguide.initialization import init_to_median, init_to_value
from pyrolite.infer.mcmc import initialize_model


def small_model(y):
    loc = pyro.sample("loc", dist.Normal(0.0, 2.0))
    scale = pyro.sample("scale", dist.LogNormal(0.0, 1.0))
    p = pyro.sample("p", dist.Beta(2.0, 3.0))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Normal(loc, scale * (1 + p)), obs=y)


def regression(x, y):
    w = pyro.sample("w", dist.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    sigma = pyro.sample("sigma", dist.HalfCauchy(1.0))
    with pyro.plate("n", x.shape[0]):
        pyro.sample("y", dist.Normal(x @ w, sigma), obs=y)


def hierarchical(y, s):
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("J", len(y)):
        theta = pyro.sample("theta", dist.Normal(mu, tau))
        pyro.sample("y", dist.Normal(theta, s), obs=y)


def simplex_model():
    probs = pyro.sample("probs", dist.Dirichlet(torch.ones(3)))
    with poutine.scale(scale=2.0):
        pyro.sample("k", dist.Categorical(probs), obs=torch.tensor(1))
    pyro.factor("bonus", probs[0].log())


Y = torch.tensor([0.3, -1.2, 2.0, 0.7])


def test_potential_equals_minus_log_density_minus_log_jacobian():
    info = initialize_model(small_model, (Y,), num_chains=3)
    z = torch.tensor([[0.1, -0.5, 0.3], [1.0, 0.2, -2.0], [-0.7, 1.5, 0.0]])
    energy = info.potential_fn(z)
    for c in range(3):
        loc, log_scale, logit_p = z[c]
        scale, p = log_scale.exp(), torch.sigmoid(logit_p)
        lp = dist.Normal(0.0, 2.0).log_prob(loc) + dist.LogNormal(0.0, 1.0).log_prob(scale)
        lp = lp + dist.Beta(2.0, 3.0).log_prob(p)
        lp = lp + dist.Normal(loc, scale * (1 + p)).log_prob(Y).sum()
        # log|J| of exp is log_scale; of sigmoid it is log p + log(1 - p).
        log_jac = log_scale + p.log() + (1 - p).log()
        assert energy[c].item() == pytest.approx(-(lp + log_jac).item(), rel=1e-5)


def test_constrain_and_unconstrain_round_trip():
    info = initialize_model(small_model, (Y,), num_chains=2)
    z = torch.tensor([[0.1, -0.5, 0.3], [1.0, 0.2, -2.0]])
    values = info.constrain(z)
    assert set(values) == {"loc", "scale", "p"}
    assert torch.allclose(values["scale"], z[:, 1].exp())
    assert torch.allclose(values["p"], torch.sigmoid(z[:, 2]))
    assert torch.allclose(info.unconstrain(values), z, atol=1e-6)


@pytest.mark.parametrize(
    "model, args, dims, mode",
    [
        (small_model, (Y,), 3, "broadcast"),
        # x @ w and probs[0] do not broadcast over a chain dim: these run under vmap
        (regression, (torch.randn(20, 3), torch.randn(20)), 4, "vmap"),
        (hierarchical, (torch.randn(8) * 10, torch.rand(8) * 10 + 5), 10, "broadcast"),
        (simplex_model, (), 2, "vmap"),
    ],
)
def test_batched_equals_per_chain_loop(model, args, dims, mode):
    info = initialize_model(model, args, num_chains=5)
    assert info.mode == mode
    assert info.init_params.shape == (5, dims)
    z = info.init_params + 0.3 * torch.randn(5, dims)
    energy, grad = info.potential_and_grad(z)
    assert energy.shape == (5,) and grad.shape == (5, dims)
    assert not energy.requires_grad and not grad.requires_grad
    for c in range(5):
        zc = z[c].clone().requires_grad_(True)
        e_loop = _energy_by_hand(info, model, args, zc)
        (g_loop,) = torch.autograd.grad(e_loop, zc)
        assert torch.allclose(energy[c], e_loop, rtol=1e-5, atol=1e-5)
        assert torch.allclose(grad[c], g_loop, rtol=1e-4, atol=1e-5)


def _energy_by_hand(info, model, args, z):
    """-log_density - log|J| for one chain, site by site with the potential's transforms."""
    values, log_jac, start = {}, 0.0, 0
    for name, shape in info.site_shapes.items():
        transform = info.transforms[name]
        size = transform.inv(torch.zeros(shape) + 0.5 if name == "probs" else torch.ones(shape))
        u = z[start : start + size.numel()].reshape(size.shape)
        start += size.numel()
        values[name] = transform(u)
        log_jac = log_jac + transform.log_abs_det_jacobian(u, values[name]).sum()
    with pyro.validation_enabled(False):
        lp, _ = pyro.infer.log_density(model, args, {}, values)
    return -(lp + log_jac)


def test_batched_gradient_matches_autograd_of_log_density():
    x, y = torch.randn(20, 3), torch.randn(20)
    info = initialize_model(regression, (x, y), num_chains=4)
    z = torch.randn(4, 4)
    _, grad = info.potential_and_grad(z)
    for c in range(4):
        zc = z[c].clone().requires_grad_(True)
        w, sigma = zc[:3], zc[3].exp()
        lp, _ = pyro.infer.log_density(regression, (x, y), {}, {"w": w, "sigma": sigma})
        energy = -(lp + zc[3])
        (expected,) = torch.autograd.grad(energy, zc)
        assert torch.allclose(grad[c], expected, rtol=1e-4, atol=1e-5)


def test_shapes_of_site_layout():
    info = initialize_model(simplex_model, num_chains=2)
    assert info.site_shapes == {"probs": torch.Size([3])}
    values = info.constrain(info.init_params)
    assert values["probs"].shape == (2, 3)
    assert torch.allclose(values["probs"].sum(-1), torch.ones(2))


def test_each_chain_gets_its_own_finite_init():
    info = initialize_model(hierarchical, (torch.randn(8), torch.ones(8)), num_chains=6)
    z = info.init_params
    assert torch.isfinite(info.potential_fn(z)).all()
    assert len({tuple(row.tolist()) for row in z}) == 6
    assert (z.abs() <= 2).all()  # init_to_uniform's default radius
    assert info.num_evaluations == 0


def test_init_to_median_starts_near_the_prior_median():
    strategy = init_to_median(num_samples=2000)
    info = initialize_model(small_model, (Y,), num_chains=3, init_strategy=strategy)
    # Unconstrained medians: loc 0, log scale 0, logit p = logit(median of Beta(2, 3)) = -0.41.
    # The sample median of 2000 draws has sd ~ 1.25 sd / sqrt(2000) <= 0.06 here; 5 sd: 0.3.
    expected = torch.tensor([0.0, 0.0, math.log(0.3857 / 0.6143)])
    assert (info.init_params - expected).abs().max() < 0.3


def test_init_retries_until_finite():
    # loc must exceed 1 for the observation to have positive density: most uniform draws on
    # (-2, 2) are rejected and redrawn.
    def model():
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        pyro.sample("obs", dist.Uniform(loc - 0.5, loc + 0.5), obs=torch.tensor(1.2))

    info = initialize_model(model, num_chains=4)
    loc = info.constrain(info.init_params)["loc"]
    assert ((loc > 0.7) & (loc < 1.7)).all()
    assert torch.isfinite(info.potential_fn(info.init_params)).all()


def test_init_failure_names_site():
    def model():
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        pyro.sample("obs", dist.Uniform(loc - 0.5, loc + 0.5), obs=torch.tensor(50.0))

    with pytest.raises(ValueError, match=r"chain 0 in 100 tries.*'obs'"):
        initialize_model(model, num_chains=2)


def test_an_error_inside_a_density_names_the_site():
    def model():
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 3):
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=torch.zeros(4))  # 4 values, plate of 3

    with pytest.raises(
        (ValueError, RuntimeError),
        match=r"(?s)site 'obs'.*value shape \(4\).*MCMC potential",
    ):
        initialize_model(model, num_chains=2)


def test_initial_params_per_chain_and_shared():
    # unconstrained values, as in Pyro: scale > 0 starts at exp(0.7)
    init = {"loc": torch.tensor([0.5, -0.5]), "scale": torch.tensor(0.7)}
    info = initialize_model(small_model, (Y,), num_chains=2, initial_params=init)
    values = info.constrain(info.init_params)
    assert torch.allclose(values["loc"], init["loc"])
    assert torch.allclose(values["scale"], torch.full((2,), 0.7).exp())
    # a site not named keeps the init strategy: p in (0, 1), different per chain
    assert values["p"][0] != values["p"][1]


def test_initial_params_unknown_site_is_an_error():
    with pytest.raises(ValueError, match=r"\['nope'\].*latent sites are \['loc', 'p', 'scale'\]"):
        initialize_model(small_model, (Y,), initial_params={"nope": torch.tensor(1.0)})


def test_init_to_value_strategy():
    strategy = init_to_value(values={"loc": torch.tensor(1.5)})
    info = initialize_model(small_model, (Y,), num_chains=2, init_strategy=strategy)
    assert torch.allclose(info.constrain(info.init_params)["loc"], torch.full((2,), 1.5))


def test_discrete_latent_is_a_clear_error():
    def model():
        k = pyro.sample("k", dist.Bernoulli(0.3))
        pyro.sample("x", dist.Normal(k, 1.0), obs=torch.tensor(0.5))

    with pytest.raises(ValueError, match=r"'k' \(Bernoulli\).*discrete support"):
        initialize_model(model)


def test_model_without_latents_is_an_error():
    def model():
        pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))

    with pytest.raises(ValueError, match="no latent sample sites"):
        initialize_model(model)


def test_validation_left_as_the_user_set_it():
    info = initialize_model(small_model, (Y,), num_chains=2)
    info.potential_and_grad(info.init_params)
    assert pyro.is_validation_enabled()
    with pyro.validation_enabled(False):
        info.potential_fn(info.init_params)
        assert not pyro.is_validation_enabled()


def test_data_dependent_model_falls_back_to_loop_with_warning():
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        if x.item() > 100:  # Python control flow on a value: vmap cannot run this
            raise AssertionError
        pyro.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(1.0))

    with pytest.warns(UserWarning, match="one by one in a Python loop"):
        info = initialize_model(model, num_chains=3)
    assert info.mode == "loop"
    z = torch.tensor([[0.0], [1.0], [2.0]])
    energy, grad = info.potential_and_grad(z)
    # U(x) = x^2/2 + (x - 1)^2/2 + log(2 pi); dU/dx = 2x - 1
    expected = z[:, 0] ** 2 / 2 + (z[:, 0] - 1) ** 2 / 2 + math.log(2 * math.pi)
    assert torch.allclose(energy, expected, atol=1e-5)
    assert torch.allclose(grad[:, 0], 2 * z[:, 0] - 1, atol=1e-5)
    assert info.num_evaluations == 1


def test_masked_and_scaled_sites():
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        with poutine.scale(scale=3.0):
            pyro.sample("a", dist.Normal(x, 1.0), obs=torch.tensor(1.0))
        with poutine.mask(mask=torch.tensor(False)):
            pyro.sample("b", dist.Normal(x, 1.0), obs=torch.tensor(5.0))

    info = initialize_model(model)
    energy, grad = info.potential_and_grad(torch.tensor([[0.5]]))
    # U = x^2/2 + 3 (x - 1)^2 / 2 + const; dU/dx = x + 3 (x - 1) = -1 at x = 0.5
    assert grad.item() == pytest.approx(-1.0, abs=1e-6)


def test_deterministic_sites_are_returned_on_request():
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        pyro.deterministic("twice", 2 * x)

    info = initialize_model(model, num_chains=2)
    values = info.constrain(torch.tensor([[1.0], [3.0]]), include_deterministic=True)
    assert torch.equal(values["twice"], torch.tensor([2.0, 6.0]))
    assert set(info.constrain(torch.zeros(2, 1))) == {"x"}


def nested(y):
    scales = pyro.sample("scales", dist.LogNormal(torch.zeros(2), 1.0).to_event(1))
    with pyro.plate("groups", 3, dim=-2):
        offset = pyro.sample("offset", dist.Normal(0.0, 1.0))
        with pyro.plate("items", 4, dim=-1):
            loc = pyro.sample("loc", dist.Normal(offset, scales[..., 0]))
            pyro.sample("y", dist.Normal(loc, scales[..., 1]), obs=y)


def test_broadcast_mode_agrees_with_vmap_on_nested_plates():
    # (scales[..., :1] instead would keep the event dim as a batch dim: the chain dim then
    # lands at different places, broadcast gives other numbers and vmap is chosen.)
    y = torch.randn(3, 4)
    info = initialize_model(nested, (y,), num_chains=4)
    assert info.mode == "broadcast" and info.nesting == 2
    z = torch.randn(4, 2 + 3 + 12)
    energy, grad = info.potential_and_grad(z)
    info.mode = "vmap"
    expected_energy, expected_grad = info.potential_and_grad(z)
    assert torch.allclose(energy, expected_energy, rtol=1e-5)
    assert torch.allclose(grad, expected_grad, rtol=1e-4, atol=1e-6)
    assert info.num_evaluations == 2


def test_float64_data_makes_float64_chains():
    y = torch.tensor([0.3, -1.2], dtype=torch.float64)
    info = initialize_model(small_model, (y,), num_chains=2)
    assert info.init_params.dtype == torch.float64
    energy, grad = info.potential_and_grad(info.init_params)
    assert energy.dtype == grad.dtype == torch.float64


def many_supports():
    pyro.sample("u", dist.Uniform(-1.0, 3.0))
    pyro.sample("g", dist.Gamma(2.0, 3.0).expand([2]).to_event(1))
    pyro.sample("t", dist.StudentT(3.0, 0.0, 2.0))
    pyro.sample("e", dist.Exponential(torch.ones(3)).to_event(1))
    pyro.sample("d", dist.Dirichlet(torch.ones(4)))
    pyro.sample("c", dist.LKJCholesky(3, 2.0))
    with pyro.plate("p", 2):
        pyro.sample("h", dist.HalfNormal(1.0))


def test_common_supports_agree_across_modes():
    info = initialize_model(many_supports, num_chains=3)
    # 1 + 2 + 1 + 3 + 3 (simplex of 4) + 3 (3 x 3 Cholesky factor) + 2
    assert info.init_params.shape == (3, 15)
    z = info.init_params + 0.2 * torch.randn(3, 15)
    results = {}
    for mode in ("broadcast", "vmap", "loop"):
        info.mode = mode
        results[mode] = info.potential_and_grad(z)
    for mode in ("vmap", "loop"):
        assert torch.allclose(results[mode][0], results["broadcast"][0], rtol=1e-5)
        assert torch.allclose(results[mode][1], results["broadcast"][1], rtol=1e-4, atol=1e-5)
    values = info.constrain(z)
    assert values["c"].shape == (3, 3, 3) and values["d"].shape == (3, 4)
    assert ((values["u"] > -1) & (values["u"] < 3)).all()
