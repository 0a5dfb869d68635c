"""sum_rightmost: Pyro's conventions for zero, negative and oversized counts."""

import math

import pytest
import torch

from pyrolite.distributions.reductions import sum_rightmost


@pytest.mark.parametrize(
    "n,shape",
    [(0, (2, 3, 4)), (1, (2, 3)), (2, (2,)), (3, ()), (-1, (2,)), (-2, (2, 3)), (-3, (2, 3, 4))],
)
def test_shapes(n, shape):
    x = torch.arange(24.0).reshape(2, 3, 4)
    out = sum_rightmost(x, n)
    assert out.shape == shape
    torch.testing.assert_close(out.sum(), x.sum())


def test_oversized_counts_sum_everything_and_numbers_pass_through():
    x = torch.ones(2, 3)
    assert sum_rightmost(x, math.inf).shape == ()
    assert sum_rightmost(x, 5) == 6
    assert sum_rightmost(0.0, 2) == 0.0


def test_values():
    x = torch.arange(6.0).reshape(2, 3)
    torch.testing.assert_close(sum_rightmost(x, 1), torch.tensor([3.0, 12.0]))
