"""Every concrete ``torch.distributions`` class, subclassed with :class:`TorchDistributionMixin`.

Each class keeps torch's name, constructor signature (``validate_args=`` included) and
behaviour, is an instance of the torch class (so torch's KL registry and ``biject_to``
dispatch still apply), and gains ``__call__``, ``shape``, ``expand_by``, ``to_event``,
``mask`` and ``score_parts``. ``expand`` returns the pyrolite class. None of these classes
defines ``__init__``, which is what lets torch's ``expand`` build instances of them.

``has_rsample`` can be assigned on any instance; for the classes where torch derives it
from ``base_dist`` (``Independent``, ``TransformedDistribution`` and its subclasses that do
not fix it) it is the base's flag unless assigned.
"""

from __future__ import annotations

import torch

from pyrolite.distributions.rsample_flag import base_rsample_flag, keep_rsample_flag
from pyrolite.distributions.torch_distribution import TorchDistributionMixin

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ContinuousBernoulli",
    "Dirichlet",
    "Exponential",
    "FisherSnedecor",
    "Gamma",
    "GeneralizedPareto",
    "Geometric",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "Independent",
    "InverseGamma",
    "Kumaraswamy",
    "LKJCholesky",
    "Laplace",
    "LogNormal",
    "LogisticNormal",
    "LowRankMultivariateNormal",
    "MixtureSameFamily",
    "Multinomial",
    "MultivariateNormal",
    "NegativeBinomial",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Pareto",
    "Poisson",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "StudentT",
    "TransformedDistribution",
    "Uniform",
    "VonMises",
    "Weibull",
    "Wishart",
]


Shape = tuple[int, ...]


def _vector_shapes(shape: Shape) -> tuple[torch.Size, torch.Size]:
    return torch.Size(shape[:-1]), torch.Size(shape[-1:])


class Bernoulli(TorchDistributionMixin, torch.distributions.Bernoulli):
    """``torch.distributions.Bernoulli`` with pyrolite's mixin."""


class Beta(TorchDistributionMixin, torch.distributions.Beta):
    """``torch.distributions.Beta`` with pyrolite's mixin."""


class Binomial(TorchDistributionMixin, torch.distributions.Binomial):
    """``torch.distributions.Binomial`` with pyrolite's mixin."""


class Categorical(TorchDistributionMixin, torch.distributions.Categorical):
    """``torch.distributions.Categorical`` with pyrolite's mixin."""


class Cauchy(TorchDistributionMixin, torch.distributions.Cauchy):
    """``torch.distributions.Cauchy`` with pyrolite's mixin."""


class Chi2(TorchDistributionMixin, torch.distributions.Chi2):
    """``torch.distributions.Chi2`` with pyrolite's mixin."""


class ContinuousBernoulli(TorchDistributionMixin, torch.distributions.ContinuousBernoulli):
    """``torch.distributions.ContinuousBernoulli`` with pyrolite's mixin."""


class Dirichlet(TorchDistributionMixin, torch.distributions.Dirichlet):
    """``torch.distributions.Dirichlet`` with pyrolite's mixin."""

    @staticmethod
    def infer_shapes(concentration: Shape) -> tuple[torch.Size, torch.Size]:
        """``(concentration[:-1], concentration[-1:])``."""
        return _vector_shapes(concentration)


class Exponential(TorchDistributionMixin, torch.distributions.Exponential):
    """``torch.distributions.Exponential`` with pyrolite's mixin."""


class FisherSnedecor(TorchDistributionMixin, torch.distributions.FisherSnedecor):
    """``torch.distributions.FisherSnedecor`` with pyrolite's mixin."""


class Gamma(TorchDistributionMixin, torch.distributions.Gamma):
    """``torch.distributions.Gamma`` with pyrolite's mixin."""


class GeneralizedPareto(TorchDistributionMixin, torch.distributions.GeneralizedPareto):
    """``torch.distributions.GeneralizedPareto`` with pyrolite's mixin."""


class Geometric(TorchDistributionMixin, torch.distributions.Geometric):
    """``torch.distributions.Geometric`` with pyrolite's mixin."""


class Gumbel(TorchDistributionMixin, torch.distributions.Gumbel):
    """``torch.distributions.Gumbel`` with pyrolite's mixin."""

    has_rsample = base_rsample_flag


