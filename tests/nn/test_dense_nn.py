"""DenseNN and MaskedLinear."""

import pytest
import torch

from pyrolite.nn import DenseNN, MaskedLinear


def test_dense_nn_splits_its_output():
    net = DenseNN(3, [16, 16], param_dims=[2, 5])
    a, b = net(torch.randn(4, 7, 3))
    assert a.shape == (4, 7, 2) and b.shape == (4, 7, 5)
    assert DenseNN(3, [8], param_dims=[4])(torch.randn(3)).shape == (4,)


def test_dense_nn_is_an_affine_map_without_hidden_nonlinearity():
    net = DenseNN(2, [5], param_dims=[1], nonlinearity=torch.nn.Identity())
    x, y = torch.randn(2), torch.randn(2)
    mid = net(0.5 * (x + y))
    torch.testing.assert_close(mid, 0.5 * (net(x) + net(y)))


def test_masked_linear_zeroes_masked_weights():
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    layer = MaskedLinear(2, 2, mask, bias=False)
    x = torch.tensor([1.0, 2.0])
    torch.testing.assert_close(layer(x), layer.weight.diag() * x)
    with pytest.raises(ValueError, match=r"expected \(out_features, in_features\) = \(2, 3\)"):
        MaskedLinear(3, 2, mask)


def test_dense_nn_bad_sizes():
    with pytest.raises(ValueError, match="must be positive"):
        DenseNN(0, [4])
