"""Distributions that refuse reparameterisation, for exercising score-function estimators.

Each is the pyrolite class of the same family with ``has_rsample = False`` on the class:
drawing through ``d()`` or a ``sample`` statement uses ``sample`` (no pathwise gradient),
and ``score_parts`` puts the log density into the score-function term. ``rsample`` itself
still works, as in Pyro.
"""

from __future__ import annotations

from pyrolite.distributions.torch import Beta, Dirichlet, Gamma, Normal

__all__ = [
    "NonreparameterizedBeta",
    "NonreparameterizedDirichlet",
    "NonreparameterizedGamma",
    "NonreparameterizedNormal",
]


class NonreparameterizedBeta(Beta):
    """``Beta`` that inference treats as not reparameterisable."""

    has_rsample = False


class NonreparameterizedDirichlet(Dirichlet):
    """``Dirichlet`` that inference treats as not reparameterisable."""

    has_rsample = False


class NonreparameterizedGamma(Gamma):
    """``Gamma`` that inference treats as not reparameterisable."""

    has_rsample = False


class NonreparameterizedNormal(Normal):
    """``Normal`` that inference treats as not reparameterisable."""

    has_rsample = False
