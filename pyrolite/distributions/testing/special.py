"""The chi-squared survival function behind the goodness-of-fit tests."""

from __future__ import annotations

import torch

__all__ = ["chi2sf"]


def chi2sf(x: float, s: float) -> float:
    """``P(X > x)`` for ``X ~ chi^2`` with ``s`` degrees of freedom, as a float.

    It is the regularised upper incomplete gamma function ``Q(s / 2, x / 2)``, evaluated in
    float64 whatever the default dtype.
    """
    if x <= 0:
        return 1.0
    half = torch.tensor([0.5 * s, 0.5 * x], dtype=torch.float64)
    return float(torch.special.gammaincc(half[0], half[1]))
