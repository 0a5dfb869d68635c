"""A reasonable first step size per chain (Hoffman & Gelman 2014, Algorithm 4).

From the current position, draw a momentum and take one leapfrog step; the Metropolis
acceptance of that step says whether the step size is too small (acceptance above the
threshold: keep doubling) or too large (below: keep halving). Each chain doubles or halves
until its acceptance crosses the threshold, all chains at once with a mask; a fresh momentum
is drawn for every trial, as Stan does.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pyrolite.infer.mcmc.integrator import (
    PotentialAndGrad,
    kinetic_energy,
    leapfrog,
    sample_momentum,
)

__all__ = ["find_reasonable_step_size"]

# Hoffman & Gelman's threshold; Stan and Pyro use 0.8. Either only sets a starting point for
# dual averaging.
ACCEPT_THRESHOLD = 0.5
MAX_TRIALS = 100


def find_reasonable_step_size(
    z: Tensor,
    potential: Tensor,
    grad: Tensor,
    step_size: Tensor,
    inverse_mass_matrix: Tensor,
    sqrt_mass: Tensor,
    potential_and_grad: PotentialAndGrad,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Search each chain's step size ``(C,)`` from ``step_size (C,)`` at ``z (C, D)``.

    ``potential (C,)`` and ``grad (C, D)`` are the values at ``z``; ``sqrt_mass`` comes from
    :func:`~pyrolite.infer.mcmc.integrator.mass_matrix_sqrt`. A non-finite energy after the
    step counts as zero acceptance, so such chains halve.
    """
    log_threshold = math.log(ACCEPT_THRESHOLD)

    def log_accept(eps: Tensor) -> Tensor:
        p = sample_momentum(sqrt_mass, generator)
        energy = potential + kinetic_energy(p, inverse_mass_matrix)
        _, p_new, potential_new, _ = leapfrog(
            z, p, grad, eps.unsqueeze(-1), inverse_mass_matrix, potential_and_grad
        )
        delta = energy - (potential_new + kinetic_energy(p_new, inverse_mass_matrix))
        return torch.nan_to_num(delta, nan=-math.inf)

    step_size = step_size.clone()
    growing = log_accept(step_size) > log_threshold
    scale = torch.where(growing, 2.0, 0.5).to(step_size.dtype)
    searching = torch.ones_like(growing)
    for _ in range(MAX_TRIALS):
        step_size = torch.where(searching, step_size * scale, step_size)
        above = log_accept(step_size) > log_threshold
        searching = searching & (above == growing)
        if not bool(searching.any()):
            break
    return step_size
