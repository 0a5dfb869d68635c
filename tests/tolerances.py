"""Tolerances for statistical tests, derived in one place.

A statistical test makes ``n_comparisons`` simultaneous checks of Monte Carlo estimates and
claims a family-wise false-alarm probability of at most ``alpha`` for a correct implementation.
Each check therefore gets the per-comparison level of Sidak's correction,
``1 - (1 - alpha) ** (1 / n_comparisons)`` (exact for independent checks, and never above
Bonferroni's ``alpha / n_comparisons``, which bounds the family-wise rate for dependent ones;
the two differ by less than ``alpha**2 / 2``).

The uncertainty of an estimate comes from its effective sample size (ESS): draws of an MCMC
chain are autocorrelated, so a mean of ``n`` draws has the standard error of a mean of ``ESS``
independent ones. The ESS of a variance estimate is the ESS of the squared centred draws, which
is often much smaller than that of the draws themselves (NUTS on a Gaussian is antithetic for
the mean but not for the square). Helpers below pool chains: every chain targets the same
distribution, so Stan's multi-chain ESS over all of them is the sound estimate.

Example::

    tol = mean_tolerance(sd, ess, n_comparisons=4)
    assert abs(mean - truth) < tol
"""

from __future__ import annotations

import math

import torch

from pyrolite.infer.mcmc.util import effective_sample_size

# Each test claims a family-wise level of at most 0.01; the default is 100 times smaller so
# that the 20-seed sweep of every marked test (about 50 tests, 1000 runs; see
# tests/run_seed_sweep.py) expects under 0.1 false alarms, and so that the approximations
# behind a bound (CLT, an estimated ESS) have room.
DEFAULT_ALPHA = 1e-4


def per_comparison_alpha(n_comparisons: int, alpha: float = DEFAULT_ALPHA) -> float:
    """Sidak's per-check level that keeps ``n_comparisons`` checks' family-wise level at
    ``alpha``."""
    if n_comparisons < 1:
        raise ValueError(f"n_comparisons must be >= 1, got {n_comparisons}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return -math.expm1(math.log1p(-alpha) / n_comparisons)


def normal_quantile(p: float) -> float:
    """The standard normal quantile Phi^-1(p)."""
    return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def z_bound(n_comparisons: int, alpha: float = DEFAULT_ALPHA, two_sided: bool = True) -> float:
    """Number of standard errors a normally distributed estimate may stray from its
    expectation in each of ``n_comparisons`` checks (e.g. 2.58 for one two-sided check at
    alpha 0.01, 4.07 for 24 at 0.01)."""
    a = per_comparison_alpha(n_comparisons, alpha)
    return normal_quantile(1 - a / 2 if two_sided else 1 - a)


def t_bound(dof: int, n_comparisons: int, alpha: float = DEFAULT_ALPHA) -> float:
    """Two-sided bound on a Student-t statistic with ``dof`` degrees of freedom: for a mean of
    ``dof + 1`` independent repeats whose standard error is itself estimated from them.

    Uses the Cornish-Fisher expansion of the t quantile in 1/dof about the normal one (three
    terms): it errs low by under 1% for dof >= 15 at per-check levels down to 1e-5 (2% at
    dof 8), so use at least 16 repeats."""
    if dof < 3:
        raise ValueError(f"dof must be >= 3 for the t approximation, got {dof}")
    z = z_bound(n_comparisons, alpha)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3


def mean_tolerance(
    sd: float | torch.Tensor,
    ess: float | torch.Tensor,
    n_comparisons: int,
    alpha: float = DEFAULT_ALPHA,
) -> float | torch.Tensor:
    """Largest allowed ``|estimate - truth|`` for a mean of draws with standard deviation
    ``sd`` and effective sample size ``ess`` (scalars or matching tensors): ``z * sd / sqrt(ess)``
    by the central limit theorem."""
    return z_bound(n_comparisons, alpha) * sd / ess**0.5


def chi2_quantile(p: float, dof: float) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile: ``(X / dof) ** (1/3)`` is
    nearly normal with mean ``1 - 2 / (9 dof)`` and variance ``2 / (9 dof)``. Within 2% for
    dof >= 25 and in the upper tail; far in the lower tail (p < 1e-3) at small dof it errs
    low, which only widens the bounds built from it."""
    v = 2 / (9 * dof)
    return dof * max(1 - v + normal_quantile(p) * math.sqrt(v), 0.0) ** 3


def variance_ratio_bounds(
    ess: float, n_comparisons: int, alpha: float = DEFAULT_ALPHA
) -> tuple[float, float]:
    """Two-sided bounds on ``estimated variance / true variance`` for a variance estimated
    from draws whose squared centred values have effective sample size ``ess``.

    Chi-square based: for ``ess`` independent normal draws, ``ess * ratio`` is chi-square with
    ``ess`` degrees of freedom (``ess - 1`` when the mean is estimated too; the one lost
    degree is negligible against the error of an ESS estimate, and ignoring it widens the
    bounds by under 1/ess). For autocorrelated draws we match the variance of the ratio,
    ``2 / ess``, which is what the ESS of the squares measures. Chi-square rather than a
    log-normal approximation because its skew (the upper tail is longer) matters at the small
    ESS of a warmup window; for large ``ess`` both agree."""
    a = per_comparison_alpha(n_comparisons, alpha)
    return chi2_quantile(a / 2, ess) / ess, chi2_quantile(1 - a / 2, ess) / ess


def sd_tolerance(
    sd: float | torch.Tensor,
    ess_of_squares: float | torch.Tensor,
    n_comparisons: int,
    alpha: float = DEFAULT_ALPHA,
) -> float | torch.Tensor:
    """Largest allowed ``|estimated sd - true sd|``: by the delta method an sd estimate has
    relative standard error ``sqrt(2 / ess) / 2`` for normal-like draws (``ess`` of the
    squared centred draws)."""
    return z_bound(n_comparisons, alpha) * sd / (2 * ess_of_squares) ** 0.5


def ess(draws: torch.Tensor) -> torch.Tensor:
    """Stan's multi-chain ESS of ``draws`` (C, n, *shape) -> (*shape), pooling the chains."""
    return effective_sample_size(draws)


def variance_ess(draws: torch.Tensor, mean: float | torch.Tensor | None = None) -> torch.Tensor:
    """ESS of a variance estimate: the ESS of ``(draws - mean)^2`` over all chains; ``mean``
    defaults to the pooled sample mean of ``draws`` (C, n, *shape) -> (*shape)."""
    centre = draws.mean(dim=(0, 1)) if mean is None else mean
    return effective_sample_size((draws - centre) ** 2)


def mcse(draws: torch.Tensor) -> torch.Tensor:
    """Monte Carlo standard error of the pooled mean of ``draws`` (C, n, *shape): sd / sqrt(ESS)."""
    flat = draws.reshape((-1,) + draws.shape[2:])
    return flat.std(0) / ess(draws).sqrt()
