"""Shared by the kernel tests: Gaussian and skewed targets, a driver that samples them, and
their moment checks by Monte Carlo standard error (tests/tolerances.py)."""

import collections

import torch
from tolerances import DEFAULT_ALPHA, ess, mean_tolerance, variance_ess, variance_ratio_bounds

from pyrolite.infer.mcmc.warmup_schedule import warmup_schedule

MEAN = torch.tensor([1.0, -2.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 1.6], [1.6, 4.0]], dtype=torch.float64)  # correlation 0.8


def gaussian(mean: torch.Tensor, cov: torch.Tensor):
    """The potential ``z (C, D) -> (C,)`` of N(mean, cov), up to a constant."""
    precision = torch.linalg.inv(cov)

    def potential(z):
        d = z - mean
        return 0.5 * ((d @ precision) * d).sum(-1)

    return potential


# z = log x with x ~ Gamma(2, 1), per coordinate: a skewed target; E[z] = digamma(2) and
# Var[z] = trigamma(2), the coordinates independent.
def log_gamma2(z):
    return (z.exp() - 2 * z).sum(-1)


LOG_GAMMA2_MEAN = float(torch.special.digamma(torch.tensor(2.0)))
LOG_GAMMA2_VAR = float(torch.special.polygamma(1, torch.tensor(2.0)))


def run(kernel, num_chains, dim, warmup, samples, seed=0):
    """Run ``kernel`` (HMC or NUTS) from zeros; returns the last state, the draws
    ``(C, samples, D)`` and each draw's ``accept_prob``, ``num_steps``, ``tree_depth`` and
    ``diverging``, each ``(C, samples)``, and ``warmup_z`` (C, warmup, D), the warmup draws."""
    state = kernel.init(torch.zeros(num_chains, dim, dtype=torch.float64), None, warmup, seed)
    draws, warmup_draws, infos = [], [], collections.defaultdict(list)
    for i in range(warmup + samples):
        state = kernel.sample(state)
        if i >= warmup:
            draws.append(state.z)
            for name in ("accept_prob", "num_steps", "tree_depth", "diverging"):
                infos[name].append(getattr(state, name))
        else:
            warmup_draws.append(state.z)
    infos = {k: torch.stack(v, 1) for k, v in infos.items()}
    if warmup_draws:
        infos["warmup_z"] = torch.stack(warmup_draws, 1)
    return state, torch.stack(draws, 1), infos


def window_variance_bounds(kernel_state, warmup_z, scale, n_comparisons, alpha=DEFAULT_ALPHA):
    """Bounds on ``inverse mass matrix diagonal / scale^2`` after warmup: the metric is the
    regularised variance ``n / (n + 5) var + 1e-3 * 5 / (n + 5)`` of the last slow window's
    ``n`` draws per chain, so its error comes from the ESS of the squared standardised draws
    there, pooled over the exchangeable (chain, coordinate) series.

    ``warmup_z`` (C, warmup, D) and ``scale`` (D,) or (C, D), each coordinate's true sd.
    Returns ``(ratio, low, high)``, ``ratio`` the diagonal over its expectation (C, D)."""
    chains, num_warmup, dim = warmup_z.shape
    start, end = warmup_schedule(num_warmup).slow_windows[-1]
    n = end - start
    standard = warmup_z[:, start:end] / scale.reshape(-1, 1, dim)
    series = standard.permute(0, 2, 1).reshape(chains * dim, n, 1)
    per_series_ess = float(variance_ess(series, mean=0.0)) / (chains * dim)
    low, high = variance_ratio_bounds(per_series_ess, n_comparisons, alpha)
    inv = kernel_state.inverse_mass_matrix
    diagonal = torch.diagonal(inv, dim1=-2, dim2=-1) if inv.dim() == 3 else inv
    expected = (n * scale**2 + 1e-3 * 5) / (n + 5)
    return diagonal / expected, low, high


def assert_moments(x, mean, cov, alpha=DEFAULT_ALPHA):
    """Means and second moments about the true mean of draws ``x (C, n, D)``: each of the
    ``D + D (D + 1) / 2`` estimates lies within the family-wise bound of
    ``tolerances.mean_tolerance``, its standard error from its ESS pooled over chains."""
    d = x - mean
    dim = x.shape[-1]
    n_comparisons = dim + dim * (dim + 1) // 2
    for i in range(dim):
        tol = mean_tolerance(float(d[..., i].std()), float(ess(d[..., i])), n_comparisons, alpha)
        assert abs(float(d[..., i].mean())) < tol, f"mean {i}"
        for j in range(i + 1):
            product = d[..., i] * d[..., j]
            err = abs(float(product.mean()) - float(cov[i, j]))
            tol = mean_tolerance(float(product.std()), float(ess(product)), n_comparisons, alpha)
            assert err < tol, (i, j, float(product.mean()), tol)
