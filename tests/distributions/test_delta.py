"""Delta: shapes, log_prob values, rsample gradients, expand, KL."""

import math

import pytest
import torch

import pyrolite.distributions as dist


def test_shapes_from_event_dim():
    v = torch.zeros(4, 3, 2)
    assert (dist.Delta(v).batch_shape, dist.Delta(v).event_shape) == ((4, 3, 2), ())
    d = dist.Delta(v, event_dim=1)
    assert (d.batch_shape, d.event_shape) == ((4, 3), (2,))
    d = dist.Delta(v, event_dim=3)
    assert (d.batch_shape, d.event_shape) == ((), (4, 3, 2))
    with pytest.raises(ValueError, match=r"event_dim=4.*\(4, 3, 2\)"):
        dist.Delta(v, event_dim=4)


def test_log_prob_values():
    v = torch.tensor([1.0, 2.0, 3.0])
    d = dist.Delta(v)
    lp = d.log_prob(torch.tensor([1.0, 0.0, 3.0]))
    assert lp.tolist() == [0.0, -math.inf, 0.0]
    # log_density is added where the value matches.
    d = dist.Delta(v, log_density=torch.tensor([0.5, 0.5, -1.0]))
    assert d.log_prob(v).tolist() == [0.5, 0.5, -1.0]


def test_log_prob_over_event_dims():
    v = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    d = dist.Delta(v, log_density=1.5, event_dim=1)
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    assert d.log_prob(x).tolist() == [1.5, -math.inf]
    # Sample dims broadcast.
    xs = torch.stack([v, x])
    assert d.log_prob(xs).shape == (2, 2)
    d2 = dist.Delta(v, event_dim=2)
    assert d2.log_prob(v).item() == 0.0 and d2.log_prob(x).item() == -math.inf


def test_rsample_expands_and_passes_gradients():
    v = torch.tensor([1.0, -2.0], requires_grad=True)
    d = dist.Delta(v)
    assert d.has_rsample
    x = d((3,))  # __call__ uses rsample
    assert x.shape == (3, 2)
    (x * torch.tensor([1.0, 2.0])).sum().backward()
    torch.testing.assert_close(v.grad, torch.tensor([3.0, 6.0]))
    assert not d.sample().requires_grad
    torch.testing.assert_close(d.sample(), v.detach())


def test_log_density_gradient():
    log_density = torch.tensor(0.7, requires_grad=True)
    d = dist.Delta(torch.tensor([1.0, 2.0]), log_density=log_density)
    d.log_prob(torch.tensor([1.0, 2.0])).sum().backward()
    assert log_density.grad.item() == 2.0


def test_support_mean_variance():
    v = torch.randn(3, 2)
    assert dist.Delta(v).support is dist.constraints.real
    s = dist.Delta(v, event_dim=1).support
    assert s.event_dim == 1 and isinstance(s, dist.constraints.independent)
    torch.testing.assert_close(dist.Delta(v).mean, v)
    torch.testing.assert_close(dist.Delta(v).variance, torch.zeros(3, 2))


def test_expand():
    v = torch.tensor([1.0, 2.0])
    d = dist.Delta(v, log_density=0.25, event_dim=1).expand([3])
    assert type(d) is dist.Delta
    assert (d.batch_shape, d.event_shape) == ((3,), (2,))
    assert d.sample().shape == (3, 2)
    assert d.log_prob(v).tolist() == [0.25] * 3


def test_validation_rejects_nan_and_wrong_shape():
    d = dist.Delta(torch.zeros(3), validate_args=True)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(ValueError):
        d.log_prob(torch.zeros(4))


def test_integer_values():
    d = dist.Delta(torch.tensor([1, 2]))
    lp = d.log_prob(torch.tensor([1, 3]))
    assert lp.dtype == torch.get_default_dtype()
    assert lp.tolist() == [0.0, -math.inf]


def test_kl_delta_to_any():
    v = torch.tensor([0.5, -1.0])
    q = dist.Normal(torch.zeros(2), 2.0)
    kl = dist.kl_divergence(dist.Delta(v, log_density=0.1), q)
    torch.testing.assert_close(kl, 0.1 - q.log_prob(v))
    kl_ind = dist.kl_divergence(dist.Delta(v, event_dim=1), q.to_event(1))
    torch.testing.assert_close(kl_ind, -q.log_prob(v).sum())
