"""MaskedDistribution: values and shapes of masked log densities, finite gradients, expand."""

import math

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions import MaskedDistribution

NAN = float("nan")


def test_python_bool_masks():
    d = dist.Normal(torch.zeros(3), 1.0)
    x = torch.randn(5, 3)
    torch.testing.assert_close(d.mask(True).log_prob(x), d.log_prob(x))
    lp = d.mask(False).log_prob(x)
    assert lp.shape == (5, 3)
    assert (lp == 0).all()
    assert d.mask(False).log_prob(torch.randn(3)).shape == (3,)


def test_false_mask_does_not_call_base_log_prob():
    d = dist.Beta(torch.ones(2), torch.ones(2), validate_args=True)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor([2.0, 3.0]))  # outside the support
    lp = d.mask(False).log_prob(torch.tensor([2.0, 3.0]))
    assert lp.tolist() == [0.0, 0.0]


def test_tensor_mask_zeroes_entries():
    d = dist.Normal(torch.zeros(3), 1.0)
    mask = torch.tensor([True, False, True])
    x = torch.randn(4, 3)
    lp = d.mask(mask).log_prob(x)
    assert lp.shape == (4, 3)
    expected = torch.where(mask, d.log_prob(x), torch.zeros(()))
    torch.testing.assert_close(lp, expected)
    assert (lp[:, 1] == 0).all() and (lp[:, 0] != 0).all()


def test_shapes_support_and_sampling_follow_base():
    base = dist.MultivariateNormal(torch.zeros(2, 3), torch.eye(3))
    m = base.mask(torch.tensor([True, False]))
    assert (m.batch_shape, m.event_shape) == ((2,), (3,))
    assert m.support is base.support
    assert m.has_rsample is True
    assert m.sample((4,)).shape == (4, 2, 3)
    torch.testing.assert_close(m.mean, base.mean)
    torch.testing.assert_close(m.variance, base.variance)
    bern = dist.Bernoulli(torch.full((2,), 0.5)).mask(torch.tensor([True, False]))
    assert bern.has_rsample is False
    assert bern.has_enumerate_support is True
    assert bern.enumerate_support().shape == (2, 2)


def test_event_dims_mask_whole_events():
    base = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1)
    m = base.mask(torch.tensor([False, True]))
    x = torch.randn(2, 3)
    lp = m.log_prob(x)
    assert lp.shape == (2,)
    assert lp[0].item() == 0.0
    torch.testing.assert_close(lp[1], base.log_prob(x)[1])


def test_rsample_gradient_flows_through_mask():
    loc = torch.zeros(3, requires_grad=True)
    m = dist.Normal(loc, 1.0).mask(torch.tensor([True, False, True]))
    m().sum().backward()
    torch.testing.assert_close(loc.grad, torch.ones(3))


def test_nan_values_under_false_mask_give_finite_gradients():
    # Missing data stored as NaN: the masked entries must not poison the gradient.
    loc = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
    scale = torch.tensor([1.0, 2.0, 1.0], requires_grad=True)
    data = torch.tensor([1.0, NAN, -1.0])
    mask = ~data.isnan()
    lp = dist.Normal(loc, scale).mask(mask).log_prob(data)
    assert lp[1].item() == 0.0
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert torch.isfinite(loc.grad).all() and torch.isfinite(scale.grad).all()
    assert loc.grad[1].item() == 0.0 and scale.grad[1].item() == 0.0
    # Unmasked entries get the usual gradient: d/dloc log N(x; loc, s) = (x - loc) / s^2.
    torch.testing.assert_close(loc.grad[[0, 2]], torch.tensor([0.5, -1.5]))


def test_infinite_gradient_under_false_mask():
    # log LogNormal(0; loc, 1) = -inf with d/dloc = -inf: masked, it must become an exact 0.
    loc = torch.tensor([0.0, 0.0], requires_grad=True)
    d = dist.LogNormal(loc, 1.0, validate_args=False).mask(torch.tensor([False, True]))
    lp = d.log_prob(torch.tensor([0.0, 1.0]))
    assert lp[0].item() == 0.0
    lp.sum().backward()
    assert torch.isfinite(loc.grad).all()
    assert loc.grad.tolist() == [0.0, 0.0]  # d/dloc at log(1) - loc = 0 is 0 as well


def test_density_infinite_at_the_bound_under_false_mask():
    # Gamma(0.5) has infinite density at 0: the stand-in value must be interior.
    conc = torch.tensor([0.5, 0.5], requires_grad=True)
    d = dist.Gamma(conc, 1.0).mask(torch.tensor([False, True]))
    lp = d.log_prob(torch.tensor([float("nan"), 1.0]))
    lp.sum().backward()
    assert torch.isfinite(conc.grad).all() and conc.grad[0].item() == 0.0


def test_out_of_support_value_under_false_mask_passes_validation():
    d = dist.Uniform(torch.zeros(2), torch.ones(2), validate_args=True)
    m = d.mask(torch.tensor([True, False]))
    lp = m.log_prob(torch.tensor([0.5, 7.0]))
    torch.testing.assert_close(lp, torch.tensor([0.0, 0.0]))
    with pytest.raises(ValueError):
        m.log_prob(torch.tensor([7.0, 0.5]))  # the unmasked entry is checked


