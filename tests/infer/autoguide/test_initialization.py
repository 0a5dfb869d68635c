import math

import pytest
import torch
from tolerances import mean_tolerance

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.distributions import biject_to
from pyrolite.infer.autoguide import AutoDelta, AutoNormal
from pyrolite.infer.autoguide.initialization import (
    InitMessenger,
    init_to_feasible,
    init_to_mean,
    init_to_median,
    init_to_sample,
    init_to_uniform,
    init_to_value,
)


def _site(name, fn):
    return {"name": name, "fn": fn}


def test_site_none_returns_a_strategy():
    fn = dist.Gamma(torch.full((3,), 2.0), 1.0)
    for strategy in (init_to_median(num_samples=5), init_to_uniform(radius=1.0), init_to_mean()):
        value = strategy(_site("x", fn))
        assert value.shape == (3,) and bool((value > 0).all())
    assert init_to_feasible() is init_to_feasible
    assert init_to_sample() is init_to_sample


def test_init_to_value_gives_the_value_and_falls_back():
    values = {"x": torch.tensor([0.3, 0.7])}
    strategy = init_to_value(values=values)
    assert torch.equal(strategy(_site("x", dist.Beta(torch.ones(2), 1.0))), values["x"])
    other = strategy(_site("y", dist.HalfNormal(torch.ones(4))))
    assert other.shape == (4,) and bool((other > 0).all())
    with pytest.raises(ValueError, match="'y'"):
        init_to_value(values=values, fallback=None)(_site("y", dist.Normal(0.0, 1.0)))


@pytest.mark.statistical
def test_init_to_median_is_close_to_the_prior_median(seed):
    # A sample median of n draws has sd sqrt(pi / 2) sd / sqrt(n) = 1.2533 sd / sqrt(n) for a
    # Normal; 3 checks. n = 1001 draws of N(3, 2^2): sd 0.08.
    tol = mean_tolerance(math.sqrt(math.pi / 2) * 2.0, 1001, n_comparisons=3)
    value = init_to_median(_site("x", dist.Normal(3.0, 2.0)), num_samples=1001)
    assert abs(float(value) - 3.0) < tol
    # LogNormal(0, 1) has median 1, and the log of the sample median is that of N(0, 1) draws
    tol = mean_tolerance(math.sqrt(math.pi / 2), 1001, n_comparisons=3)
    value = init_to_median(_site("x", dist.LogNormal(torch.zeros(2), 1.0)), num_samples=1001)
    assert (value.log().abs() < tol).all(), value


def test_init_to_median_falls_back_off_the_support():
    # the elementwise median of simplex draws does not sum to one
    site = _site("p", dist.Dirichlet(torch.tensor([1.0, 2.0, 3.0])))
    value = init_to_median(site)
    assert torch.allclose(value, torch.full((3,), 1 / 3))  # init_to_feasible: the centre


def test_init_to_mean():
    assert torch.allclose(init_to_mean(_site("x", dist.Gamma(6.0, 2.0))), torch.tensor(3.0))
    # a Cauchy has no mean: falls back to the median
    value = init_to_mean(_site("x", dist.Cauchy(torch.zeros(2), 1.0)))
    assert value.shape == (2,) and bool(torch.isfinite(value).all())


def test_init_to_uniform_stays_in_the_radius():
    fn = dist.Beta(torch.full((1000,), 2.0), 3.0)
    value = init_to_uniform(_site("x", fn), radius=0.5)
    unconstrained = biject_to(fn.support).inv(value)
    assert bool((unconstrained.abs() <= 0.5 + 1e-5).all())
    assert float(unconstrained.min()) < -0.4 and float(unconstrained.max()) > 0.4


def test_init_to_feasible_and_sample():
    assert torch.allclose(init_to_feasible(_site("x", dist.Beta(2.0, 2.0))), torch.tensor(0.5))
    assert torch.allclose(init_to_feasible(_site("x", dist.HalfNormal(2.0))), torch.tensor(1.0))
    value = init_to_sample(_site("x", dist.Exponential(torch.ones(5))))
    assert value.shape == (5,) and bool((value > 0).all())


def model():
    scale = pyro.sample("scale", dist.HalfNormal(1.0))
    with pyro.plate("items", 3):
        pyro.sample("z", dist.Normal(0.0, scale))


def test_init_messenger_sets_latent_sites():
    values = {"scale": torch.tensor(2.0), "z": torch.tensor([1.0, 2.0, 3.0])}
    tr = poutine.trace(InitMessenger(init_to_value(values=values))(model)).get_trace()
    assert torch.equal(tr.nodes["scale"]["value"], values["scale"])
    assert torch.equal(tr.nodes["z"]["value"], values["z"])


def test_init_messenger_errors_name_the_site():
    bad_shape = InitMessenger(init_to_value(values={"z": torch.zeros(4)}))(model)
    with pytest.raises(ValueError, match="'z'.*shape"):
        poutine.trace(bad_shape).get_trace()
    bad_support = InitMessenger(init_to_value(values={"scale": torch.tensor(-1.0)}))(model)
    with pytest.raises(ValueError, match="'scale'.*support"):
        poutine.trace(bad_support).get_trace()


def test_guides_start_from_their_init_values():
    values = {"scale": torch.tensor(2.0), "z": torch.tensor([1.0, 2.0, 3.0])}
    delta = AutoDelta(model, init_loc_fn=init_to_value(values=values))
    assert torch.equal(delta()["scale"], values["scale"])
    normal = AutoNormal(model, init_loc_fn=init_to_value(values=values))
    median = normal.median()
    assert torch.allclose(median["scale"], values["scale"])
    assert torch.allclose(median["z"], values["z"])
    assert torch.allclose(pyro.param("AutoNormal.locs.scale"), torch.tensor(2.0).log())
    assert torch.allclose(pyro.param("AutoNormal.scales.z"), torch.full((3,), 0.1))
