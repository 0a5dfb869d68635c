"""TorchDistributionMixin: __call__, shape, expand_by, to_event, mask, score_parts."""

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions import ScoreParts, TorchDistribution, TorchDistributionMixin


def test_call_uses_rsample_so_gradients_flow():
    loc = torch.tensor([0.5, -1.0], requires_grad=True)
    x = dist.Normal(loc, 1.0)()
    assert x.shape == (2,)
    assert x.requires_grad
    x.sum().backward()
    torch.testing.assert_close(loc.grad, torch.ones(2))


def test_call_uses_sample_without_rsample():
    probs = torch.tensor([0.2, 0.7], requires_grad=True)
    x = dist.Bernoulli(probs)((3,))
    assert x.shape == (3, 2)
    assert not x.requires_grad
    assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_call_respects_instance_has_rsample_override():
    loc = torch.tensor(0.0, requires_grad=True)
    d = dist.Normal(loc, 1.0)
    d.has_rsample = False
    assert not d().requires_grad
    parts = d.score_parts(torch.tensor(0.3))
    assert parts.score_function is parts.log_prob and parts.entropy_term == 0


def test_shape_and_event_dim():
    d = dist.MultivariateNormal(torch.zeros(4, 3), torch.eye(3))
    assert d.shape() == (4, 3)
    assert d.shape((2, 5)) == (2, 5, 4, 3)
    assert isinstance(d.shape(), torch.Size)
    assert d.event_dim == 1
    assert dist.Normal(0.0, 1.0).event_dim == 0


def test_expand_by_shapes_and_values():
    d = dist.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    e = d.expand_by(torch.Size([3]))
    assert type(e) is dist.Normal
    assert e.batch_shape == (3, 2)
    x = torch.randn(3, 2)
    expected = torch.distributions.Normal(d.loc, d.scale).log_prob(x)
    torch.testing.assert_close(e.log_prob(x), expected)
    assert d.expand_by(()).batch_shape == (2,)
    assert d.expand_by([4, 1]).batch_shape == (4, 1, 2)


def test_to_event_shapes_and_values():
    d = dist.Normal(torch.zeros(4, 3), torch.ones(4, 3))
    assert d.to_event(0) is d
    i1 = d.to_event(1)
    assert type(i1) is dist.Independent
    assert (i1.batch_shape, i1.event_shape) == ((4,), (3,))
    i_all = d.to_event()
    assert (i_all.batch_shape, i_all.event_shape) == ((), (4, 3))
    x = torch.randn(4, 3)
    torch.testing.assert_close(i_all.log_prob(x), d.log_prob(x).sum())
    torch.testing.assert_close(i1.log_prob(x), d.log_prob(x).sum(-1))
    # An event-only distribution: to_event() is a no-op.
    mvn = dist.MultivariateNormal(torch.zeros(3), torch.eye(3))
    assert mvn.to_event() is mvn


def test_to_event_keeps_explicit_validate_args():
    d = dist.Exponential(torch.ones(2), validate_args=False)
    bad = torch.tensor([-1.0, 1.0])
    assert d.to_event(1).log_prob(bad).isfinite()
    assert d.to_event(1).to_event(0).log_prob(bad).isfinite()
    strict = dist.Exponential(torch.ones(2, 2), validate_args=True)
    with pytest.raises(ValueError):
        strict.to_event(1).to_event(1).log_prob(bad.expand(2, 2))


@pytest.mark.parametrize("n", [-1, 3])
def test_to_event_out_of_range_names_shapes(n):
    d = dist.Normal(torch.zeros(4, 3), 1.0)
    with pytest.raises(ValueError, match=rf"to_event\({n}\).*batch_shape=\(4, 3\)"):
        d.to_event(n)


def test_mask_returns_masked_distribution():
    d = dist.Normal(torch.zeros(3), 1.0)
    mask = torch.tensor([True, False, True])
    m = d.mask(mask)
    assert isinstance(m, dist.MaskedDistribution)
    assert m.batch_shape == (3,)
    x = torch.ones(3)
    lp = d.log_prob(x)
    torch.testing.assert_close(m.log_prob(x), torch.stack([lp[0], torch.tensor(0.0), lp[2]]))


def test_score_parts_reparameterised_and_not():
    value = torch.tensor([0.5, 1.0])
    normal = dist.Normal(torch.zeros(2), 1.0)
    parts = normal.score_parts(value)
    assert isinstance(parts, ScoreParts)
    torch.testing.assert_close(parts.log_prob, normal.log_prob(value))
    assert parts.score_function == 0 and parts.entropy_term is parts.log_prob

    bern = dist.Bernoulli(torch.tensor([0.3, 0.6]))
    parts = bern.score_parts(value.round())
    torch.testing.assert_close(parts.log_prob, bern.log_prob(value.round()))
    assert parts.score_function is parts.log_prob and parts.entropy_term == 0


