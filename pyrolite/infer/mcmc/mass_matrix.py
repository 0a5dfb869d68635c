"""Welford estimates of each chain's posterior (co)variance, regularised as Stan does.

The estimate becomes the inverse mass matrix at the end of every slow warmup window:
``(n / (n + 5)) * var + 1e-3 * 5 / (n + 5)`` (times the identity for a dense matrix), which
shrinks a short window's noisy estimate towards a small multiple of the identity.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["WelfordState", "welford_init", "welford_update", "welford_inverse_mass_matrix"]


class WelfordState(NamedTuple):
    """Running mean ``(C, D)`` and sum of squared deviations, ``(C, D)`` for a diagonal
    estimate or ``(C, D, D)`` for a dense one, over ``n`` draws (the same for every chain)."""

    n: int
    mean: Tensor
    m2: Tensor


def welford_init(z: Tensor, dense: bool) -> WelfordState:
    """An empty estimator shaped like positions ``z (C, D)``."""
    mean = torch.zeros_like(z)
    m2 = z.new_zeros(z.shape + z.shape[-1:]) if dense else torch.zeros_like(z)
    return WelfordState(0, mean, m2)


def welford_update(state: WelfordState, z: Tensor) -> WelfordState:
    """Add one draw per chain, ``z (C, D)``."""
    n = state.n + 1
    delta = z - state.mean
    mean = state.mean + delta / n
    delta_after = z - mean
    if state.m2.dim() == 2:
        m2 = state.m2 + delta * delta_after
    else:
        m2 = state.m2 + delta.unsqueeze(-1) * delta_after.unsqueeze(-2)
    return WelfordState(n, mean, m2)


def welford_inverse_mass_matrix(state: WelfordState) -> Tensor:
    """Stan's regularised sample (co)variance, ``(C, D)`` or ``(C, D, D)``; needs ``n >= 2``."""
    n = state.n
    if n < 2:
        raise ValueError(f"a mass matrix estimate needs at least 2 draws per chain, got {n}")
    cov = state.m2 / (n - 1)
    shrink = n / (n + 5.0)
    ridge = 1e-3 * 5.0 / (n + 5.0)
    if cov.dim() == 2:
        return shrink * cov + ridge
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    # Symmetric up to rounding already; made exact for the Cholesky factor and M^{-1} p.
    cov = 0.5 * (cov + cov.transpose(-1, -2))
    return shrink * cov + ridge * eye