@pytest.mark.parametrize(
    "base, value",
    [
        (dist.Gamma(torch.ones(2), 1.0), torch.tensor([1.0, -1.0])),
        (dist.Dirichlet(torch.ones(2, 3)), torch.tensor([[0.2, 0.3, 0.5], [NAN, 0.0, 1.0]])),
        (dist.Categorical(probs=torch.ones(2, 3)), torch.tensor([1, 9])),
        (dist.Binomial(5, torch.full((2,), 0.5)), torch.tensor([2.0, 9.0])),
        (dist.OneHotCategorical(torch.ones(2, 3)), torch.tensor([[0.0, 1.0, 0.0], [1, 1, 1]])),
        (dist.LKJCholesky(3, torch.ones(2)), torch.stack([torch.eye(3), torch.ones(3, 3)])),
        (dist.Pareto(torch.ones(2), 2.0), torch.tensor([3.0, 0.5])),
    ],
)
def test_invalid_masked_values_across_supports(base, value):
    m = base.mask(torch.tensor([True, False]))
    lp = m.log_prob(value)  # validation is on: only the first entry is checked
    assert lp.shape == (2,)
    assert lp[1].item() == 0.0
    torch.testing.assert_close(lp[0], base.log_prob(value[:1].expand_as(value))[0])


def test_mask_broadcasts_batch_shape():
    d = dist.Normal(0.0, 1.0).mask(torch.tensor([True, False, True]))
    assert d.batch_shape == (3,)
    assert d.base_dist.batch_shape == (3,)
    assert d.sample().shape == (3,)
    lp = (
        dist.Normal(torch.zeros(3), 1.0)
        .mask(torch.tensor([[True], [False]]))
        .log_prob(torch.zeros(3))
    )
    assert lp.shape == (2, 3)
    assert (lp[1] == 0).all() and (lp[0] == -0.5 * math.log(2 * math.pi)).all()


def test_bad_masks():
    d = dist.Normal(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"mask of shape \(2,\).*batch_shape \(3,\)"):
        d.mask(torch.tensor([True, False]))
    with pytest.raises(TypeError, match="bool"):
        d.mask(torch.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(TypeError, match="bool"):
        d.mask(1)


def test_expand():
    mask = torch.tensor([True, False])
    m = dist.Normal(torch.zeros(2), 1.0).mask(mask).expand([3, 2])
    assert type(m) is MaskedDistribution
    assert m.batch_shape == (3, 2)
    lp = m.log_prob(torch.ones(3, 2))
    assert lp.shape == (3, 2)
    assert (lp[:, 1] == 0).all() and (lp[:, 0] != 0).all()
    m = dist.Normal(0.0, 1.0).mask(False).expand_by([4])
    assert m.batch_shape == (4,)
    assert (m.log_prob(torch.ones(4)) == 0).all()


def test_mask_of_mask_is_and():
    d = dist.Normal(torch.zeros(3), 1.0)
    m = d.mask(torch.tensor([True, True, False])).mask(torch.tensor([True, False, True]))
    assert type(m.base_dist) is dist.Normal
    assert (m.log_prob(torch.zeros(3)) != 0).tolist() == [True, False, False]
    off = d.mask(torch.tensor([True, False, True])).mask(False)
    assert (off.log_prob(torch.ones(3)) == 0).all()
    assert (d.mask(False).mask(True).log_prob(torch.zeros(3)) == 0).all()


def test_has_rsample_override_and_score_parts():
    m = dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([True, False]))
    m.has_rsample = False
    assert m.has_rsample is False and m.base_dist.has_rsample is True
    assert m.expand([3, 2]).has_rsample is False
    parts = m.score_parts(torch.zeros(2))
    assert parts.log_prob[1].item() == 0.0 and parts.entropy_term == 0
    # as in Pyro, the score-function term is the base's, unmasked
    torch.testing.assert_close(parts.score_function, m.base_dist.log_prob(torch.zeros(2)))


def test_score_parts_equal_pyros_masking_of_the_base_parts():
    mask = torch.tensor([[True, False, True], [False, True, True]])
    for base in (dist.Bernoulli(torch.full((2, 3), 0.3)), dist.Normal(torch.zeros(2, 3), 1.0)):
        x = base.sample()
        actual = base.mask(mask).score_parts(x)
        expected = base.score_parts(x).scale_and_mask(mask=mask)
        for a, e in zip(actual, expected, strict=True):
            if isinstance(e, torch.Tensor):
                assert torch.equal(a, e)
            else:
                assert a == e


class _PartlyReparameterised(dist.Normal):
    """A Normal whose score_parts carry a score-function term (as a rejection sampler's do)."""

    def score_parts(self, value):
        lp = self.log_prob(value)
        return dist.ScoreParts(lp, 2 * lp, lp)


def test_base_with_its_own_score_parts_is_masked_part_by_part():
    base = _PartlyReparameterised(torch.zeros(3), 1.0)
    mask = torch.tensor([True, False, True])
    x = torch.tensor([0.5, 1.0, -1.0])
    parts = base.mask(mask).score_parts(x)
    lp = torch.where(mask, base.log_prob(x), 0.0)
    torch.testing.assert_close(parts.log_prob, lp)
    # ScoreParts.scale_and_mask leaves score_function alone (as Pyro): the cost it is
    # multiplied by carries the mask already
    torch.testing.assert_close(parts.score_function, 2 * base.log_prob(x))
    torch.testing.assert_close(parts.entropy_term, lp)
    # a False mask never calls the base's score_parts
    parts = base.mask(False).score_parts(x)
    assert (parts.log_prob == 0).all()
