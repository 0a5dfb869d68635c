"""RenyiELBO: the IWAE bound is tighter than the ELBO and below the exact log evidence."""

import math

import pytest
import torch
from tolerances import mean_tolerance, t_bound

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import RenyiELBO, Trace_ELBO

X = torch.tensor([0.8, 1.4, 0.2, 1.1])


def model(x):
    z = pyro.sample("z", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)


def guide(x):
    # a deliberately poor guide, so the bounds are well separated
    loc = pyro.param("loc", torch.tensor(0.0))
    pyro.sample("z", dist.Normal(loc, 1.0))


def exact_log_evidence(x):
    """x ~ MVN(0, I + 11^T) when z ~ N(0, 1) and x_i | z ~ N(z, 1)."""
    n = len(x)
    cov = torch.eye(n) + torch.ones(n, n)
    return torch.distributions.MultivariateNormal(torch.zeros(n), cov).log_prob(x).item()


@pytest.mark.statistical
@pytest.mark.parametrize("vectorize", [False, True])
def test_iwae_between_elbo_and_log_evidence(vectorize, seed):
    guide(X)
    k = 50
    iwae = RenyiELBO(alpha=0.0, num_particles=k, vectorize_particles=vectorize)
    bounds = torch.tensor([-iwae.loss(model, guide, X) for _ in range(40)])
    elbo = -Trace_ELBO(num_particles=2000).loss(model, guide, X)
    exact = exact_log_evidence(X)
    iwae_mean, iwae_se = bounds.mean().item(), bounds.std().item() / math.sqrt(len(bounds))
    # 3 checks. The IWAE mean's se is estimated from 40 repeats (Student t, 39 dof). The
    # guide is the prior N(0, 1), so one particle's ELBO term is a constant minus
    # n z^2 / 2 - z sum(x): sd sqrt(n^2 / 2 + sum(x)^2) = 4.5, se 0.1 over 2000 particles.
    t = t_bound(len(bounds) - 1, n_comparisons=3)
    elbo_tol = mean_tolerance(math.sqrt(len(X) ** 2 / 2 + X.sum().item() ** 2), 2000, 3)
    assert iwae_mean - t * iwae_se > elbo + elbo_tol + 0.2  # and the gap is real
    assert iwae_mean < exact + t * iwae_se
    assert exact - iwae_mean < 0.5  # with 50 particles IWAE is close to log p(x)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_gradient_matches_finite_difference(alpha):
    """Same random numbers at loc and loc +- h: autograd equals the central difference."""
    renyi = RenyiELBO(alpha=alpha, num_particles=5)
    guide(X)
    loc = pyro.get_param_store().unconstrained("loc")

    def bound_at(value):
        with torch.no_grad():
            loc.fill_(value)
        pyro.set_rng_seed(7)
        return renyi.differentiable_loss(model, guide, X)

    bound_at(0.3).backward()
    grad = loc.grad.item()
    h = 1e-2
    numeric = (bound_at(0.3 + h).item() - bound_at(0.3 - h).item()) / (2 * h)
    assert grad == pytest.approx(numeric, rel=1e-3, abs=1e-4)


def test_alpha_one_and_nonreparam_are_errors():
    with pytest.raises(ValueError, match="Trace_ELBO"):
        RenyiELBO(alpha=1.0)

    def discrete_guide(x):
        pyro.sample("z", dist.Bernoulli(0.5))

    with pytest.raises(ValueError, match="reparameterised"):
        RenyiELBO(num_particles=2).loss(model, discrete_guide, X)
