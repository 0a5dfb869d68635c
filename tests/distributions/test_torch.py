"""The torch-backed classes: names, types, expand, has_rsample, log_prob vs torch, KL."""

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions import TorchDistributionMixin

# torch 2.13's Wishart.rsample warns on every *valid* draw (its singularity check is inverted).
pytestmark = pytest.mark.filterwarnings("ignore:Singular sample detected")

TD = torch.distributions
ONES2 = torch.ones(2)
ZEROS2 = torch.zeros(2)
T23 = torch.tensor([2.0, 3.0])
P2 = torch.tensor([0.3, 0.6])

# One instance with batch_shape (2,) for every wrapped class.
EXAMPLES = {
    "Bernoulli": lambda: dist.Bernoulli(probs=P2),
    "Beta": lambda: dist.Beta(T23, T23 + 1),
    "Binomial": lambda: dist.Binomial(10, probs=P2),
    "Categorical": lambda: dist.Categorical(probs=torch.ones(2, 3)),
    "Cauchy": lambda: dist.Cauchy(ZEROS2, ONES2),
    "Chi2": lambda: dist.Chi2(T23),
    "ContinuousBernoulli": lambda: dist.ContinuousBernoulli(probs=P2),
    "Dirichlet": lambda: dist.Dirichlet(torch.ones(2, 3)),
    "Exponential": lambda: dist.Exponential(T23),
    "FisherSnedecor": lambda: dist.FisherSnedecor(T23, T23 + 2),
    "Gamma": lambda: dist.Gamma(T23, ONES2),
    "GeneralizedPareto": lambda: dist.GeneralizedPareto(ZEROS2, ONES2, P2),
    "Geometric": lambda: dist.Geometric(probs=P2),
    "Gumbel": lambda: dist.Gumbel(ZEROS2, ONES2),
    "HalfCauchy": lambda: dist.HalfCauchy(ONES2),
    "HalfNormal": lambda: dist.HalfNormal(ONES2),
    "Independent": lambda: dist.Independent(dist.Normal(torch.zeros(2, 3), 1.0), 1),
    "InverseGamma": lambda: dist.InverseGamma(T23, ONES2),
    "Kumaraswamy": lambda: dist.Kumaraswamy(T23, ONES2),
    "LKJCholesky": lambda: dist.LKJCholesky(3, concentration=T23),
    "Laplace": lambda: dist.Laplace(ZEROS2, ONES2),
    "LogNormal": lambda: dist.LogNormal(ZEROS2, ONES2),
    "LogisticNormal": lambda: dist.LogisticNormal(torch.zeros(2, 3), torch.ones(2, 3)),
    "LowRankMultivariateNormal": lambda: dist.LowRankMultivariateNormal(
        torch.zeros(2, 3), torch.ones(2, 3, 1), torch.ones(2, 3)
    ),
    "MixtureSameFamily": lambda: dist.MixtureSameFamily(
        dist.Categorical(probs=torch.ones(2, 4)), dist.Normal(torch.zeros(2, 4), 1.0)
    ),
    "Multinomial": lambda: dist.Multinomial(5, probs=torch.ones(2, 3)),
    "MultivariateNormal": lambda: dist.MultivariateNormal(torch.zeros(2, 3), torch.eye(3)),
    "NegativeBinomial": lambda: dist.NegativeBinomial(5, probs=P2),
    "Normal": lambda: dist.Normal(ZEROS2, ONES2),
    "OneHotCategorical": lambda: dist.OneHotCategorical(probs=torch.ones(2, 3)),
    "OneHotCategoricalStraightThrough": lambda: dist.OneHotCategoricalStraightThrough(
        probs=torch.ones(2, 3)
    ),
    "Pareto": lambda: dist.Pareto(ONES2, T23),
    "Poisson": lambda: dist.Poisson(T23),
    "RelaxedBernoulli": lambda: dist.RelaxedBernoulli(torch.tensor(0.5), probs=P2),
    "RelaxedOneHotCategorical": lambda: dist.RelaxedOneHotCategorical(
        torch.tensor(0.5), probs=torch.ones(2, 3)
    ),
    "StudentT": lambda: dist.StudentT(T23),
    "TransformedDistribution": lambda: dist.TransformedDistribution(
        dist.Normal(ZEROS2, ONES2), [dist.transforms.ExpTransform()]
    ),
    "Uniform": lambda: dist.Uniform(ZEROS2, ONES2),
    "VonMises": lambda: dist.VonMises(ZEROS2, ONES2),
    "Weibull": lambda: dist.Weibull(ONES2, T23),
    "Wishart": lambda: dist.Wishart(df=T23 + 2, covariance_matrix=torch.eye(3)),
}
NAMES = sorted(EXAMPLES)


def _torch_distribution_classes():
    names = []
    for name in TD.__all__:
        obj = getattr(TD, name)
        if isinstance(obj, type) and issubclass(obj, TD.Distribution):
            names.append(name)
    return names


def test_every_concrete_torch_class_is_wrapped():
    abstract = {"Distribution", "ExponentialFamily"}
    assert set(_torch_distribution_classes()) - abstract == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_name_and_types(name):
    cls = getattr(dist, name)
    assert cls.__name__ == name
    assert cls.__module__ == "pyrolite.distributions.torch"
    assert issubclass(cls, getattr(TD, name))
    d = EXAMPLES[name]()
    assert type(d) is cls
    assert isinstance(d, getattr(TD, name))
    assert isinstance(d, TorchDistributionMixin)
    assert d.batch_shape == (2,)


