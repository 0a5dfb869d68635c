"""Hamiltonian dynamics for a batch of chains: kinetic energy, momentum draws, leapfrog.

Every quantity carries a leading chain dimension C: positions and momenta are ``(C, D)``,
step sizes and energies ``(C,)``. The inverse mass matrix is either diagonal, ``(C, D)``, or
dense, ``(C, D, D)``; the dimension of the tensor says which.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "MAX_DELTA_ENERGY",
    "PotentialAndGrad",
    "kinetic_energy",
    "leapfrog",
    "mass_matrix_sqrt",
    "potential_and_grad_from",
    "sample_momentum",
    "velocity",
]

PotentialAndGrad = Callable[[Tensor], tuple[Tensor, Tensor]]

# An energy error above this marks a transition or leaf as divergent (Stan's max_deltaH).
MAX_DELTA_ENERGY = 1000.0


def potential_and_grad_from(potential_fn: Callable[[Tensor], Tensor]) -> PotentialAndGrad:
    """Wrap a batched potential ``U: (C, D) -> (C,)`` into ``z -> (U(z) (C,), dU/dz (C, D))``.

    Chains are independent, so one autograd pass over ``U(z).sum()`` gives every chain's
    gradient. Both outputs are detached.
    """

    def potential_and_grad(z: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            potential = potential_fn(z)
            if potential.shape != z.shape[:1]:
                raise ValueError(
                    f"potential_fn must map positions of shape (C, D) = {tuple(z.shape)} to "
                    f"one energy per chain, shape ({z.shape[0]},); it returned shape "
                    f"{tuple(potential.shape)}. Sum over the non-chain dimensions."
                )
            (grad,) = torch.autograd.grad(potential.sum(), z)
        return potential.detach(), grad

    return potential_and_grad


def velocity(p: Tensor, inverse_mass_matrix: Tensor) -> Tensor:
    """``M^{-1} p`` per chain: momenta ``(C, D)``, or ``(C, S, D)`` (S momenta per chain), to
    the same shape."""
    if inverse_mass_matrix.dim() == 2:
        return p * (inverse_mass_matrix if p.dim() == 2 else inverse_mass_matrix.unsqueeze(1))
    if p.dim() == 2:
        return torch.bmm(inverse_mass_matrix, p.unsqueeze(-1)).squeeze(-1)
    return torch.matmul(p, inverse_mass_matrix.transpose(-1, -2))


def kinetic_energy(p: Tensor, inverse_mass_matrix: Tensor) -> Tensor:
    """``p^T M^{-1} p / 2`` per chain: ``(C,)`` from momenta ``(C, D)``."""
    return 0.5 * (p * velocity(p, inverse_mass_matrix)).sum(-1)


def mass_matrix_sqrt(inverse_mass_matrix: Tensor) -> Tensor:
    """A square root ``L`` of the mass matrix ``M = L L^T`` per chain, used to draw momenta.

    Diagonal ``(C, D)`` gives ``M^{1/2}`` elementwise; dense ``(C, D, D)`` gives the lower
    Cholesky factor of ``M = (M^{-1})^{-1}``.
    """
    if inverse_mass_matrix.dim() == 2:
        return inverse_mass_matrix.rsqrt()
    mass = torch.cholesky_inverse(torch.linalg.cholesky(inverse_mass_matrix))
    return torch.linalg.cholesky(mass)


def sample_momentum(sqrt_mass: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``p ~ N(0, M)`` per chain, ``(C, D)``, from ``L = mass_matrix_sqrt(M^{-1})``."""
    shape = sqrt_mass.shape[:2]
    noise = torch.randn(shape, dtype=sqrt_mass.dtype, device=sqrt_mass.device, generator=generator)
    if sqrt_mass.dim() == 2:
        return noise * sqrt_mass
    return torch.bmm(sqrt_mass, noise.unsqueeze(-1)).squeeze(-1)


def leapfrog(
    z: Tensor,
    p: Tensor,
    grad: Tensor,
    step_size: Tensor,
    inverse_mass_matrix: Tensor,
    potential_and_grad: PotentialAndGrad,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One velocity-Verlet step for every chain.

    Args:
        z, p, grad: positions, momenta and ``dU/dz`` at ``z``, each ``(C, D)``.
        step_size: ``(C, 1)`` (or anything broadcasting against ``(C, D)``); a negative
            step integrates backwards in time.
        inverse_mass_matrix: ``(C, D)`` or ``(C, D, D)``.
        potential_and_grad: ``z (C, D) -> (U (C,), dU/dz (C, D))``.

    Returns:
        ``(z, p, U, grad)`` after the step, shapes ``(C, D), (C, D), (C,), (C, D)``.
    """
    half = 0.5 * step_size
    p = p - half * grad
    z = z + step_size * velocity(p, inverse_mass_matrix)
    potential, grad = potential_and_grad(z)
    p = p - half * grad
    return z, p, potential, grad
