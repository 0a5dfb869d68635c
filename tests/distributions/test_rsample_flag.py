"""has_rsample_: the in-place switch between pathwise and score-function sampling."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.distributions.rsample_flag import checked_rsample_flag, keep_rsample_flag


def test_has_rsample_returns_self_and_switches_sampling():
    loc = torch.tensor(0.5, requires_grad=True)
    d = dist.Normal(loc, 1.0)
    assert d.has_rsample_(False) is d
    assert d.has_rsample is False
    assert not d().requires_grad
    parts = d.score_parts(torch.tensor(0.1))
    assert parts.score_function is parts.log_prob and parts.entropy_term == 0
    assert d.has_rsample_(True) is d
    assert d().requires_grad
    # the class is untouched
    assert dist.Normal(0.0, 1.0).has_rsample is True


def test_has_rsample_true_on_a_nonreparameterised_class_does_not_add_rsample():
    d = dist.Bernoulli(0.3).has_rsample_(True)
    assert d.has_rsample is True
    with pytest.raises(NotImplementedError):
        d()


@pytest.mark.parametrize("value", [0, 1, None, "yes", torch.tensor(True)])
def test_has_rsample_rejects_non_bools(value):
    with pytest.raises(ValueError, match=r"Expected value in \[False,True\]"):
        dist.Normal(0.0, 1.0).has_rsample_(value)
    with pytest.raises(ValueError):
        checked_rsample_flag(value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: dist.Normal(torch.zeros(3), 1.0),
        lambda: dist.Normal(torch.zeros(3), 1.0).to_event(1),
        lambda: dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([True, False, True])),
        lambda: dist.Delta(torch.zeros(3)),
        lambda: dist.Unit(torch.zeros(3)),
    ],
    ids=["normal", "independent", "masked", "delta", "unit"],
)
def test_expand_and_expand_by_keep_the_flag(make):
    d = make().has_rsample_(False)
    batch = d.batch_shape
    for e in (d.expand(torch.Size([2]) + batch), d.expand_by([4, 2])):
        assert e.has_rsample is False
    assert make().expand_by([2]).has_rsample is True


def test_to_event_and_mask_keep_the_flag():
    d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1).has_rsample_(False)
    assert d.to_event(1).has_rsample is False
    assert d.base_dist.has_rsample is True
    m = dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([True, False, True]))
    m.has_rsample_(False)
    assert m.mask(torch.tensor([True, True, False])).has_rsample is False


def test_keep_rsample_flag_copies_only_an_override():
    old, new = dist.Normal(0.0, 1.0), dist.Normal(0.0, 1.0)
    keep_rsample_flag(old, new)
    assert "has_rsample" not in new.__dict__
    old.has_rsample_(False)
    keep_rsample_flag(old, new)
    assert new.has_rsample is False


@pytest.mark.parametrize("flag", [True, False])
def test_trace_records_the_switched_flag_under_a_plate(flag):
    def guide():
        loc = pyro.param("loc", torch.zeros(2))
        with pyro.plate("data", 2):
            pyro.sample("z", dist.Normal(loc, 1.0).has_rsample_(flag))

    tr = poutine.trace(guide).get_trace()
    site = tr.nodes["z"]
    assert site["fn"].has_rsample is flag
    assert site["value"].requires_grad is flag
