"""Score-function gradients of scaled and subsampled models count the scale once."""

import math

import pytest
import torch
from tolerances import t_bound

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer import Trace_ELBO, TraceGraph_ELBO


class NonReparamNormal(dist.Normal):
    has_rsample = False


X = torch.tensor(1.0)
M = 0.3


def model():
    z = pyro.sample("z", dist.Normal(0.0, 1.0))
    pyro.sample("x", dist.Normal(z, 1.0), obs=X)


def guide():
    pyro.sample("z", NonReparamNormal(pyro.param("m", torch.tensor(M)), 1.0))


@pytest.mark.statistical
@pytest.mark.parametrize("elbo_class", [Trace_ELBO, TraceGraph_ELBO])
@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_scaled_score_function_gradient_matches_analytic(elbo_class, scale, seed):
    """-ELBO = scale * (KL(q || p) - E_q log p(x | z)); its derivative in m is
    scale * (2 m - x) for q = N(m, 1), p(z) = N(0, 1), p(x | z) = N(z, 1)."""
    elbo = elbo_class(num_particles=500, vectorize_particles=True, max_plate_nesting=0)
    scaled_model = poutine.scale(model, scale=scale)
    scaled_guide = poutine.scale(guide, scale=scale)
    estimates = []
    for _ in range(20):
        pyro.get_param_store().clear()
        elbo.differentiable_loss(scaled_model, scaled_guide).backward()
        estimates.append(pyro.get_param_store().unconstrained("m").grad.item())
    estimates = torch.tensor(estimates)
    se = estimates.std() / math.sqrt(len(estimates))
    analytic = scale * (2 * M - X.item())
    # the se is itself estimated from the 20 repeats: Student t with 19 dof
    assert abs(estimates.mean() - analytic) < t_bound(len(estimates) - 1, 1) * se
    # counting the scale twice would put the mean at scale**2 * (2 m - x)
    if scale != 1.0:
        assert abs(scale**2 * (2 * M - X.item()) - analytic) > 10 * se
