"""The tolerance helpers of tests/tolerances.py against exact quantiles and a simulation."""

import math

import pytest
import torch
from tolerances import (
    chi2_quantile,
    mean_tolerance,
    per_comparison_alpha,
    t_bound,
    variance_ess,
    variance_ratio_bounds,
    z_bound,
)

stats = pytest.importorskip("scipy.stats")


def test_sidak_level_and_normal_bound():
    assert per_comparison_alpha(1, 0.01) == pytest.approx(0.01)
    # Sidak: 1 - (1 - a)^m = alpha exactly, just above Bonferroni's alpha / m
    a = per_comparison_alpha(24, 0.01)
    assert 1 - (1 - a) ** 24 == pytest.approx(0.01, rel=1e-12)
    assert 0.01 / 24 < a < 0.01 / 24 * 1.01
    assert z_bound(1, 0.01) == pytest.approx(2.5758, abs=1e-4)
    assert z_bound(24, 0.01) == pytest.approx(stats.norm.ppf(1 - a / 2), rel=1e-10)
    assert z_bound(1, 0.01, two_sided=False) == pytest.approx(2.3263, abs=1e-4)
    with pytest.raises(ValueError, match="n_comparisons must be >= 1"):
        per_comparison_alpha(0)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        per_comparison_alpha(3, 1.5)


@pytest.mark.parametrize("dof", [15, 19, 39, 200])
def test_t_bound_matches_student_t(dof):
    expected = stats.t.ppf(1 - per_comparison_alpha(3) / 2, dof)
    assert t_bound(dof, 3) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("dof", [10, 25, 78, 500])
@pytest.mark.parametrize("p", [1e-6, 0.005, 0.5, 0.995, 1 - 1e-6])
def test_chi2_quantile_matches_scipy(dof, p):
    exact = stats.chi2.ppf(p, dof)
    if p < 1e-3 and dof < 78:
        # far in the lower tail at small dof Wilson-Hilferty errs low: wider, safe bounds
        assert exact * 0.5 < chi2_quantile(p, dof) <= exact
    else:
        assert chi2_quantile(p, dof) == pytest.approx(exact, rel=0.06 if dof < 25 else 0.02)


def test_variance_ratio_bounds_cover_a_simulated_sample_variance():
    # 20,000 sample variances of 50 independent N(0, 1) draws: the bounds for alpha 0.01 over
    # one comparison leave out about 1% of them, half on each side.
    gen = torch.Generator().manual_seed(0)
    ratios = torch.randn(20000, 50, generator=gen, dtype=torch.float64).var(-1)
    low, high = variance_ratio_bounds(49, 1, alpha=0.01)
    outside_low = float((ratios < low).double().mean())
    outside_high = float((ratios > high).double().mean())
    assert 0.003 < outside_low < 0.008 and 0.003 < outside_high < 0.008


def test_mean_tolerance_and_variance_ess():
    assert mean_tolerance(2.0, 100, 1, alpha=0.01) == pytest.approx(2.5758 * 0.2, abs=1e-4)
    # independent draws: the ESS of the squares is about the number of draws
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 1000, generator=gen, dtype=torch.float64)
    assert float(variance_ess(x[..., None])) == pytest.approx(4000, rel=0.15)
    # an AR(1) chain with coefficient 0.9: the squares' ESS is n (1 - 0.81) / (1 + 0.81)
    z = torch.zeros(4, 20000, dtype=torch.float64)
    noise = torch.randn(4, 20000, generator=gen, dtype=torch.float64) * math.sqrt(1 - 0.81)
    for t in range(1, 20000):
        z[:, t] = 0.9 * z[:, t - 1] + noise[:, t]
    expected = 4 * 20000 * 0.19 / 1.81
    assert float(variance_ess(z[..., None], mean=0.0)) == pytest.approx(expected, rel=0.2)
