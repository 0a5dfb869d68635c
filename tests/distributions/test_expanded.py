"""ExpandedDistribution: the fallback expand of distributions that cannot expand themselves."""

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions import ExpandedDistribution, TorchDistribution, constraints


class ShiftedNormal(TorchDistribution):
    """A new distribution with its own __init__ and no expand (torch cannot expand it)."""

    arg_constraints = {}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc):
        self.loc = loc
        super().__init__(loc.shape, torch.Size())

    def rsample(self, sample_shape=()):
        return self.loc + torch.randn(torch.Size(sample_shape) + self.batch_shape)

    def log_prob(self, value):
        return torch.distributions.Normal(self.loc, 1.0).log_prob(value)

    @property
    def mean(self):
        return self.loc

    @property
    def variance(self):
        return torch.ones_like(self.loc)


def test_expand_falls_back_to_expanded_distribution():
    d = ShiftedNormal(torch.tensor([[0.0], [100.0]]))
    e = d.expand([5, 2, 3])
    assert type(e) is ExpandedDistribution and e.base_dist is d
    assert e.batch_shape == (5, 2, 3) and e.event_shape == ()
    assert e.mean.shape == e.variance.shape == (5, 2, 3)
    assert d.expand_by([4]).batch_shape == (4, 2, 1)


def test_stretched_dims_get_independent_draws_from_the_right_base_entry():
    torch.manual_seed(0)
    d = ShiftedNormal(torch.tensor([[0.0], [100.0]]))
    x = d.expand([5, 2, 3]).sample((7,))
    assert x.shape == (7, 5, 2, 3)
    assert (x[:, :, 0] < 50).all() and (x[:, :, 1] > 50).all()
    # not copies of one draw along the stretched or the new dims
    assert x[0, 0, 0].unique().numel() == 3
    assert x[0, :, 0, 0].unique().numel() == 5


def test_log_prob_and_score_parts_broadcast():
    d = ShiftedNormal(torch.zeros(3)).expand([2, 3])
    x = torch.randn(4, 1, 3)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).expand(4, 2, 3)
    torch.testing.assert_close(d.log_prob(x), expected)
    parts = d.score_parts(x)
    assert parts.log_prob.shape == (4, 2, 3) and parts.score_function == 0


def test_expand_again_and_bad_shapes():
    d = ShiftedNormal(torch.zeros(3)).expand([2, 3])
    again = d.expand([4, 2, 3])
    assert type(again) is ExpandedDistribution and again.base_dist is d.base_dist
    with pytest.raises(ValueError, match="Cannot broadcast distribution of shape"):
        d.expand([3])
    with pytest.raises(ValueError, match="Cannot broadcast distribution of shape"):
        ShiftedNormal(torch.zeros(3)).expand([4])


def test_flag_and_enumerate_support_pass_through():
    d = ShiftedNormal(torch.zeros(3)).expand([2, 3]).has_rsample_(False)
    assert d.expand([4, 2, 3]).has_rsample is False
    b = ExpandedDistribution(dist.Bernoulli(torch.tensor([0.2, 0.7])), [3, 2])
    assert b.has_enumerate_support
    assert b.enumerate_support().shape == (2, 3, 2)
    assert b.enumerate_support(expand=False).shape == (2, 1, 1)


def test_torch_backed_classes_still_use_torch_expand():
    assert type(dist.Normal(torch.zeros(3), 1.0).expand([2, 3])) is dist.Normal
