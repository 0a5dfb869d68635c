"""Probability distributions: ``torch.distributions`` with Pyro's extensions, and a few more.

Use it as ``import pyrolite.distributions as dist``. Every class here carries
:class:`TorchDistributionMixin` (``d()``, ``expand_by``, ``to_event``, ``mask``,
``score_parts``); the torch-backed ones keep torch's names and signatures and are
instances of the torch classes. Also here: :class:`Delta`, :class:`Unit`,
:class:`MaskedDistribution`, :class:`ImproperUniform`, the ``constraints`` and
``transforms`` modules, ``biject_to``/``transform_to``, ``kl_divergence``/``register_kl``,
and the validation switch (on by default).
"""

from torch.distributions import Distribution, kl_divergence, register_kl

from pyrolite.distributions import constraints, transforms
from pyrolite.distributions import kl as _kl  # noqa: F401  (registers the KL divergences)
from pyrolite.distributions.constraint_registry import biject_to, transform_to
from pyrolite.distributions.delta import Delta
from pyrolite.distributions.improper_uniform import ImproperUniform
from pyrolite.distributions.masked import MaskedDistribution
from pyrolite.distributions.score_parts import ScoreParts
from pyrolite.distributions.torch import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Cauchy,
    Chi2,
    ContinuousBernoulli,
    Dirichlet,
    Exponential,
    FisherSnedecor,
    Gamma,
    GeneralizedPareto,
    Geometric,
    Gumbel,
    HalfCauchy,
    HalfNormal,
    Independent,
    InverseGamma,
    Kumaraswamy,
    Laplace,
    LKJCholesky,
    LogisticNormal,
    LogNormal,
    LowRankMultivariateNormal,
    MixtureSameFamily,
    Multinomial,
    MultivariateNormal,
    NegativeBinomial,
    Normal,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Pareto,
    Poisson,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    StudentT,
    TransformedDistribution,
    Uniform,
    VonMises,
    Weibull,
    Wishart,
)
from pyrolite.distributions.torch_distribution import (
    ExpandedDistribution,
    TorchDistribution,
    TorchDistributionMixin,
)
from pyrolite.distributions.transforms import ComposeTransformModule, TransformModule
from pyrolite.distributions.unit import Unit
from pyrolite.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ComposeTransformModule",
    "ContinuousBernoulli",
    "Delta",
    "Dirichlet",
    "Distribution",
    "ExpandedDistribution",
    "Exponential",
    "FisherSnedecor",
    "Gamma",
    "GeneralizedPareto",
    "Geometric",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "ImproperUniform",
    "Independent",
    "InverseGamma",
    "Kumaraswamy",
    "LKJCholesky",
    "Laplace",
    "LogNormal",
    "LogisticNormal",
    "LowRankMultivariateNormal",
    "MaskedDistribution",
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
    "ScoreParts",
    "StudentT",
    "TorchDistribution",
    "TorchDistributionMixin",
    "TransformModule",
    "TransformedDistribution",
    "Uniform",
    "Unit",
    "VonMises",
    "Weibull",
    "Wishart",
    "biject_to",
    "constraints",
    "enable_validation",
    "is_validation_enabled",
    "kl_divergence",
    "register_kl",
    "transform_to",
    "transforms",
    "validation_enabled",
]
