"""Convergence diagnostics for MCMC draws: autocorrelation, ESS, R-hat, intervals.

Every function takes draws laid out as ``(chains, draws, *shape)`` (a torch Tensor or a numpy
array) unless it says otherwise, and returns a Tensor. Sums over lags and chains run in
float64 whatever the input precision; results come back in the input's floating dtype
(float64 for integer input).

The definitions are those of Stan's reference manual and Geyer (1992): the same numbers as
``numpyro.diagnostics`` (default ``bias=True``) and, with ``bias=False``, ``pyro.ops.stats``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

Draws = torch.Tensor | np.ndarray


def _as_tensor(x: Draws) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x if x.is_floating_point() else x.to(torch.float64)


def _check_draws(x: torch.Tensor, fn: str, min_draws: int, min_chains: int = 1) -> None:
    if x.dim() < 2 or x.size(0) < min_chains or x.size(1) < min_draws:
        raise ValueError(
            f"{fn} expects draws shaped (chains, draws, *shape) with at least {min_chains} "
            f"chain(s) and {min_draws} draws per chain; got shape {tuple(x.shape)}. "
            "Pass one chain as x[None] (or MCMC.get_samples(group_by_chain=True))."
        )


def _next_fast_len(n: int) -> int:
    """The smallest m >= n with no prime factor above 5 (a size FFTs handle quickly)."""
    m = max(n, 1)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def autocovariance(x: Draws, dim: int = 0, bias: bool = True) -> torch.Tensor:
    """Autocovariance of ``x`` along ``dim`` at every lag 0..N-1, by FFT; same shape as ``x``.

    ``bias=True`` divides the lag-k sum by N (the estimator Geyer recommends, and NumPyro's
    default); ``bias=False`` divides by N - k (Pyro's). Lag 0 is the biased variance either way.
    """
    x = _as_tensor(x)
    n = x.size(dim)
    centred = x.movedim(dim, -1).to(torch.float64)
    centred = centred - centred.mean(-1, keepdim=True)
    # Zero-padding to at least 2N makes the circular correlation equal the linear one.
    size = 2 * _next_fast_len(n)
    spectrum = torch.fft.rfft(centred, n=size)
    acov = torch.fft.irfft(spectrum * spectrum.conj(), n=size)[..., :n]
    if bias:
        acov = acov / n
    else:
        acov = acov / torch.arange(n, 0, -1, dtype=acov.dtype, device=acov.device)
    return acov.to(x.dtype).movedim(-1, dim)


def autocorrelation(x: Draws, dim: int = 0, bias: bool = True) -> torch.Tensor:
    """Autocorrelation of ``x`` along ``dim`` (autocovariance over its lag-0 value).

    Same shape as ``x``. A constant series has autocorrelation 1 at every lag (as Pyro).
    """
    acov = autocovariance(x, dim, bias).movedim(dim, -1)
    variance = acov[..., :1]
    acorr = acov / variance.clamp(min=torch.finfo(acov.dtype).tiny)
    acorr = torch.where(variance == 0, torch.ones_like(acorr), acorr)
    return acorr.movedim(-1, dim)


def _variance_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Within-chain variance W and the pooled estimate var+ = (N-1)/N W + B/N of the
    posterior variance, for x (chains, draws, *shape). One chain: W is replaced by var+
    so that ESS reduces to the single-series formula."""
    n = x.size(1)
    within = x.var(dim=1).mean(0)
    pooled = within * (n - 1) / n
    if x.size(0) > 1:
        pooled = pooled + x.mean(1).var(0)
    else:
        within = pooled
    return within, pooled


def gelman_rubin(x: Draws) -> torch.Tensor:
    """Potential scale reduction R-hat = sqrt(var+ / W) over whole chains.

    ``x``: (chains >= 2, draws >= 2, *shape) -> (*shape).
    """
    x = _as_tensor(x)
    _check_draws(x, "gelman_rubin", min_draws=2, min_chains=2)
    within, pooled = _variance_stats(x.to(torch.float64))
    return (pooled / within).sqrt().to(x.dtype)


def split_gelman_rubin(x: Draws) -> torch.Tensor:
    """Split R-hat: ``gelman_rubin`` after cutting each chain into its first and last halves
    (the middle draw of an odd-length chain is dropped), so a trend within one chain shows.

    ``x``: (chains, draws >= 4, *shape) -> (*shape).
    """
    x = _as_tensor(x)
    _check_draws(x, "split_gelman_rubin", min_draws=4)
    half = x.size(1) // 2
    return gelman_rubin(torch.cat([x[:, :half], x[:, -half:]], dim=0))


def effective_sample_size(x: Draws, bias: bool = True) -> torch.Tensor:
    """Effective sample size over all chains (Stan's multi-chain estimator).

    ``x``: (chains, draws >= 2, *shape) -> (*shape). The lag-k autocorrelation is
    rho_k = 1 - (W - mean over chains of autocov_k) / var+; consecutive pairs
    rho_{2t} + rho_{2t+1} are truncated at the first negative pair and made monotone
    (Geyer's initial positive and initial monotone sequences); ESS = C N / tau with
    tau = -1 + 2 * sum of the pairs.
    """
    x = _as_tensor(x)
    _check_draws(x, "effective_sample_size", min_draws=2)
    x64 = x.to(torch.float64)
    chains, n = x.shape[:2]
    gamma = autocovariance(x64, dim=1, bias=bias).mean(0)
    within, pooled = _variance_stats(x64)
    rho = 1.0 - (within - gamma) / pooled
    rho[0] = 1.0
    pairs = rho[: n - n % 2].reshape((n // 2, 2) + rho.shape[1:]).sum(1)
    # Clamping at zero then taking the running minimum zeroes every pair after the first
    # negative one: the truncation and the monotone sequence in one pass.
    tail = torch.cummin(pairs[1:].clamp(min=0), dim=0).values
    tau = -1.0 + 2.0 * (pairs[0] + tail.sum(0))
    return (chains * n / tau).to(x.dtype)


def rank_normalize(x: Draws) -> torch.Tensor:
    """Rank-normalised draws: Phi^-1((r - 3/8) / (S + 1/4)) with r the rank of each draw among
    all S = chains * draws draws of its coordinate (ties get their average rank), as in
    Vehtari et al. (2021). ``x``: (chains, draws, *shape) -> same shape."""
    x = _as_tensor(x)
    _check_draws(x, "rank_normalize", min_draws=1)
    total = x.size(0) * x.size(1)
    flat = x.reshape((total,) + x.shape[2:]).movedim(0, -1).contiguous()
    ordered = flat.sort(-1).values
    below = torch.searchsorted(ordered, flat, side="left")
    upto = torch.searchsorted(ordered, flat, side="right")
    rank = (below + upto + 1).to(torch.float64) / 2  # mean of the 1-based ranks below+1..upto
    z = torch.special.ndtri((rank - 0.375) / (total + 0.25))
    return z.movedim(-1, 0).reshape(x.shape).to(x.dtype)


def bulk_effective_sample_size(x: Draws) -> torch.Tensor:
    """Bulk ESS: ``effective_sample_size`` of ``rank_normalize(x)``.

    ``x``: (chains, draws >= 2, *shape) -> (*shape). Unlike ArviZ's ``ess_bulk`` the chains
    are not split in halves first; this is the bulk ESS the project's benchmarks report.
    """
    return effective_sample_size(rank_normalize(x))


def quantile(x: Draws, probs: float | Sequence[float], dim: int = 0) -> torch.Tensor:
    """Quantiles of ``x`` along ``dim`` at ``probs`` with linear interpolation between order
    statistics (Pyro's ``pyro.ops.stats.quantile``). With a list of probs, ``dim`` of the
    result has one entry per prob; with a scalar prob, ``dim`` is removed."""
    x = _as_tensor(x)
    scalar = isinstance(probs, (int, float))
    q = torch.tensor([probs] if scalar else list(probs), dtype=x.dtype, device=x.device)
    if ((q < 0) | (q > 1)).any():
        raise ValueError(f"quantile: probs must lie in [0, 1]; got {probs}")
    # Sorting by hand rather than torch.quantile, which refuses inputs over 2^24 elements.
    ordered = x.movedim(dim, 0).sort(0).values
    position = q * (ordered.size(0) - 1)
    below = position.floor().long()
    above = (below + 1).clamp(max=ordered.size(0) - 1)
    frac = (position - below).reshape((-1,) + (1,) * (x.dim() - 1))
    out = (ordered[below] * (1 - frac) + ordered[above] * frac).movedim(0, dim)
    return out.squeeze(dim) if scalar else out


def hpdi(x: Draws, prob: float = 0.9, dim: int = 0) -> torch.Tensor:
    """Highest posterior density interval: the narrowest window of ``int(prob * N)`` + 1
    consecutive order statistics along ``dim``. Returns ``x``'s shape with ``dim`` of size 2
    (lower bound, upper bound), as ``pyro.ops.stats.hpdi``."""
    if not 0.0 < prob < 1.0:
        raise ValueError(f"hpdi: prob must lie in (0, 1); got {prob}")
    x = _as_tensor(x)
    ordered = x.movedim(dim, 0).sort(0).values
    n = ordered.size(0)
    width = int(prob * n)
    start = (ordered[width:] - ordered[: n - width]).argmin(0)
    bounds = torch.stack([ordered.gather(0, start[None]), ordered.gather(0, start[None] + width)])
    return bounds.squeeze(1).movedim(0, dim)


def interval_labels(prob: float) -> tuple[str, str]:
    """Column names of a ``prob`` interval, e.g. ("5.0%", "95.0%") for 0.9 (Pyro's labels)."""
    return f"{50 * (1 - prob):.1f}%", f"{50 * (1 + prob):.1f}%"


def diagnostics(
    samples_by_chain: Mapping[str, Draws], prob: float = 0.9
) -> dict[str, dict[str, torch.Tensor]]:
    """Summary statistics of each site's draws ``(chains, draws, *site_shape)``.

    Returns ``{site: {"mean", "std", "median", "5.0%", "95.0%", "n_eff", "r_hat"}}``, each a
    Tensor of ``site_shape``: mean, standard deviation (N - 1 denominator) and median of all
    draws pooled; the HPDI of mass ``prob`` (labelled by ``interval_labels``, as Pyro and
    NumPyro label it); ``n_eff`` the bulk ESS; ``r_hat`` the split R-hat. Statistics a run is
    too short for are NaN (ESS needs 2 draws per chain, split R-hat 4).
    """
    lower, upper = interval_labels(prob)
    result = {}
    for name, value in samples_by_chain.items():
        x = _as_tensor(value)
        if x.dim() < 2:
            raise ValueError(
                f"diagnostics: site '{name}' has shape {tuple(x.shape)}; expected "
                "(chains, draws, *site_shape). Use MCMC.get_samples(group_by_chain=True)."
            )
        flat = x.reshape((-1,) + x.shape[2:])
        nan = torch.full(x.shape[2:], math.nan, dtype=x.dtype, device=x.device)
        interval = hpdi(flat, prob)
        result[name] = {
            "mean": flat.mean(0),
            "std": flat.std(0),
            "median": quantile(flat, 0.5),
            lower: interval[0],
            upper: interval[1],
            "n_eff": bulk_effective_sample_size(x) if x.size(1) >= 2 else nan,
            "r_hat": split_gelman_rubin(x) if x.size(1) >= 4 else nan,
        }
    return result
