"""Every autoguide recovers the exact posterior of a conjugate Bayesian linear regression.

Tolerances. The fit uses a one-sample ELBO gradient with a learning rate decaying from 0.1
to 0.1/300 over 500 steps, so the final iterate is frozen at a random distance from the
optimum (averaging the last iterates does not shrink it: they barely move). That distance's
spread was measured over 60 seeds (1000-1059) for each guide and each coordinate: the sd of
the median's error, of the relative error of the sd and of each covariance entry's error
(``SPREAD``), and the largest mean error, a bias the finite run leaves (``BIAS``). Each check
allows ``BIAS + MARGIN * z * SPREAD`` with ``z`` from :func:`tolerances.z_bound` over the
test's comparisons; ``MARGIN`` covers the uncertainty of a sd estimated from 60 draws (about
9%). AutoDelta's fit is deterministic up to rounding: its spread is 1e-5.
"""

import pytest
import torch
from tolerances import z_bound

import pyrolite as pyro
from pyrolite.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

STEPS = 500
MARGIN = 1.25
MEDIAN_BIAS = 0.003
MEAN_FIELD = {"median": [0.0106, 0.0075], "sd": [0.0485, 0.0440], "sd_bias": 0.0076}
SPREAD = {
    AutoDelta: {"median": [1.3e-5, 0.9e-5]},
    AutoNormal: MEAN_FIELD,
    AutoDiagonalNormal: MEAN_FIELD,
    AutoMultivariateNormal: {
        "median": [0.0165, 0.0101],
        "sd": [0.0433, 0.0476],
        "sd_bias": 0.0055,
        "cov": [0.0047, 0.0029, 0.0029],  # entries (0, 0), (0, 1), (1, 1)
        "cov_bias": 0.0004,
    },
    AutoLowRankMultivariateNormal: {
        "median": [0.0143, 0.0122],
        "sd": [0.0492, 0.0601],
        "sd_bias": 0.059,
    },
}


def _tolerance(spread, bias, n_comparisons):
    return bias + MARGIN * z_bound(n_comparisons) * torch.tensor(spread)


def _fitted(make_guide, fit, reg):
    guide = make_guide(reg.model)
    fit(reg.model, guide, reg.x, reg.y, steps=STEPS, lr=0.1)
    return guide


def _sd_from_quantiles(guide, reg):
    # one sd either side of the median of a Normal: the 15.87% and 84.13% quantiles
    q = guide.quantiles([0.158655, 0.841345], reg.x, reg.y)["w"]
    return (q[1] - q[0]) / 2


@pytest.mark.statistical
def test_auto_delta_finds_the_mode(fit, regression, seed):
    guide = _fitted(AutoDelta, fit, regression)
    # a Gaussian posterior's mode is its mean
    error = guide.median(regression.x, regression.y)["w"] - regression.mean
    # its mean error over the 60 seeds was 1e-6: 1e-4 leaves room for rounding on other builds
    assert (error.abs() <= _tolerance(SPREAD[AutoDelta]["median"], 1e-4, 2)).all()


@pytest.mark.statistical
@pytest.mark.parametrize("guide_class", [AutoNormal, AutoDiagonalNormal])
def test_mean_field_guides(guide_class, fit, regression, seed):
    guide = _fitted(guide_class, fit, regression)
    spread = SPREAD[guide_class]
    median = guide.median(regression.x, regression.y)["w"]
    assert ((median - regression.mean).abs() <= _tolerance(spread["median"], MEDIAN_BIAS, 4)).all()
    # the best mean-field Gaussian to a Gaussian posterior has sd 1 / sqrt(precision_ii)
    expected = regression.precision.diag().rsqrt()
    relative = _sd_from_quantiles(guide, regression) / expected - 1
    assert (relative.abs() <= _tolerance(spread["sd"], spread["sd_bias"], 4)).all()


@pytest.mark.statistical
@pytest.mark.parametrize(
    "make_guide",
    [AutoMultivariateNormal, lambda m: AutoLowRankMultivariateNormal(m, rank=2)],
    ids=["mvn", "lowrank"],
)
def test_full_covariance_guides(make_guide, fit, regression, seed):
    guide = _fitted(make_guide, fit, regression)
    spread = SPREAD[type(guide)]
    full = isinstance(guide, AutoMultivariateNormal)
    n_comparisons = 7 if full else 4
    median = guide.median(regression.x, regression.y)["w"]
    median_tol = _tolerance(spread["median"], MEDIAN_BIAS, n_comparisons)
    assert ((median - regression.mean).abs() <= median_tol).all()
    relative = _sd_from_quantiles(guide, regression) / regression.cov.diag().sqrt() - 1
    assert (relative.abs() <= _tolerance(spread["sd"], spread["sd_bias"], n_comparisons)).all()
    if full:
        scale_tril = pyro.param("AutoMultivariateNormal.scale_tril").detach()
        error = (scale_tril @ scale_tril.T - regression.cov).flatten()[[0, 1, 3]]
        cov_tol = _tolerance(spread["cov"], spread["cov_bias"], n_comparisons)
        # cov_tol[1] is half of |cov[0, 1]|: the strong negative correlation is captured
        assert (error.abs() <= cov_tol).all(), (error, cov_tol)