class HalfCauchy(TorchDistributionMixin, torch.distributions.HalfCauchy):
    """``torch.distributions.HalfCauchy`` with pyrolite's mixin."""


class HalfNormal(TorchDistributionMixin, torch.distributions.HalfNormal):
    """``torch.distributions.HalfNormal`` with pyrolite's mixin."""


class Independent(TorchDistributionMixin, torch.distributions.Independent):
    """``torch.distributions.Independent`` with pyrolite's mixin.

    ``to_event`` on it folds into a single ``Independent`` over the innermost non-
    ``Independent`` base (``reinterpreted_batch_ndims`` add up) instead of nesting; a negative
    count gives event dims back to the batch, and reaching zero returns that base itself.
    """

    has_rsample = base_rsample_flag

    @staticmethod
    def infer_shapes(**arg_shapes: Shape) -> tuple[torch.Size, torch.Size]:
        """Not inferable from argument shapes alone (the base is a distribution)."""
        raise NotImplementedError("Independent.infer_shapes is not implemented")

    def to_event(self, reinterpreted_batch_ndims: int | None = None):
        """Move ``reinterpreted_batch_ndims`` more batch dims (default: all) into the event.

        E.g. with ``d = Normal(zeros(2, 3), 1).to_event(1)``: ``d.to_event(1)`` has event
        shape ``(2, 3)``, ``d.to_event(-1)`` is the ``Normal`` itself.
        """
        n = reinterpreted_batch_ndims
        if n is None:
            n = len(self.batch_shape)
        if n == 0:
            return self
        base = self
        while isinstance(base, torch.distributions.Independent):
            n += base.reinterpreted_batch_ndims
            base = base.base_dist
        if n < 0:
            raise ValueError(
                f"Cannot remove event dimensions from {type(self)}: to_event("
                f"{reinterpreted_batch_ndims}) asks for more than the "
                f"{n - reinterpreted_batch_ndims} reinterpreted dims of event_shape="
                f"{tuple(self.event_shape)}"
            )
        if n == 0:
            return base
        if n > len(base.batch_shape):
            raise ValueError(
                f"to_event({reinterpreted_batch_ndims}): reinterpreted_batch_ndims must be at "
                f"most len(batch_shape)={len(self.batch_shape)}, but the distribution "
                f"{type(self).__name__} has batch_shape={tuple(self.batch_shape)} and "
                f"event_shape={tuple(self.event_shape)}"
            )
        new = Independent(base, n, validate_args=self.__dict__.get("_validate_args"))
        keep_rsample_flag(self, new)
        return new


class InverseGamma(TorchDistributionMixin, torch.distributions.InverseGamma):
    """``torch.distributions.InverseGamma`` with pyrolite's mixin."""


class Kumaraswamy(TorchDistributionMixin, torch.distributions.Kumaraswamy):
    """``torch.distributions.Kumaraswamy`` with pyrolite's mixin."""


class LKJCholesky(TorchDistributionMixin, torch.distributions.LKJCholesky):
    """``torch.distributions.LKJCholesky`` with pyrolite's mixin."""


class Laplace(TorchDistributionMixin, torch.distributions.Laplace):
    """``torch.distributions.Laplace`` with pyrolite's mixin."""


class LogNormal(TorchDistributionMixin, torch.distributions.LogNormal):
    """``torch.distributions.LogNormal`` with pyrolite's mixin."""


class LogisticNormal(TorchDistributionMixin, torch.distributions.LogisticNormal):
    """``torch.distributions.LogisticNormal`` with pyrolite's mixin."""


class LowRankMultivariateNormal(
    TorchDistributionMixin, torch.distributions.LowRankMultivariateNormal
):
    """``torch.distributions.LowRankMultivariateNormal`` with pyrolite's mixin."""

    @staticmethod
    def infer_shapes(
        loc: Shape, cov_factor: Shape, cov_diag: Shape
    ) -> tuple[torch.Size, torch.Size]:
        """Event shape ``loc[-1:]``; batch shape broadcasts the args' batch parts."""
        batch = torch.broadcast_shapes(loc[:-1], cov_factor[:-2], cov_diag[:-1])
        return batch, torch.Size(loc[-1:])


class MixtureSameFamily(TorchDistributionMixin, torch.distributions.MixtureSameFamily):
    """``torch.distributions.MixtureSameFamily`` with pyrolite's mixin."""


