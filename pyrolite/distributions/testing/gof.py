"""Goodness-of-fit tests: do a distribution's ``sample`` and ``log_prob`` agree?

Each test returns a p-value: for samples that really follow the density it is uniform on
``[0, 1]``, for a mismatch it is close to 0. A test suite asserts ``gof > rate`` with ``rate``
below one over the number of such assertions, e.g.::

    samples = d.sample((20000,))
    probs = d.log_prob(samples).exp()
    assert auto_goodness_of_fit(samples, probs) > 1 / 50

Continuous samples are turned into (approximately) ``Exponential(1)`` variates by
multiplying the spacing between neighbouring samples (or the volume of the ball reaching a
sample's nearest neighbour) by the density there; those are mapped to ``Uniform(0, 1)``,
binned, and scored with a chi-squared test. Too few samples raise :class:`InvalidTest`.
"""

from __future__ import annotations

import math
import warnings

import torch

from pyrolite.distributions.testing.special import chi2sf

__all__ = [
    "InvalidTest",
    "auto_goodness_of_fit",
    "density_goodness_of_fit",
    "exp_goodness_of_fit",
    "get_nearest_neighbor_distances",
    "multinomial_goodness_of_fit",
    "print_histogram",
    "unif01_goodness_of_fit",
    "vector_density_goodness_of_fit",
    "volume_of_sphere",
]

HISTOGRAM_WIDTH = 60
_NN_CHUNK = 1024  # rows of the pairwise-distance matrix held at once


class InvalidTest(ValueError):
    """The test would be too imprecise on this data (usually: too few samples)."""


def print_histogram(probs: torch.Tensor, counts: torch.Tensor) -> None:
    """Print each bin's probability and count with a bar, the most probable bins first."""
    rows = sorted(zip(probs.tolist(), counts.tolist(), strict=True), reverse=True)
    top = max(int(c) for _, c in rows) or 1
    print(f"{'Prob':>8} {'Count':>8}")
    for p, c in rows:
        print(f"{p:>8.3f} {int(c):>8d} {'-' * round(HISTOGRAM_WIDTH * int(c) / top)}")


@torch.no_grad()
def multinomial_goodness_of_fit(
    probs: torch.Tensor,
    counts: torch.Tensor,
    *,
    total_count: int | None = None,
    plot: bool = False,
) -> float:
    """p-value of ``counts`` (shape ``(K,)``) as a multinomial draw with cell ``probs`` (``(K,)``).

    The statistic sums ``(count - n p)^2 / (n p (1 - p))`` over the cells with ``p > 0``; it
    is referred to a chi-squared law with one degree of freedom per such cell, less one
    unless ``total_count`` (the number of draws, when ``counts`` omits some cells) is given.
    A cell with ``n p (1 - p) <= 1`` raises :class:`InvalidTest`.
    """
    assert probs.dim() == 1 and probs.shape == counts.shape
    truncated = total_count is not None
    if total_count is None:
        total_count = int(counts.sum())
    else:
        assert total_count >= counts.sum()
    if plot:
        print_histogram(probs, counts)
    probs = probs.detach().to(torch.float64).cpu()
    counts = counts.detach().to(torch.float64).cpu()
    certain = (probs - 1).abs() < 1e-8
    if certain.any():
        return 1.0 if counts[certain][0] == total_count else 0.0
    assert (probs < 1).all(), f"bad probability: {probs.max():g}"
    impossible = probs <= 0
    if impossible.any():
        warnings.warn("Zero probability in goodness-of-fit test", stacklevel=2)
        if (counts[impossible] > 0).any():
            return 0.0  # a draw in a cell of probability 0 cannot come from these probs
    p, c = probs[~impossible], counts[~impossible]
    mean = total_count * p
    variance = mean * (1 - p)
    if not (variance > 1).all():
        raise InvalidTest("Goodness of fit is inaccurate; use more samples")
    chi_squared = float(((c - mean).square() / variance).sum())
    dof = len(p) if truncated else len(p) - 1
    return chi2sf(chi_squared, dof)


@torch.no_grad()
def unif01_goodness_of_fit(samples: torch.Tensor, *, plot: bool = False) -> float:
    """p-value of ``samples`` (shape ``(N,)``, values in ``[0, 1]``) as ``Uniform(0, 1)`` draws.

    Uses about ``N ** (1 / 3)`` equal bins; fewer than 7 raise :class:`InvalidTest`.
    """
    assert samples.min() >= 0 and samples.max() <= 1
    bins = int(round(len(samples) ** 0.333))
    if bins < 7:
        raise InvalidTest("imprecise test, use more samples")
    index = samples.mul(bins).long().clamp(0, bins - 1)
    counts = torch.bincount(index.reshape(-1), minlength=bins)
    probs = torch.full((bins,), 1.0 / bins, dtype=torch.float64)
    return multinomial_goodness_of_fit(probs, counts, plot=plot)


