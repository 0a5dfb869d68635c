"""Permute: values, inverse, zero log-det, other dims, and bad permutations."""

import pytest
import torch

from pyrolite.distributions import transforms as T


def test_values_inverse_and_log_det():
    flow = T.permute(3, permutation=torch.tensor([2, 0, 1]))
    x = torch.tensor([[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]])
    y = flow(x)
    assert y.tolist() == [[30.0, 10.0, 20.0], [3.0, 1.0, 2.0]]
    assert flow.inv(y.clone()).tolist() == x.tolist()
    log_det = flow.log_abs_det_jacobian(x, y)
    assert log_det.shape == (2,) and torch.all(log_det == 0)


def test_dim_minus_two():
    flow = T.Permute(torch.tensor([1, 0]), dim=-2)
    assert flow.domain.event_dim == 2
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(flow(x), x.flip(-2))
    assert flow.log_abs_det_jacobian(x, flow(x)).shape == (5,)


def test_random_default_is_a_permutation():
    flow = T.permute(6)
    assert sorted(flow.permutation.tolist()) == list(range(6))


def test_bad_permutation():
    with pytest.raises(ValueError, match="permutation of 0..n-1"):
        T.Permute(torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="dim must be negative"):
        T.Permute(torch.tensor([0, 1]), dim=0)
