"""Every autoguide recovers the exact posterior of a conjugate Bayesian linear regression.

Tolerances: the fit uses a one-sample ELBO gradient, so the final iterate sits at a random
distance from the optimum. With 500 steps and the learning rate decaying from 0.1 to 0.1/300,
seeds 0-7 left it within 0.027 of the exact means (posterior sds are 0.18 and 0.23), within
8% of the optimal sds for the mean-field guides and 14% for the low-rank one (its sd also
depends on the noisier cov_factor), and within 0.0041 of the exact covariance entries (0.03
to 0.05). The tolerances below are about 1.5 to 2 times those spreads.
"""

import pytest
import torch

import pyrolite as pyro
from pyrolite.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

MEAN_ATOL = 0.05
SD_RTOL = 0.2
COV_ATOL = 0.008
STEPS = 500


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
    assert torch.allclose(
        guide.median(regression.x, regression.y)["w"], regression.mean, atol=MEAN_ATOL
    )


@pytest.mark.statistical
@pytest.mark.parametrize("guide_class", [AutoNormal, AutoDiagonalNormal])
def test_mean_field_guides(guide_class, fit, regression, seed):
    guide = _fitted(guide_class, fit, regression)
    median = guide.median(regression.x, regression.y)["w"]
    assert torch.allclose(median, regression.mean, atol=MEAN_ATOL)
    # the best mean-field Gaussian to a Gaussian posterior has sd 1 / sqrt(precision_ii)
    expected = regression.precision.diag().rsqrt()
    assert torch.allclose(_sd_from_quantiles(guide, regression), expected, rtol=SD_RTOL)


@pytest.mark.statistical
@pytest.mark.parametrize(
    "make_guide",
    [AutoMultivariateNormal, lambda m: AutoLowRankMultivariateNormal(m, rank=2)],
    ids=["mvn", "lowrank"],
)
def test_full_covariance_guides(make_guide, fit, regression, seed):
    guide = _fitted(make_guide, fit, regression)
    median = guide.median(regression.x, regression.y)["w"]
    assert torch.allclose(median, regression.mean, atol=MEAN_ATOL)
    sd = _sd_from_quantiles(guide, regression)
    assert torch.allclose(sd, regression.cov.diag().sqrt(), rtol=SD_RTOL)
    if isinstance(guide, AutoMultivariateNormal):
        scale_tril = pyro.param("AutoMultivariateNormal.scale_tril").detach()
        cov = scale_tril @ scale_tril.T
        assert torch.allclose(cov, regression.cov, atol=COV_ATOL)
        assert cov[0, 1] < -0.02  # the strong negative correlation is captured
