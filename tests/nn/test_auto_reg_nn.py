"""AutoRegressiveNN (MADE): output shapes and the autoregressive property."""

import pytest
import torch
from torch.autograd.functional import jacobian

from pyrolite.nn import AutoRegressiveNN, create_masks


def _output_jacobians(arn, d):
    x = torch.randn(d, dtype=torch.float64)
    outs = arn(x)
    outs = outs if isinstance(outs, tuple) else (outs,)
    jacobians = []
    for k in range(len(outs)):
        jac = jacobian(lambda x, k=k: _as_tuple(arn(x))[k].reshape(-1, d), x)  # (rows, d, d)
        jacobians.append(jac)
    return jacobians


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("hidden", [[11], [9, 7]])
def test_jacobian_is_strictly_lower_triangular_in_the_order(d, skip, hidden):
    # tanh: no unit is ever flat, so the non-zero check below cannot fail by a dead ReLU
    arn = AutoRegressiveNN(
        d, hidden, param_dims=[1, 2], skip_connections=skip, nonlinearity=torch.nn.Tanh()
    ).double()
    order = arn.get_permutation()
    for jac in _output_jacobians(arn, d):
        for row in jac:  # row: (d outputs, d inputs)
            in_order = row[order][:, order]
            assert torch.all(in_order.triu() == 0)
    if d > 1:
        # and it is not trivially zero: the last variable sees the first one
        # (a sum of products of random weights; zero only on a null set)
        jac = _output_jacobians(arn, d)[0][0]
        assert jac[order[-1], order[0]] != 0


def test_identity_permutation_gives_x_before_i():
    arn = AutoRegressiveNN(
        4, [8], param_dims=[1], permutation=torch.arange(4), nonlinearity=torch.nn.Tanh()
    ).double()
    (jac,) = _output_jacobians(arn, 4)
    assert torch.all(jac[0].triu() == 0)
    below = torch.ones(4, 4, dtype=torch.bool).tril(-1)
    assert torch.all(jac[0][below] != 0)


def test_output_shapes():
    x = torch.randn(7, 3, 5)
    a, b, c = AutoRegressiveNN(5, [20], param_dims=[1, 4, 2])(x)
    assert a.shape == (7, 3, 5) and b.shape == (7, 3, 4, 5) and c.shape == (7, 3, 2, 5)
    assert AutoRegressiveNN(5, [20], param_dims=[1])(x).shape == (7, 3, 5)
    assert AutoRegressiveNN(5, [20], param_dims=[3])(x).shape == (7, 3, 3, 5)
    mean, log_scale = AutoRegressiveNN(5, [20])(x)
    assert mean.shape == log_scale.shape == (7, 3, 5)


def test_masks_follow_the_degrees():
    layer_masks, output_mask, skip_mask = create_masks(3, [4], torch.tensor([2, 0, 1]))
    # ranks: variable 2 -> 0, variable 0 -> 1, variable 1 -> 2; hidden degrees 0, 1, 0, 1
    assert layer_masks[0].tolist() == [
        [False, False, True],
        [True, False, True],
        [False, False, True],
        [True, False, True],
    ]
    assert output_mask.tolist() == [
        [True, False, True, False],  # variable 0 (rank 1) sees degree-0 units
        [True, True, True, True],  # variable 1 (rank 2) sees all
        [False, False, False, False],  # variable 2 comes first
    ]
    assert skip_mask.tolist() == [[False, False, True], [True, False, True], [False, False, False]]


def test_gradients_reach_every_weight():
    arn = AutoRegressiveNN(4, [8], skip_connections=True)
    mean, log_scale = arn(torch.randn(10, 4))
    (mean.sum() + log_scale.sum()).backward()
    for name, p in arn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_masks_move_with_the_module():
    arn = AutoRegressiveNN(3, [6]).double()
    assert arn.layers[0].mask.dtype == torch.float64
    assert arn(torch.randn(2, 3, dtype=torch.float64))[0].dtype == torch.float64


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least input_dim - 1 = 4 units"):
        AutoRegressiveNN(5, [3])
    with pytest.raises(ValueError, match="permutation of 0..2"):
        AutoRegressiveNN(3, [6], permutation=torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="at least one hidden layer"):
        AutoRegressiveNN(3, [])
