"""AffineAutoregressive: the affine map, log-scale clamping, the stable variant, caching,
and agreement with Pyro's transform driven by the same network."""

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions import transforms as T
from pyrolite.nn import AutoRegressiveNN


class _Fixed(torch.nn.Module):
    """A stand-in network returning fixed (mean, raw) tensors and counting its calls."""

    def __init__(self, mean, raw):
        super().__init__()
        self.mean = torch.nn.Parameter(mean)
        self.raw = torch.nn.Parameter(raw)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.mean.expand(x.shape), self.raw.expand(x.shape)


def test_forward_is_shift_plus_scale_times_x():
    net = _Fixed(torch.tensor([1.0, -2.0]), torch.tensor([0.5, -0.25]))
    flow = T.AffineAutoregressive(net)
    x = torch.tensor([3.0, 4.0])
    torch.testing.assert_close(flow(x), net.mean + net.raw.exp() * x)
    torch.testing.assert_close(flow.log_abs_det_jacobian(x, flow(x)), torch.tensor(0.25))


def test_log_scale_is_clamped_in_value_but_keeps_its_gradient():
    net = _Fixed(torch.zeros(2), torch.tensor([10.0, -10.0]))
    flow = T.AffineAutoregressive(net, log_scale_min_clip=-5.0, log_scale_max_clip=3.0)
    x = torch.ones(2)
    y = flow(x)
    torch.testing.assert_close(y, torch.tensor([3.0, -5.0]).exp())
    log_det = flow.log_abs_det_jacobian(x, y)
    torch.testing.assert_close(log_det, torch.tensor(-2.0))
    log_det.backward()
    torch.testing.assert_close(net.raw.grad, torch.ones(2))  # straight through the clamp


def test_stable_variant_uses_a_sigmoid_gate():
    net = _Fixed(torch.tensor([1.0, 2.0]), torch.tensor([0.0, -1.0]))
    flow = T.AffineAutoregressive(net, stable=True, sigmoid_bias=2.0)
    x = torch.tensor([0.5, -0.5])
    gate = torch.sigmoid(net.raw + 2.0)
    torch.testing.assert_close(flow(x), gate * x + (1 - gate) * net.mean)
    torch.testing.assert_close(flow.log_abs_det_jacobian(x, flow(x)), gate.log().sum())


def test_log_prob_of_own_draw_needs_no_inversion_and_no_extra_pass():
    net = _Fixed(torch.zeros(3), torch.zeros(3))
    flowed = dist.TransformedDistribution(
        dist.Normal(torch.zeros(3), 1.0).to_event(1), [T.AffineAutoregressive(net)]
    )
    y = flowed.rsample((5,))
    flowed.log_prob(y)
    assert net.calls == 1  # the inverse would take 3 passes, a fresh log-det one more


def test_inverse_takes_one_pass_per_variable():
    net = _Fixed(torch.zeros(4), torch.zeros(4))
    T.AffineAutoregressive(net).inv(torch.randn(4))
    assert net.calls == 4


@pytest.mark.parametrize("stable", [False, True])
def test_agrees_with_pyro_on_the_same_network(stable):
    pyro_transforms = pytest.importorskip("pyro.distributions.transforms")
    # float32: Pyro's inverse builds its tensors in the default dtype
    arn = AutoRegressiveNN(4, [13], skip_connections=True)
    ours = T.AffineAutoregressive(arn, stable=stable)
    theirs = pyro_transforms.AffineAutoregressive(arn, stable=stable)
    x = torch.randn(6, 4)
    torch.testing.assert_close(ours(x), theirs(x))
    y = ours(x).clone()
    torch.testing.assert_close(ours.inv(y), theirs.inv(y))
    torch.testing.assert_close(
        ours.log_abs_det_jacobian(x, ours(x)), theirs.log_abs_det_jacobian(x, theirs(x))
    )


def test_helper_defaults():
    flow = T.affine_autoregressive(4)
    assert isinstance(flow.arn, AutoRegressiveNN)
    assert flow.arn.hidden_dims == [13] and flow.arn.param_dims == [1, 1]
    assert flow.domain.event_dim == 1 and flow.codomain.event_dim == 1
    assert T.affine_autoregressive(4, hidden_dims=[20, 20]).arn.hidden_dims == [20, 20]
