"""Importance sampling: log evidence against the exact value, ESS bounds and behaviour."""

import math

import pytest
import torch
from tolerances import mean_tolerance

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import Importance

X = torch.tensor([0.8, 1.4, 0.2, 1.1])
EXACT = (
    torch.distributions.MultivariateNormal(torch.zeros(4), torch.eye(4) + torch.ones(4, 4))
    .log_prob(X)
    .item()
)


def model(x):
    z = pyro.sample("z", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)


def exact_posterior_guide(x):
    n = len(x)
    pyro.sample("z", dist.Normal(x.sum() / (n + 1), 1 / math.sqrt(n + 1)))


def test_exact_posterior_proposal_gives_exact_evidence_and_full_ess():
    imp = Importance(model, exact_posterior_guide, num_samples=50).run(X)
    # with q = posterior every weight equals p(x): no Monte Carlo error at all
    assert torch.allclose(imp.log_weights, torch.full((50,), EXACT), atol=1e-4)
    assert imp.get_log_normalizer().item() == pytest.approx(EXACT, abs=1e-4)
    assert imp.get_ESS().item() == pytest.approx(50.0, rel=1e-4)


@pytest.mark.statistical
def test_prior_proposal_estimates_evidence(seed):
    imp = Importance(model, num_samples=4000).run(X)
    # Prior proposal (by quadrature): the weights' relative sd is 1.09, so the log of their
    # mean has sd 1.09 / sqrt(4000) (delta method); the self-normalised estimate of the
    # posterior mean 0.7 has per-sample sd sqrt(E_q[w^2 (z - 0.7)^2]) / p(x) = 0.506. 2 checks.
    tol = mean_tolerance(1.09, 4000, n_comparisons=2)
    assert imp.get_log_normalizer().item() == pytest.approx(EXACT, abs=tol)
    ess = imp.get_ESS().item()
    assert 1.0 <= ess < 4000
    assert imp.get_samples("z").shape == (4000,)
    weights = imp.get_normalized_weights()
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-5)
    # the weighted mean of z approximates the posterior mean sum(x) / 5
    tol = mean_tolerance(0.506, 4000, n_comparisons=2)
    assert (weights * imp.get_samples("z")).sum().item() == pytest.approx(0.7, abs=tol)


def test_results_before_run_are_an_error():
    with pytest.raises(RuntimeError, match="run"):
        Importance(model).get_ESS()
