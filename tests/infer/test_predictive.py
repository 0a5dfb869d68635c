"""Predictive: shapes, conditioning on posterior samples, guide-based draws, parallel mode."""

import math

import pytest
import torch
from tolerances import mean_tolerance, z_bound

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import Predictive


def model(x, y=None):
    w = pyro.sample("w", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
    with pyro.plate("data", x.shape[0]):
        return pyro.sample("y", dist.Normal((x * w).sum(-1), sigma), obs=y)


def guide(x, y=None):
    loc = pyro.param("w_loc", torch.tensor([1.0, -1.0]))
    pyro.sample("w", dist.Normal(loc, 0.01).to_event(1))
    pyro.sample("sigma", dist.LogNormal(-3.0, 0.01))


X = torch.randn(6, 2)


@pytest.mark.parametrize("parallel", [False, True])
def test_posterior_samples_shapes_and_values(parallel):
    samples = {"w": torch.randn(30, 2), "sigma": torch.full((30,), 1e-4)}
    pred = Predictive(model, posterior_samples=samples, parallel=parallel)(X)
    assert set(pred) == {"y"}
    assert pred["y"].shape == (30, 6)
    # with sigma tiny, y equals x @ w for each posterior sample
    assert torch.allclose(pred["y"], samples["w"] @ X.T, atol=1e-2)


@pytest.mark.statistical
@pytest.mark.parametrize("parallel", [False, True])
def test_guide_draws(parallel, seed):
    pred = Predictive(model, guide=guide, num_samples=20, parallel=parallel)(X)
    assert set(pred) == {"w", "sigma", "y"}
    assert pred["w"].shape == (20, 2) and pred["sigma"].shape == (20,)
    # 2 means of 20 draws with sd 0.01, and 20 x 6 residuals y - x w with sd sigma, which
    # the guide puts at exp(-3) (times a factor within 5% of 1)
    n_comparisons = 2 + 20 * 6
    tol = mean_tolerance(0.01, 20, n_comparisons)
    assert torch.allclose(pred["w"].mean(0), torch.tensor([1.0, -1.0]), atol=tol)
    tol = z_bound(n_comparisons) * math.exp(-3) * 1.05
    assert torch.allclose(pred["y"], pred["w"] @ X.T, atol=tol)


def test_return_sites_and_errors():
    pred = Predictive(model, num_samples=4, return_sites=["w", "_RETURN"])(X)
    assert pred["w"].shape == (4, 2) and pred["_RETURN"].shape == (4, 6)
    with pytest.raises(KeyError, match="nope"):
        Predictive(model, num_samples=2, return_sites=["nope"])(X)
    with pytest.raises(ValueError, match="leading"):
        Predictive(model, posterior_samples={"w": torch.zeros(3, 2), "sigma": torch.ones(4)})
    with pytest.raises(ValueError, match="needs"):
        Predictive(model)


@pytest.mark.parametrize("parallel", [False, True])
def test_observed_data_is_returned_once_per_sample(parallel):
    samples = {"w": torch.randn(5, 2), "sigma": torch.ones(5)}
    y = torch.arange(6.0)
    pred = Predictive(model, posterior_samples=samples, parallel=parallel)(X, y)
    assert pred["y"].shape == (5, 6)
    assert torch.equal(pred["y"], y.expand(5, 6))
