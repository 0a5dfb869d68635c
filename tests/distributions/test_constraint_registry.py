"""biject_to / transform_to: torch's entries, and those for pyrolite's constraints."""

import pytest
import torch
from torch.autograd.functional import jacobian

import pyrolite.distributions as dist
from pyrolite.distributions import constraints, transforms


def test_same_registries_as_torch():
    assert dist.biject_to is torch.distributions.biject_to
    assert dist.transform_to is torch.distributions.transform_to
    y = dist.biject_to(constraints.positive)(torch.tensor([-50.0, 0.0, 3.0]))
    assert (y > 0).all()


def test_biject_to_support_of_wrapped_distribution():
    d = dist.Gamma(torch.ones(3), 1.0)
    y = dist.biject_to(d.support)(torch.randn(3))
    assert d.support.check(y).all()


@pytest.mark.parametrize("registry", [dist.biject_to, dist.transform_to])
def test_softplus_positive(registry):
    t = registry(constraints.softplus_positive)
    assert isinstance(t, transforms.SoftplusTransform)
    x = torch.tensor([-3.0, 0.0, 3.0])
    torch.testing.assert_close(t(x), torch.nn.functional.softplus(x))


@pytest.mark.parametrize("registry", [dist.biject_to, dist.transform_to])
def test_ordered_vectors(registry):
    x = torch.randn(5, 4)
    y = registry(constraints.ordered_vector)(x)
    assert constraints.ordered_vector.check(y).all()
    t = registry(constraints.positive_ordered_vector)
    y = t(x)
    assert constraints.positive_ordered_vector.check(y).all()
    torch.testing.assert_close(t.inv(y), x)


def test_positive_ordered_log_det_matches_autograd():
    t = dist.biject_to(constraints.positive_ordered_vector)
    x = torch.randn(4)
    expected = torch.linalg.slogdet(jacobian(t, x)).logabsdet
    torch.testing.assert_close(t.log_abs_det_jacobian(x, t(x)), expected)


def test_independent_of_ordered():
    t = dist.biject_to(constraints.independent(constraints.ordered_vector, 1))
    x = torch.randn(2, 3, 4)
    assert t.log_abs_det_jacobian(x, t(x)).shape == (2,)


def test_is_identity_recognises_real_supports_only():
    from torch.distributions import constraints as tc

    from pyrolite.distributions.constraint_registry import biject_to, is_identity

    assert is_identity(biject_to(tc.real))
    assert is_identity(biject_to(tc.real_vector))
    assert is_identity(biject_to(tc.independent(tc.real, 2)))
    assert not is_identity(biject_to(tc.positive))
    assert not is_identity(biject_to(tc.simplex))
