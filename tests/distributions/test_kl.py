"""KL divergences registered by pyrolite: masked pairs, Independent pairs, Independent vs MVN."""

import pytest
import torch
from torch.distributions import kl_divergence

import pyrolite.distributions as dist


def normal_pair(shape=(2, 2)):
    p = dist.Normal(torch.randn(shape), torch.randn(shape).exp())
    q = dist.Normal(torch.randn(shape), torch.randn(shape).exp())
    return p, q


def closed_form_kl(p, q):
    # KL(N(m1, s1) || N(m2, s2)) = log(s2/s1) + (s1^2 + (m1-m2)^2) / (2 s2^2) - 1/2
    return (q.scale / p.scale).log() + (p.scale**2 + (p.loc - q.loc) ** 2) / (2 * q.scale**2) - 0.5


def test_masked_pair_is_zero_where_either_mask_is_false():
    p, q = normal_pair()
    pm = torch.tensor([[True, False], [True, True]])
    qm = torch.tensor([[True, True], [False, True]])
    actual = kl_divergence(p.mask(pm), q.mask(qm))
    expected = torch.where(pm & qm, closed_form_kl(p, q), 0.0)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("p_mask", [True, torch.tensor(True), torch.tensor(False)], ids=str)
@pytest.mark.parametrize("q_mask", [True, torch.tensor(True)], ids=str)
def test_masked_pair_with_bool_and_scalar_masks(p_mask, q_mask):
    p, q = normal_pair()
    actual = kl_divergence(p.mask(p_mask), q.mask(q_mask))
    keep = torch.as_tensor(p_mask) & torch.as_tensor(q_mask)
    torch.testing.assert_close(actual, torch.where(keep, closed_form_kl(p, q), 0.0))


@pytest.mark.parametrize("which", ["p", "q", "both"])
def test_masked_pair_with_mask_false_is_the_float_zero(which):
    p, q = normal_pair()
    p = p.mask(which != "q" or torch.ones(2, 2, dtype=torch.bool))
    pm = False if which in ("p", "both") else True
    qm = False if which in ("q", "both") else True
    actual = kl_divergence(p.base_dist.mask(pm), q.mask(qm))
    assert isinstance(actual, float) and actual == 0.0


def test_masked_independent_parts_add_up_to_the_unmasked_kl():
    p, q = normal_pair()
    mask = torch.tensor([[False, True], [True, True]])
    whole = kl_divergence(p.to_event(2), q.to_event(2))
    parts = kl_divergence(p.mask(mask).to_event(2), q.mask(mask).to_event(2)) + kl_divergence(
        p.mask(~mask).to_event(2), q.mask(~mask).to_event(2)
    )
    torch.testing.assert_close(parts, whole)
    torch.testing.assert_close(whole, closed_form_kl(p, q).sum())


def test_independent_pair_with_different_event_dims():
    # p reinterprets 2 dims at once, q one at a time (nested): the shared dim is summed and
    # the rest compared as KL(Independent(p_base, 1) || Independent(q_base, 1))
    p, q = normal_pair((4, 2, 3))
    nested = dist.Independent(dist.Independent(q, 1), 1)
    actual = kl_divergence(p.to_event(2), nested)
    assert actual.shape == (4,)
    torch.testing.assert_close(actual, closed_form_kl(p, q).sum((-1, -2)))


def test_independent_vs_mvn_closed_form_matches_torch():
    p = dist.Normal(torch.randn(3, 2), torch.randn(3, 2).exp()).to_event(1)
    a = torch.randn(2, 2)
    q = dist.MultivariateNormal(torch.randn(2), a @ a.T + torch.eye(2))
    expected = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(
            p.base_dist.loc, torch.diag_embed(p.base_dist.scale**2)
        ),
        torch.distributions.MultivariateNormal(q.loc, q.covariance_matrix),
    )
    torch.testing.assert_close(kl_divergence(p, q), expected)


def test_independent_delta_vs_mvn_is_the_negative_log_density():
    v = torch.randn(3, 2)
    q = dist.MultivariateNormal(torch.zeros(2), torch.eye(2))
    torch.testing.assert_close(kl_divergence(dist.Delta(v).to_event(1), q), -q.log_prob(v))


def test_independent_vs_mvn_of_other_bases_is_not_implemented():
    p = dist.Gamma(torch.ones(2), 1.0).to_event(1)
    q = dist.MultivariateNormal(torch.zeros(2), torch.eye(2))
    with pytest.raises(NotImplementedError):
        kl_divergence(p, q)


def test_matches_pyro_on_masked_and_independent_pairs():
    pyro_dist = pytest.importorskip("pyro.distributions")
    loc1, loc2 = torch.randn(3, 2), torch.randn(3, 2)
    s1, s2 = torch.rand(3, 2) + 0.5, torch.rand(3, 2) + 0.5
    mask = torch.tensor([True, False, True])
    ours = kl_divergence(
        dist.Normal(loc1, s1).to_event(1).mask(mask),
        dist.Normal(loc2, s2).to_event(1).mask(mask),
    )
    theirs = kl_divergence(
        pyro_dist.Normal(loc1, s1).to_event(1).mask(mask),
        pyro_dist.Normal(loc2, s2).to_event(1).mask(mask),
    )
    torch.testing.assert_close(ours, theirs)