@torch.no_grad()
def exp_goodness_of_fit(samples: torch.Tensor, plot: bool = False) -> float:
    """p-value of ``samples`` (shape ``(N,)``) as ``Exponential(1)`` draws (via ``exp(-x)``)."""
    return unif01_goodness_of_fit(samples.neg().exp(), plot=plot)


@torch.no_grad()
def density_goodness_of_fit(
    samples: torch.Tensor, probs: torch.Tensor, plot: bool = False
) -> float:
    """p-value of real ``samples`` (shape ``(N,)``, N > 100) against densities ``probs`` there.

    After sorting, each gap between neighbours times ``N`` times the density (the harmonic
    mean of the two endpoints' densities) is close to an ``Exponential(1)`` draw.
    """
    assert samples.shape == probs.shape
    if len(samples) <= 100:
        raise InvalidTest("imprecision; use more samples")
    samples, order = samples.sort(0)
    inv_density = probs[order].reciprocal()
    mean_inv_density = 0.5 * (inv_density[1:] + inv_density[:-1])
    spacings = len(samples) * (samples[1:] - samples[:-1]) / mean_inv_density
    return exp_goodness_of_fit(spacings, plot=plot)


def volume_of_sphere(dim: int, radius: torch.Tensor | float) -> torch.Tensor | float:
    """Volume of a ``dim``-dimensional ball of ``radius`` (elementwise for a tensor)."""
    return radius**dim * math.pi ** (dim / 2) / math.gamma(dim / 2 + 1)


def get_nearest_neighbor_distances(samples: torch.Tensor) -> torch.Tensor:
    """Distance from each row of ``samples`` (shape ``(N, D)``) to its nearest other row."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        cKDTree = None
    if cKDTree is not None:
        points = samples.detach().cpu().numpy()
        distances, _ = cKDTree(points).query(points, k=2)
        return torch.from_numpy(distances[:, 1])
    # Without scipy: pairwise distances, a block of rows at a time to bound memory.
    blocks = [
        torch.cdist(samples[i : i + _NN_CHUNK], samples).kthvalue(2, dim=-1).values
        for i in range(0, len(samples), _NN_CHUNK)
    ]
    return torch.cat(blocks)


@torch.no_grad()
def vector_density_goodness_of_fit(
    samples: torch.Tensor,
    probs: torch.Tensor,
    *,
    dim: int | None = None,
    plot: bool = False,
) -> float:
    """p-value of vector ``samples`` (shape ``(N, D)``) against densities ``probs`` (``(N,)``).

    ``dim`` is the dimension of the manifold the samples lie on (default ``D``); ``N`` must
    exceed ``1000 * dim``. The ball around each sample reaching its nearest neighbour has
    ``N * density * volume`` close to an ``Exponential(1)`` draw.
    """
    assert samples.shape and len(samples)
    assert probs.shape == samples.shape[:1]
    if dim is None:
        dim = samples.shape[-1]
    assert dim
    if len(samples) <= 1000 * dim:
        raise InvalidTest("imprecision; use more samples")
    radii = get_nearest_neighbor_distances(samples).to(probs)
    return exp_goodness_of_fit(len(samples) * probs * volume_of_sphere(dim, radii), plot=plot)


@torch.no_grad()
def auto_goodness_of_fit(
    samples: torch.Tensor,
    probs: torch.Tensor,
    *,
    dim: int | None = None,
    plot: bool = False,
) -> float:
    """p-value of ``samples`` (shape ``(N, ...)``) against densities ``probs`` (``(N,)``).

    Samples are flattened to ``(N, D)``: ``D == 0`` gives 1.0, ``D == 1`` uses
    :func:`density_goodness_of_fit`, larger ``D`` :func:`vector_density_goodness_of_fit`
    (``dim`` defaults to ``D``).
    """
    assert samples.shape and samples.shape[0]
    assert probs.shape == samples.shape[:1]
    samples = samples.reshape(samples.shape[0], -1)
    ambient_dim = samples.shape[1]
    if ambient_dim == 0:
        return 1.0
    if ambient_dim == 1:
        return density_goodness_of_fit(samples.reshape(-1), probs, plot=plot)
    return vector_density_goodness_of_fit(
        samples, probs, dim=ambient_dim if dim is None else dim, plot=plot
    )
