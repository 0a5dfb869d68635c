"""transforms: torch's transforms re-exported, and OrderedTransform."""

import pytest
import torch
from torch.autograd.functional import jacobian

from pyrolite.distributions import constraints, transforms


def test_reexports_every_torch_transform():
    for name in torch.distributions.transforms.__all__:
        assert getattr(transforms, name) is getattr(torch.distributions.transforms, name)
        assert name in transforms.__all__


def test_ordered_transform_values_and_inverse():
    t = transforms.OrderedTransform()
    x = torch.tensor([[0.5, 0.0, -1.0], [-2.0, 1.0, 0.3]])
    y = t(x)
    expected0 = torch.tensor([0.5, 1.5, 1.5 + torch.exp(torch.tensor(-1.0)).item()])
    torch.testing.assert_close(y[0], expected0)
    assert constraints.ordered_vector.check(y).all()
    torch.testing.assert_close(t.inv(y), x)
    assert t.domain.event_dim == 1 and t.codomain is constraints.ordered_vector


def test_ordered_transform_log_det_matches_autograd():
    t = transforms.OrderedTransform()
    x = torch.randn(4)
    expected = torch.linalg.slogdet(jacobian(t, x)).logabsdet
    torch.testing.assert_close(t.log_abs_det_jacobian(x, t(x)), expected)
    xs = torch.randn(5, 4)
    assert t.log_abs_det_jacobian(xs, t(xs)).shape == (5,)


def test_ordered_transform_equality():
    assert transforms.OrderedTransform() == transforms.OrderedTransform()
    assert transforms.OrderedTransform() != transforms.ExpTransform()


@pytest.mark.parametrize("size", [1, 3])
def test_ordered_transform_sizes(size):
    t = transforms.OrderedTransform()
    x = torch.randn(2, size)
    assert t(x).shape == (2, size)
    torch.testing.assert_close(t.inv(t(x)), x)