@pytest.mark.parametrize("name", NAMES)
def test_expand_keeps_class_and_log_prob(name):
    d = EXAMPLES[name]()
    e = d.expand([4, 2])
    assert type(e) is type(d)
    assert e.batch_shape == (4, 2)
    assert e.event_shape == d.event_shape
    x = d.sample()
    expected = d.log_prob(x).expand(4, 2)
    torch.testing.assert_close(e.log_prob(x), expected)
    assert e.sample().shape == (4, 2) + d.event_shape


@pytest.mark.parametrize("name", NAMES)
def test_expand_by_and_to_event(name):
    d = EXAMPLES[name]()
    e = d.expand_by([5])
    assert type(e) is type(d)
    assert e.batch_shape == (5, 2)
    i = e.to_event(1)
    assert isinstance(i, dist.Independent)
    assert i.batch_shape == (5,)
    assert i.event_shape == (2,) + d.event_shape
    x = e.sample()
    torch.testing.assert_close(i.log_prob(x), e.log_prob(x).sum(-1))


@pytest.mark.parametrize("name", NAMES)
def test_has_rsample_settable_and_kept_by_expand(name):
    d = EXAMPLES[name]()
    d.has_rsample = False
    assert d.has_rsample is False
    assert d.expand([3, 2]).has_rsample is False
    assert d.expand_by([3]).has_rsample is False
    assert d.to_event(1).has_rsample is False
    assert d.to_event(1).to_event(0).has_rsample is False


@pytest.mark.parametrize("name", NAMES)
def test_has_rsample_override_is_per_instance(name):
    d = EXAMPLES[name]()
    default = d.has_rsample
    d.has_rsample = not default
    assert EXAMPLES[name]().has_rsample == default


@pytest.mark.parametrize("name", NAMES)
def test_call_and_score_parts(name):
    d = EXAMPLES[name]()
    x = d()
    assert x.shape == d.shape() == (2,) + d.event_shape
    assert d((3,)).shape == d.shape((3,)) == (3, 2) + d.event_shape
    lp, score, entropy = d.score_parts(x)
    torch.testing.assert_close(lp, d.log_prob(x))
    if d.has_rsample:
        assert isinstance(score, int) and score == 0
        assert entropy is lp
    else:
        assert score is lp
        assert isinstance(entropy, int) and entropy == 0


def test_derived_has_rsample_follows_base():
    base = dist.Normal(ZEROS2, ONES2)
    ind = dist.Independent(base, 1)
    assert ind.has_rsample is True
    base.has_rsample = False
    assert ind.has_rsample is False
    ind.has_rsample = True  # an instance override beats the base's flag
    assert ind.has_rsample is True and base.has_rsample is False


def test_torch_signatures_unchanged():
    d = dist.Bernoulli(torch.tensor([0.2, 0.9]), validate_args=False)
    assert d._validate_args is False
    torch.testing.assert_close(d.probs, torch.tensor([0.2, 0.9]))
    d = dist.Normal(loc=1.0, scale=2.0)
    assert d.loc.item() == 1.0 and d.scale.item() == 2.0
    # With validation on, bad parameters raise as in torch.
    with pytest.raises(ValueError, match="scale"):
        dist.Normal(0.0, -1.0, validate_args=True)


def test_independent_to_event_folds():
    d = dist.Normal(torch.zeros(4, 3, 2), 1.0)
    folded = d.to_event(1).to_event(1)
    assert type(folded) is dist.Independent
    assert folded.reinterpreted_batch_ndims == 2
    assert folded.base_dist is d
    assert folded.batch_shape == (4,) and folded.event_shape == (3, 2)
    assert d.to_event(1).to_event().reinterpreted_batch_ndims == 3
    ind = d.to_event(1)
    assert ind.to_event(0) is ind
    with pytest.raises(ValueError, match=r"batch_shape=\(4, 3\).*event_shape=\(2,\)"):
        ind.to_event(3)


def test_kl_dispatches_to_torch_for_wrapped_classes():
    p = dist.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    q = dist.Normal(torch.tensor([0.5, -1.0]), torch.tensor([1.5, 0.5]))
    expected = TD.kl_divergence(TD.Normal(p.loc, p.scale), TD.Normal(q.loc, q.scale))
    torch.testing.assert_close(dist.kl_divergence(p, q), expected)
    kl_ind = dist.kl_divergence(p.to_event(1), q.to_event(1))
    torch.testing.assert_close(kl_ind, expected.sum())
    # Closed form, independent of torch's registry.
    closed = (
        torch.log(q.scale / p.scale) + (p.scale**2 + (p.loc - q.loc) ** 2) / (2 * q.scale**2) - 0.5
    )
    torch.testing.assert_close(dist.kl_divergence(p, q), closed)


def test_kl_of_wrapped_and_plain_torch_mix():
    p = dist.Gamma(T23, ONES2)
    q = TD.Gamma(T23 + 1, ONES2 * 2)
    expected = TD.kl_divergence(TD.Gamma(T23, ONES2), q)
    torch.testing.assert_close(dist.kl_divergence(p, q), expected)
