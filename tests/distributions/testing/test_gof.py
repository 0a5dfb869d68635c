"""Goodness-of-fit tests: p-values near uniform for matching data, near 0 for a mismatch."""

import math

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions.testing import gof
from pyrolite.distributions.testing.special import chi2sf


@pytest.mark.parametrize("s", [1, 2.5, 7, 30])
@pytest.mark.parametrize("x", [0.0, 0.3, 2.0, 15.0, 60.0])
def test_chi2sf_matches_scipy(x, s):
    stats = pytest.importorskip("scipy.stats")
    assert math.isclose(chi2sf(x, s), stats.chi2.sf(x, s), rel_tol=1e-9, abs_tol=1e-14)


def test_chi2sf_closed_form_for_two_dof():
    # chi^2 with 2 degrees of freedom is Exponential(1/2): sf(x) = exp(-x/2)
    for x in (0.5, 3.0, 10.0):
        assert math.isclose(chi2sf(x, 2), math.exp(-x / 2), rel_tol=1e-12)


def test_multinomial_counts_equal_to_expectation_give_p_value_one():
    probs = torch.tensor([0.2, 0.3, 0.5])
    assert gof.multinomial_goodness_of_fit(probs, probs * 1000) == pytest.approx(1.0)


def test_multinomial_far_off_counts_give_a_small_p_value():
    probs = torch.tensor([0.2, 0.3, 0.5])
    counts = torch.tensor([500.0, 300.0, 200.0])
    assert gof.multinomial_goodness_of_fit(probs, counts) < 1e-10


def test_multinomial_edge_cases():
    assert gof.multinomial_goodness_of_fit(torch.tensor([1.0, 0.0]), torch.tensor([5, 0])) == 1
    assert gof.multinomial_goodness_of_fit(torch.tensor([1.0, 0.0]), torch.tensor([4, 1])) == 0
    with pytest.warns(UserWarning, match="Zero probability"):
        p = gof.multinomial_goodness_of_fit(torch.tensor([0.5, 0.5, 0.0]), torch.tensor([5, 5, 1]))
    assert p == 0.0
    with pytest.raises(gof.InvalidTest):
        gof.multinomial_goodness_of_fit(torch.tensor([0.5, 0.5]), torch.tensor([1, 2]))


def test_multinomial_truncated_counts_keep_every_dof():
    probs = torch.tensor([0.25, 0.25])
    counts = torch.tensor([30.0, 20.0])
    # chi^2 = (30-25)^2/18.75 + (20-25)^2/18.75 with 2 dof (truncated) vs 1 dof (full)
    stat = 2 * 25 / 18.75
    assert gof.multinomial_goodness_of_fit(probs, counts, total_count=100) == pytest.approx(
        chi2sf(stat, 2)
    )


@pytest.mark.parametrize(
    "d",
    [dist.Normal(0.5, 2.0), dist.Gamma(3.0, 2.0), dist.Beta(2.0, 5.0)],
    ids=["normal", "gamma", "beta"],
)
def test_density_gof_accepts_matching_and_rejects_wrong_densities(d):
    torch.manual_seed(0)
    x = d.sample((5000,))
    assert gof.auto_goodness_of_fit(x, d.log_prob(x).exp()) > 1e-3
    # half the samples with a density 50% too high
    wrong = d.log_prob(x).exp() * torch.where(x > x.median(), 1.5, 1.0)
    assert gof.auto_goodness_of_fit(x, wrong) < 1e-3


def test_vector_density_gof_on_a_correlated_gaussian():
    torch.manual_seed(0)
    d = dist.MultivariateNormal(torch.zeros(2), torch.tensor([[1.0, 0.6], [0.6, 1.0]]))
    x = d.sample((5000,))
    probs = d.log_prob(x).exp()
    assert gof.auto_goodness_of_fit(x, probs) > 1e-3
    assert gof.auto_goodness_of_fit(x, 3 * probs) < 1e-3
    with pytest.raises(gof.InvalidTest):
        gof.vector_density_goodness_of_fit(x[:1000], probs[:1000])


def test_nearest_neighbor_distances_and_sphere_volume():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])
    torch.testing.assert_close(
        gof.get_nearest_neighbor_distances(x).to(x.dtype), torch.tensor([5.0, 1.0, 1.0])
    )
    assert gof.volume_of_sphere(2, 1.0) == pytest.approx(math.pi)
    assert gof.volume_of_sphere(3, 2.0) == pytest.approx(4 / 3 * math.pi * 8)


def test_auto_gof_on_zero_dim_events_and_small_samples():
    assert gof.auto_goodness_of_fit(torch.zeros(10, 0), torch.ones(10)) == 1.0
    with pytest.raises(gof.InvalidTest):
        gof.density_goodness_of_fit(torch.randn(50), torch.ones(50))


def test_unif01_gof():
    torch.manual_seed(0)
    assert gof.unif01_goodness_of_fit(torch.rand(10000)) > 1e-3
    assert gof.unif01_goodness_of_fit(torch.rand(10000) ** 1.5) < 1e-6
    with pytest.raises(gof.InvalidTest):
        gof.unif01_goodness_of_fit(torch.rand(100))


def test_agrees_with_pyro():
    pyro_gof = pytest.importorskip("pyro.distributions.testing.gof")
    torch.manual_seed(1)
    d = dist.Gamma(2.0, 1.0)
    x = d.sample((3000,))
    probs = d.log_prob(x).exp()
    assert gof.auto_goodness_of_fit(x, probs) == pytest.approx(
        pyro_gof.auto_goodness_of_fit(x, probs), rel=1e-6
    )
    counts = torch.tensor([30.0, 50.0, 20.0])
    probs3 = torch.tensor([0.3, 0.45, 0.25])
    assert gof.multinomial_goodness_of_fit(probs3, counts) == pytest.approx(
        pyro_gof.multinomial_goodness_of_fit(probs3, counts), rel=1e-6
    )
