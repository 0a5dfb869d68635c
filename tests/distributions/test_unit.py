"""Unit: the distribution behind pyro.factor."""

import torch

import pyrolite.distributions as dist


def test_shapes_and_samples():
    log_factor = torch.randn(3, 2)
    d = dist.Unit(log_factor)
    assert (d.batch_shape, d.event_shape) == ((3, 2), (0,))
    assert d.sample().shape == (3, 2, 0)
    assert d.rsample((5,)).shape == (5, 3, 2, 0)
    assert d().shape == (3, 2, 0)
    assert d().dtype == log_factor.dtype


def test_log_prob_is_the_factor_broadcast():
    log_factor = torch.tensor([1.0, -2.0])
    d = dist.Unit(log_factor)
    torch.testing.assert_close(d.log_prob(d.sample()), log_factor)
    lp = d.log_prob(torch.empty(4, 2, 0))
    assert lp.shape == (4, 2)
    torch.testing.assert_close(lp, log_factor.expand(4, 2))
    lp = d.log_prob(torch.empty(4, 1, 0))
    assert lp.shape == (4, 2)


def test_log_prob_gradient_and_minus_inf():
    log_factor = torch.tensor([0.5, -torch.inf], requires_grad=True)
    d = dist.Unit(log_factor)  # -inf is a valid factor (it rejects the sample)
    lp = d.log_prob(d.sample())
    assert lp[1].item() == -torch.inf
    lp[0].backward()
    torch.testing.assert_close(log_factor.grad, torch.tensor([1.0, 0.0]))


def test_scalar_and_python_number_factor():
    d = dist.Unit(2.0)
    assert d.batch_shape == ()
    assert d.log_factor.dtype == torch.get_default_dtype()
    assert d.log_prob(d.sample()).item() == 2.0


def test_has_rsample_default_and_override():
    assert dist.Unit(torch.zeros(2)).has_rsample is True
    assert dist.Unit(torch.zeros(2), has_rsample=None).has_rsample is True
    d = dist.Unit(torch.zeros(2), has_rsample=False)
    assert d.has_rsample is False
    parts = d.score_parts(d.sample())
    assert parts.score_function is parts.log_prob and parts.entropy_term == 0
    assert d.expand([3, 2]).has_rsample is False
    assert dist.Unit(torch.zeros(2)).has_rsample is True  # the override is per instance


def test_expand():
    d = dist.Unit(torch.tensor([1.0, 2.0])).expand([3, 2])
    assert type(d) is dist.Unit
    assert (d.batch_shape, d.event_shape) == ((3, 2), (0,))
    torch.testing.assert_close(d.log_prob(d.sample()), torch.tensor([[1.0, 2.0]] * 3))
    assert d.expand_by([4]).batch_shape == (4, 3, 2)
