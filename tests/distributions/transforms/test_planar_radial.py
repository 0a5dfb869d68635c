"""Planar and Radial: the reparameterisations that keep them invertible, and agreement
with Pyro's transforms at the same parameter values."""

import pytest
import torch

from pyrolite.distributions import transforms as T


def test_planar_u_hat_keeps_w_dot_u_above_minus_one():
    flow = T.planar(3).double()
    with torch.no_grad():
        flow.w.copy_(torch.tensor([1.0, 2.0, -1.0]))
        flow.u.copy_(-3.0 * flow.w)  # w . u = -18: the raw map would fold over
    assert flow.w @ flow.u_hat() > -1
    # along w the map is then strictly increasing, hence one-to-one
    t = torch.linspace(-5, 5, 201, dtype=torch.float64).unsqueeze(-1)
    along = (flow(t * flow.w.detach()) @ flow.w).detach()
    assert torch.all(along[1:] > along[:-1])
    log_det = flow.log_abs_det_jacobian(torch.randn(10, 3, dtype=torch.float64), None)
    assert torch.isfinite(log_det).all()


def test_radial_beta_stays_above_minus_alpha():
    flow = T.radial(2)
    with torch.no_grad():
        flow.beta_prime.fill_(-30.0)  # beta -> -alpha from above
    x = torch.randn(50, 2)
    log_det = flow.log_abs_det_jacobian(x, flow(x))
    assert torch.isfinite(log_det).all()
    # the radius from x0 still increases strictly with the input radius
    r = torch.linspace(0.01, 5, 100).unsqueeze(-1)
    direction = torch.tensor([0.6, 0.8])
    out = flow(flow.x0.detach() + r * direction) - flow.x0.detach()
    radius = out.norm(dim=-1).detach()
    assert torch.all(radius[1:] > radius[:-1])


def test_parameter_shapes_and_init_range():
    planar = T.planar(4)
    assert planar.u.shape == planar.w.shape == (4,) and planar.bias.shape == (1,)
    radial = T.radial(4)
    assert radial.x0.shape == (4,) and radial.alpha_prime.shape == radial.beta_prime.shape == (1,)
    for p in list(planar.parameters()) + list(radial.parameters()):
        assert p.abs().max() <= 0.5  # Uniform(-1/sqrt(4), 1/sqrt(4))


@pytest.mark.parametrize("kind", ["Planar", "Radial"])
def test_agrees_with_pyro_at_the_same_parameters(kind):
    pyro_transforms = pytest.importorskip("pyro.distributions.transforms")
    ours = getattr(T, kind)(3).double()
    theirs = getattr(pyro_transforms, kind)(3).double()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(
        ours.log_abs_det_jacobian(x, ours(x)), theirs.log_abs_det_jacobian(x, theirs(x))
    )


@pytest.mark.parametrize("make", [T.planar, T.radial])
def test_log_det_from_the_forward_pass_equals_the_one_recomputed(make):
    flow = make(3).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    y = flow(x)  # records what the forward pass computed with y
    stored = flow.log_abs_det_jacobian(x, y)
    recomputed = flow.log_abs_det_jacobian(x.clone(), y.clone())  # a pair it did not make
    torch.testing.assert_close(stored, recomputed)