class Multinomial(TorchDistributionMixin, torch.distributions.Multinomial):
    """``torch.distributions.Multinomial`` with pyrolite's mixin."""

    @staticmethod
    def infer_shapes(
        total_count: Shape | int | None = None,
        probs: Shape | None = None,
        logits: Shape | None = None,
    ) -> tuple[torch.Size, torch.Size]:
        """Event shape: the last dim of ``probs``/``logits``; ``total_count`` may batch."""
        batch, event = _vector_shapes(probs if logits is None else logits)
        if isinstance(total_count, (tuple, torch.Size)):
            batch = torch.broadcast_shapes(batch, total_count)
        return batch, event


class MultivariateNormal(TorchDistributionMixin, torch.distributions.MultivariateNormal):
    """``torch.distributions.MultivariateNormal`` with pyrolite's mixin."""

    @staticmethod
    def infer_shapes(
        loc: Shape,
        covariance_matrix: Shape | None = None,
        precision_matrix: Shape | None = None,
        scale_tril: Shape | None = None,
    ) -> tuple[torch.Size, torch.Size]:
        """Event shape ``loc[-1:]``; batch shape broadcasts ``loc[:-1]`` and the matrix's."""
        batch, event = _vector_shapes(loc)
        for matrix in (covariance_matrix, precision_matrix, scale_tril):
            if matrix is not None:
                batch = torch.broadcast_shapes(batch, matrix[:-2])
        return batch, event


class NegativeBinomial(TorchDistributionMixin, torch.distributions.NegativeBinomial):
    """``torch.distributions.NegativeBinomial`` with pyrolite's mixin."""


class Normal(TorchDistributionMixin, torch.distributions.Normal):
    """``torch.distributions.Normal`` with pyrolite's mixin."""


class OneHotCategorical(TorchDistributionMixin, torch.distributions.OneHotCategorical):
    """``torch.distributions.OneHotCategorical`` with pyrolite's mixin."""

    @staticmethod
    def infer_shapes(
        probs: Shape | None = None, logits: Shape | None = None
    ) -> tuple[torch.Size, torch.Size]:
        """``(shape[:-1], shape[-1:])`` of ``probs`` or ``logits``."""
        return _vector_shapes(probs if logits is None else logits)


class OneHotCategoricalStraightThrough(
    TorchDistributionMixin, torch.distributions.OneHotCategoricalStraightThrough
):
    """``torch.distributions.OneHotCategoricalStraightThrough`` with pyrolite's mixin."""


class Pareto(TorchDistributionMixin, torch.distributions.Pareto):
    """``torch.distributions.Pareto`` with pyrolite's mixin."""

    has_rsample = base_rsample_flag


class Poisson(TorchDistributionMixin, torch.distributions.Poisson):
    """``torch.distributions.Poisson`` with pyrolite's mixin."""


class RelaxedBernoulli(TorchDistributionMixin, torch.distributions.RelaxedBernoulli):
    """``torch.distributions.RelaxedBernoulli`` with pyrolite's mixin."""


class RelaxedOneHotCategorical(
    TorchDistributionMixin, torch.distributions.RelaxedOneHotCategorical
):
    """``torch.distributions.RelaxedOneHotCategorical`` with pyrolite's mixin."""


class StudentT(TorchDistributionMixin, torch.distributions.StudentT):
    """``torch.distributions.StudentT`` with pyrolite's mixin."""


class TransformedDistribution(TorchDistributionMixin, torch.distributions.TransformedDistribution):
    """``torch.distributions.TransformedDistribution`` with pyrolite's mixin."""

    has_rsample = base_rsample_flag


class Uniform(TorchDistributionMixin, torch.distributions.Uniform):
    """``torch.distributions.Uniform`` with pyrolite's mixin."""


class VonMises(TorchDistributionMixin, torch.distributions.VonMises):
    """``torch.distributions.VonMises`` with pyrolite's mixin."""


class Weibull(TorchDistributionMixin, torch.distributions.Weibull):
    """``torch.distributions.Weibull`` with pyrolite's mixin."""

    has_rsample = base_rsample_flag


class Wishart(TorchDistributionMixin, torch.distributions.Wishart):
    """``torch.distributions.Wishart`` with pyrolite's mixin."""
