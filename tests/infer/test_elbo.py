"""ELBO base class: ``differentiable_loss`` has the loss's value and the surrogate's gradient."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import Trace_ELBO, TraceGraph_ELBO


class NonReparamNormal(dist.Normal):
    has_rsample = False


def model():
    z = pyro.sample("z", dist.Normal(0.0, 1.0))
    pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(2.0))


def score_guide():
    pyro.sample("z", NonReparamNormal(pyro.param("m", torch.tensor(0.5)), 1.0))


@pytest.mark.parametrize("elbo_class", [Trace_ELBO, TraceGraph_ELBO])
def test_differentiable_loss_value_is_the_loss_even_with_score_function_sites(elbo_class):
    elbo = elbo_class()
    pyro.set_rng_seed(1)
    loss = elbo.loss(model, score_guide)
    pyro.set_rng_seed(1)
    differentiable = elbo.differentiable_loss(model, score_guide)
    assert differentiable.requires_grad
    assert differentiable.item() == pytest.approx(loss, rel=1e-6)
    # and its gradient is the surrogate's: for the draw z, d/dm of
    # -(log p(x, z) - log q(z)) * log q(z) (stop-grad on the cost) is loss * (z - m)
    pyro.set_rng_seed(1)
    tr = pyro.poutine.trace(score_guide).get_trace()
    z, m = tr.nodes["z"]["value"], 0.5
    differentiable.backward()
    grad = pyro.get_param_store().unconstrained("m").grad
    assert grad.item() == pytest.approx(loss * (z - m).item(), rel=1e-5)


def test_empty_model_and_guide_give_a_zero_loss():
    elbo = Trace_ELBO()
    assert elbo.loss(lambda: None, lambda: None) == 0.0
    assert float(elbo.differentiable_loss(lambda: None, lambda: None)) == 0.0
