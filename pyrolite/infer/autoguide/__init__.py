"""Autoguides: guides built automatically from a model's structure.

- :class:`AutoDelta`: a point per latent (MAP);
- :class:`AutoNormal`: an independent Normal per latent, on the unconstrained space;
- :class:`AutoDiagonalNormal`, :class:`AutoMultivariateNormal`,
  :class:`AutoLowRankMultivariateNormal`: one Gaussian over the vector of all latents;
- :class:`AutoNormalizingFlow`, :class:`AutoIAFNormal`: a standard Normal over that vector
  pushed through a normalizing flow (inverse autoregressive flows for ``AutoIAFNormal``);
- :class:`AutoGuideList`: several guides, each for its own part of the model;
- ``init_to_*``: how the guides pick their initial values
  (:mod:`pyrolite.infer.autoguide.initialization`).

Params are named ``"{prefix}.{...}"`` with the class name as default prefix; see each class.
"""

from pyrolite.infer.autoguide.auto_continuous import (
    AutoContinuous,
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
)
from pyrolite.infer.autoguide.auto_delta import AutoDelta
from pyrolite.infer.autoguide.auto_guide_list import AutoGuideList
from pyrolite.infer.autoguide.auto_normal import AutoNormal
from pyrolite.infer.autoguide.auto_normalizing_flow import AutoIAFNormal, AutoNormalizingFlow
from pyrolite.infer.autoguide.guide import AutoGuide
from pyrolite.infer.autoguide.initialization import (
    init_to_feasible,
    init_to_mean,
    init_to_median,
    init_to_sample,
    init_to_uniform,
    init_to_value,
)

__all__ = [
    "AutoContinuous",
    "AutoDelta",
    "AutoDiagonalNormal",
    "AutoGuide",
    "AutoGuideList",
    "AutoIAFNormal",
    "AutoLowRankMultivariateNormal",
    "AutoMultivariateNormal",
    "AutoNormal",
    "AutoNormalizingFlow",
    "init_to_feasible",
    "init_to_mean",
    "init_to_median",
    "init_to_sample",
    "init_to_uniform",
    "init_to_value",
]
