"""The guides' log densities against a hand computation: log q(u) - log|det dz/du|."""

import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer.autoguide import AutoDiagonalNormal, AutoMultivariateNormal, AutoNormal


def model():
    pyro.sample("a", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    pyro.sample("s", dist.HalfNormal(1.0))  # z = exp(u): log|dz/du| = u
    pyro.sample("p", dist.Beta(2.0, 3.0))  # z = sigmoid(u): log|dz/du| = log z(1 - z)


def _log_jacobian(u_s, u_p):
    p = torch.sigmoid(u_p)
    return u_s + torch.log(p * (1 - p))


def test_auto_diagonal_normal_log_density():
    guide = AutoDiagonalNormal(model)
    guide()
    loc = torch.tensor([0.3, -0.2, 0.5, -1.0])
    scale = torch.tensor([0.5, 1.5, 0.2, 0.7])
    pyro.get_param_store()["AutoDiagonalNormal.loc"] = loc
    pyro.get_param_store()["AutoDiagonalNormal.scale"] = scale
    tr = poutine.trace(guide).get_trace()
    u = tr.nodes["_AutoDiagonalNormal_latent"]["value"].detach()
    assert torch.allclose(tr.nodes["a"]["value"], u[:2])
    assert torch.allclose(tr.nodes["s"]["value"], u[2].exp())
    assert torch.allclose(tr.nodes["p"]["value"], torch.sigmoid(u[3]))
    expected = torch.distributions.Normal(loc, scale).log_prob(u).sum()
    expected = expected - _log_jacobian(u[2], u[3])
    assert torch.allclose(tr.log_prob_sum(), expected, atol=1e-5)


def test_auto_multivariate_normal_log_density():
    guide = AutoMultivariateNormal(model)
    guide()
    loc = torch.tensor([0.3, -0.2, 0.5, -1.0])
    scale_tril = torch.tensor(
        [[0.5, 0, 0, 0], [0.2, 1.5, 0, 0], [0.1, -0.3, 0.2, 0], [0.0, 0.4, 0.1, 0.7]]
    )
    pyro.get_param_store()["AutoMultivariateNormal.loc"] = loc
    pyro.get_param_store()["AutoMultivariateNormal.scale_tril"] = scale_tril
    tr = poutine.trace(guide).get_trace()
    u = tr.nodes["_AutoMultivariateNormal_latent"]["value"].detach()
    expected = torch.distributions.MultivariateNormal(loc, scale_tril=scale_tril).log_prob(u)
    expected = expected - _log_jacobian(u[2], u[3])
    assert torch.allclose(tr.log_prob_sum(), expected, atol=1e-5)


def test_auto_normal_log_density():
    guide = AutoNormal(model)
    tr = poutine.trace(guide).get_trace()
    total = 0.0
    for name in ("a", "s", "p"):
        loc = pyro.param(f"AutoNormal.locs.{name}").detach()
        scale = pyro.param(f"AutoNormal.scales.{name}").detach()
        u = tr.nodes[name if name == "a" else f"{name}_unconstrained"]["value"].detach()
        total = total + torch.distributions.Normal(loc, scale).log_prob(u).sum()
    u_s = tr.nodes["s_unconstrained"]["value"].detach()
    u_p = tr.nodes["p_unconstrained"]["value"].detach()
    expected = total - _log_jacobian(u_s, u_p)
    assert torch.allclose(tr.log_prob_sum(), expected, atol=1e-5)