class _Flat(TorchDistribution):
    """A test-only distribution: log density 1 on the reals, no expand."""

    arg_constraints: dict = {}
    support = torch.distributions.constraints.real

    def __init__(self, batch_shape):
        super().__init__(torch.Size(batch_shape), torch.Size(), validate_args=False)

    def log_prob(self, value):
        return torch.ones(torch.broadcast_shapes(value.shape, self.batch_shape))

    def sample(self, sample_shape=()):
        return torch.zeros(self.shape(sample_shape))


def test_torch_distribution_base_class():
    d = _Flat((2,))
    assert isinstance(d, torch.distributions.Distribution)
    assert isinstance(d, TorchDistributionMixin)
    assert d((3,)).shape == (3, 2)  # no rsample: __call__ uses sample
    ind = d.to_event(1)
    torch.testing.assert_close(ind.log_prob(torch.zeros(2)), torch.tensor(2.0))
    e = d.expand((4, 2))  # no expand of its own: Pyro's ExpandedDistribution
    assert type(e) is dist.ExpandedDistribution and e.batch_shape == (4, 2)
    assert e.sample().shape == (4, 2)


def test_negative_to_event_gives_event_dims_back_to_the_batch():
    base = dist.Normal(torch.zeros(2, 3), 1.0)
    d = base.to_event(2)
    back = d.to_event(-1)
    assert type(back) is dist.Independent and back.base_dist is base
    assert (back.batch_shape, back.event_shape) == ((2,), (3,))
    assert back.to_event(-1) is base
    assert d.to_event(-2) is base
    assert d.to_event(0) is d
    x = torch.randn(2, 3)
    torch.testing.assert_close(back.log_prob(x), base.log_prob(x).sum(-1))


def test_to_event_folds_nested_independents():
    base = dist.Normal(torch.zeros(4, 2, 3), 1.0)
    nested = dist.Independent(dist.Independent(base, 1), 1)
    assert nested.to_event(-1).base_dist is base
    assert nested.to_event(-1).event_shape == (3,)
    assert nested.to_event(1).reinterpreted_batch_ndims == 3


def test_negative_to_event_beyond_the_event_dims_raises():
    d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1)
    with pytest.raises(ValueError, match="Cannot remove event dimensions"):
        d.to_event(-2)
    with pytest.raises(ValueError, match="Cannot remove event dimensions"):
        dist.MultivariateNormal(torch.zeros(3), torch.eye(3)).to_event(-1)


def test_reshape_is_removed_and_independent_is_deprecated():
    d = dist.Normal(torch.zeros(2, 3), 1.0)
    with pytest.raises(Exception, match="expand_by.*to_event"):
        d.reshape(sample_shape=(2,), extra_event_dims=1)
    with pytest.warns(DeprecationWarning, match="use to_event"):
        assert d.independent(1).event_shape == (3,)


def test_infer_shapes_of_scalar_and_vector_distributions():
    assert dist.Normal.infer_shapes(loc=(3, 1), scale=(4,)) == ((3, 4), ())
    assert dist.Bernoulli.infer_shapes(probs=(2,)) == ((2,), ())
    with pytest.raises(NotImplementedError):
        dist.Independent.infer_shapes(base_distribution=())


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (dist.Dirichlet, {"concentration": torch.ones(2, 3)}),
        (
            dist.MultivariateNormal,
            {"loc": torch.zeros(4, 3), "scale_tril": torch.eye(3).expand(5, 1, 3, 3)},
        ),
        (dist.MultivariateNormal, {"loc": torch.zeros(3), "covariance_matrix": torch.eye(3)}),
        (
            dist.LowRankMultivariateNormal,
            {"loc": torch.zeros(3), "cov_factor": torch.ones(2, 3, 1), "cov_diag": torch.ones(3)},
        ),
        (dist.Multinomial, {"total_count": 4, "probs": torch.ones(2, 3) / 3}),
        (dist.OneHotCategorical, {"logits": torch.zeros(6, 5)}),
        (dist.Categorical, {"probs": torch.ones(4, 3) / 3}),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_infer_shapes_agrees_with_the_constructed_distribution(cls, kwargs):
    shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    d = cls(**kwargs)
    assert cls.infer_shapes(**shapes) == (d.batch_shape, d.event_shape)


def test_conjugate_update_is_not_supported_by_default():
    with pytest.raises(NotImplementedError, match="Normal does not support .conjugate_update"):
        dist.Normal(0.0, 1.0).conjugate_update(dist.Normal(0.0, 1.0))
