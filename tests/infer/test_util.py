import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer import log_density, make_log_joint_fn


def model(x, y=None):
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("y", dist.Normal(w * x, sigma), obs=y)


X = torch.tensor([0.0, 1.0, 2.0])
Y = torch.tensor([0.1, 0.9, 2.2])


def expected(w, sigma):
    return (
        dist.Normal(0.0, 1.0).log_prob(w)
        + dist.HalfNormal(1.0).log_prob(sigma)
        + dist.Normal(w * X, sigma).log_prob(Y).sum()
    )


def test_log_density_value_and_trace():
    values = {"w": torch.tensor(0.9), "sigma": torch.tensor(0.3)}
    lp, tr = log_density(model, (X, Y), {}, values)
    assert torch.allclose(lp, expected(values["w"], values["sigma"]))
    assert tr.nodes["w"]["value"] is values["w"]
    assert not tr.nodes["w"]["is_observed"]


def test_log_density_gradient():
    w = torch.tensor(0.5, requires_grad=True)
    lp, _ = log_density(model, (X, Y), {}, {"w": w, "sigma": torch.tensor(0.5)})
    lp.backward()
    w2 = torch.tensor(0.5, requires_grad=True)
    expected(w2, torch.tensor(0.5)).backward()
    assert torch.allclose(w.grad, w2.grad)


def test_log_density_respects_scale():
    values = {"w": torch.tensor(0.9), "sigma": torch.tensor(0.3)}
    lp, _ = log_density(poutine.scale(model, scale=2.0), (X, Y), {}, values)
    assert torch.allclose(lp, 2 * expected(values["w"], values["sigma"]))


def test_log_density_with_do_intervention():
    values = {"w": torch.tensor(0.9), "sigma": torch.tensor(0.3)}
    intervened = poutine.do(model, data={"w": torch.tensor(2.0)})
    _, tr = log_density(intervened, (X, Y), {}, values)
    # downstream sees the intervention
    assert torch.allclose(tr.nodes["y"]["fn"].loc, 2.0 * X)


def test_make_log_joint_fn():
    log_joint = make_log_joint_fn(model)
    lp = log_joint(X, Y, w=torch.tensor(0.9), sigma=torch.tensor(0.3))
    assert torch.allclose(lp, expected(torch.tensor(0.9), torch.tensor(0.3)))
