"""ImproperUniform: zero log density on the support, no sampling."""

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions import constraints


def test_log_prob_is_zero_with_batch_shape():
    d = dist.ImproperUniform(constraints.positive, (3,), ())
    assert (d.batch_shape, d.event_shape) == ((3,), ())
    lp = d.log_prob(torch.tensor([1.0, 2.0, 3.0]))
    assert lp.shape == (3,) and (lp == 0).all()
    assert d.log_prob(torch.ones(5, 3)).shape == (5, 3)
    assert d.log_prob(torch.tensor(1.0)).shape == (3,)


def test_event_shape_wraps_support():
    d = dist.ImproperUniform(constraints.real, (2,), (4,))
    assert d.support.event_dim == 1
    assert isinstance(d.support, constraints.independent)
    lp = d.log_prob(torch.randn(2, 4))
    assert lp.shape == (2,) and (lp == 0).all()
    d = dist.ImproperUniform(constraints.simplex, (), (3,))
    assert d.support is constraints.simplex
    with pytest.raises(ValueError, match=r"event_dim 1.*event_shape=\(\)"):
        dist.ImproperUniform(constraints.simplex, (2,), ())


def test_validation_checks_the_support():
    d = dist.ImproperUniform(constraints.positive, (2,), (), validate_args=True)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor([1.0, -1.0]))
    d = dist.ImproperUniform(constraints.positive, (2,), (), validate_args=False)
    assert (d.log_prob(torch.tensor([1.0, -1.0])) == 0).all()


def test_sampling_raises():
    d = dist.ImproperUniform(constraints.real, (2,), ())
    with pytest.raises(NotImplementedError, match="improper.*MCMC.*guide"):
        d.sample()
    with pytest.raises(NotImplementedError, match="improper"):
        d.rsample()
    with pytest.raises(NotImplementedError, match="improper"):
        d()


def test_expand_and_biject_to():
    d = dist.ImproperUniform(constraints.positive, (), ()).expand([4])
    assert type(d) is dist.ImproperUniform
    assert d.batch_shape == (4,)
    assert d.log_prob(torch.ones(4)).shape == (4,)
    y = dist.biject_to(d.support)(torch.randn(4))
    assert (y > 0).all()
