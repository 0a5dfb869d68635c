"""AffineCoupling: the first part passes through, the second is scaled and shifted by a
network of the first; agreement with Pyro's transform on the same hypernet."""

import pytest
import torch

from pyrolite.distributions import transforms as T
from pyrolite.nn import DenseNN


def test_first_part_is_unchanged_and_second_is_affine_in_itself():
    flow = T.affine_coupling(5, split_dim=2).double()
    x = torch.randn(7, 5, dtype=torch.float64)
    y = flow(x)
    torch.testing.assert_close(y[:, :2], x[:, :2])
    mean, log_scale = flow.nn(x[:, :2])
    torch.testing.assert_close(y[:, 2:], mean + log_scale.clamp(-5, 3).exp() * x[:, 2:])


def test_helper_defaults():
    flow = T.affine_coupling(6)
    assert flow.split_dim == 3
    assert flow.nn.hidden_dims == [60] and flow.nn.param_dims == [3, 3]
    assert T.affine_coupling(6, split_dim=1).nn.param_dims == [5, 5]


def test_dim_minus_two_acts_on_matrices():
    # event shape (4, 3): split the 4 rows into 1 + 3; the hypernet sees the first row
    hypernet = DenseNN(3, [10], param_dims=[9, 9]).double()
    flow = T.AffineCoupling(1, hypernet, dim=-2)
    assert flow.domain.event_dim == 2
    x = torch.randn(5, 4, 3, dtype=torch.float64)
    y = flow(x)
    assert y.shape == x.shape
    assert flow.log_abs_det_jacobian(x, y).shape == (5,)
    torch.testing.assert_close(flow.inv(y.clone()), x)
    jac = torch.autograd.functional.jacobian(lambda v: flow(v.reshape(4, 3)).reshape(-1), x[0])
    expected = torch.linalg.slogdet(jac.reshape(12, 12)).logabsdet
    torch.testing.assert_close(flow.log_abs_det_jacobian(x[0], flow(x[0])), expected)


def test_agrees_with_pyro_on_the_same_hypernet():
    pyro_transforms = pytest.importorskip("pyro.distributions.transforms")
    hypernet = DenseNN(2, [16], param_dims=[3, 3]).double()
    ours = T.AffineCoupling(2, hypernet)
    theirs = pyro_transforms.AffineCoupling(2, hypernet)
    x = torch.randn(8, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(
        ours.log_abs_det_jacobian(x, ours(x)), theirs.log_abs_det_jacobian(x, theirs(x))
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="input_dim must be >= 2"):
        T.affine_coupling(1)
    flow = T.affine_coupling(3, split_dim=2)
    with pytest.raises(ValueError, match="split_dim=2 must lie strictly inside the size 2"):
        flow(torch.randn(4, 2))
    with pytest.raises(ValueError, match="dim=-2 needs an event shape of length 2"):
        T.affine_coupling(3, dim=-2)
    with pytest.raises(ValueError, match=r"event shape \(4, 3, 2\) must have same length"):
        T.affine_coupling((4, 3, 2), dim=-2)


@pytest.mark.parametrize("event_shape", [(4, 3), (5, 2, 3)])
def test_helper_builds_over_a_multi_dim_event(event_shape):
    # dim=-len(event_shape): split the leading event dim; the hypernet sees the flattened
    # first part and returns the flattened rest (the sizes Pyro's helper uses)
    dim = -len(event_shape)
    flow = T.affine_coupling(event_shape, dim=dim).double()
    trailing = torch.Size(event_shape[1:]).numel()
    split = event_shape[0] // 2
    assert flow.split_dim == split
    assert flow.nn.input_dim == split * trailing
    assert flow.nn.param_dims == [(event_shape[0] - split) * trailing] * 2
    assert flow.nn.hidden_dims == [10 * event_shape[0] * trailing]
    x = torch.randn((7,) + event_shape, dtype=torch.float64)
    y = flow(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y[:, :split], x[:, :split])
    assert flow.log_abs_det_jacobian(x, y).shape == (7,)
    torch.testing.assert_close(flow.inv(y.clone()), x)


def test_helper_over_matrices_matches_pyro_sizes():
    pyro_transforms = pytest.importorskip("pyro.distributions.transforms")
    ours = T.affine_coupling((5, 6), dim=-2)
    theirs = pyro_transforms.affine_coupling((5, 6), dim=-2)
    assert ours.split_dim == theirs.split_dim
    assert ours.nn.input_dim == theirs.nn.input_dim
    assert ours.nn.param_dims == theirs.nn.param_dims
    assert ours.nn.hidden_dims == theirs.nn.hidden_dims
