"""Gaussian targets shared by the kernel tests: a correlated 2-d Gaussian and its potential."""

import torch

MEAN = torch.tensor([1.0, -2.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 1.6], [1.6, 4.0]], dtype=torch.float64)  # correlation 0.8


def gaussian(mean: torch.Tensor, cov: torch.Tensor):
    """The potential ``z (C, D) -> (C,)`` of N(mean, cov), up to a constant."""
    precision = torch.linalg.inv(cov)

    def potential(z):
        d = z - mean
        return 0.5 * ((d @ precision) * d).sum(-1)

    return potential
