import math

import pytest
import torch

from pyrolite.infer.mcmc.integrator import (
    kinetic_energy,
    leapfrog,
    mass_matrix_sqrt,
    potential_and_grad_from,
    sample_momentum,
    velocity,
)

PRECISION = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)


def gaussian_potential(z):
    return 0.5 * ((z @ PRECISION) * z).sum(-1)


def inverse_masses(num_chains):
    diag = torch.tensor([[0.5, 2.0]], dtype=torch.float64).expand(num_chains, 2)
    dense = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    return [diag.contiguous(), dense.expand(num_chains, 2, 2).contiguous()]


def test_potential_and_grad_from_gives_per_chain_gradients():
    z = torch.randn(5, 2, dtype=torch.float64)
    potential, grad = potential_and_grad_from(gaussian_potential)(z)
    assert torch.allclose(potential, gaussian_potential(z))
    assert torch.allclose(grad, z @ PRECISION)
    assert not potential.requires_grad and not grad.requires_grad


def test_potential_and_grad_from_rejects_unsummed_potential():
    with pytest.raises(ValueError, match=r"one energy per chain, shape \(3,\).*\(3, 2\)"):
        potential_and_grad_from(lambda z: z**2)(torch.zeros(3, 2))


@pytest.mark.parametrize("which", ["diag", "dense"])
def test_kinetic_energy_and_velocity(which):
    inv = inverse_masses(3)[0 if which == "diag" else 1]
    p = torch.randn(3, 2, dtype=torch.float64)
    full = inv if which == "dense" else torch.diag_embed(inv)
    expected_v = (full @ p.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(velocity(p, inv), expected_v)
    assert torch.allclose(kinetic_energy(p, inv), 0.5 * (p * expected_v).sum(-1))


@pytest.mark.parametrize("which", ["diag", "dense"])
def test_momentum_covariance_is_the_mass_matrix(which):
    n = 40000
    inv = inverse_masses(n)[0 if which == "diag" else 1]
    gen = torch.Generator().manual_seed(1)
    p = sample_momentum(mass_matrix_sqrt(inv), gen)
    full = inv[0] if which == "dense" else torch.diag(inv[0])
    mass = torch.linalg.inv(full)
    # The sample covariance entry (i, j) has standard error sqrt((M_ii M_jj + M_ij^2) / n);
    # allow 5 of them.
    se = ((mass.diag()[:, None] * mass.diag()[None, :] + mass**2) / n).sqrt()
    assert ((torch.cov(p.T) - mass).abs() < 5 * se).all()


@pytest.mark.parametrize("which", ["diag", "dense"])
def test_leapfrog_is_reversible(which):
    inv = inverse_masses(4)[0 if which == "diag" else 1]
    pag = potential_and_grad_from(gaussian_potential)
    z0 = torch.randn(4, 2, dtype=torch.float64)
    p0 = torch.randn(4, 2, dtype=torch.float64)
    _, g0 = pag(z0)
    step = torch.tensor([0.1, 0.2, 0.05, 0.3], dtype=torch.float64).unsqueeze(-1)
    z, p, g = z0, p0, g0
    for _ in range(25):
        z, p, _, g = leapfrog(z, p, g, step, inv, pag)
    for _ in range(25):
        z, p, _, g = leapfrog(z, p, g, -step, inv, pag)
    assert torch.allclose(z, z0, atol=1e-10)
    assert torch.allclose(p, p0, atol=1e-10)


def test_leapfrog_energy_error_is_second_order():
    inv = inverse_masses(1)[1]
    pag = potential_and_grad_from(gaussian_potential)
    z0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    p0 = torch.tensor([[0.3, 0.8]], dtype=torch.float64)
    energy0 = gaussian_potential(z0) + kinetic_energy(p0, inv)

    def max_energy_error(step, length=1.0):
        z, p = z0, p0
        _, g = pag(z)
        worst = 0.0
        for _ in range(round(length / step)):
            z, p, u, g = leapfrog(z, p, g, torch.tensor([[step]], dtype=torch.float64), inv, pag)
            worst = max(worst, float((u + kinetic_energy(p, inv) - energy0).abs()))
        return worst

    errors = [max_energy_error(h) for h in (0.1, 0.05, 0.025)]
    # Velocity Verlet's energy error is O(h^2): halving h divides it by about 4.
    for coarse, fine in zip(errors[:-1], errors[1:], strict=True):
        assert 3.5 < coarse / fine < 4.5
    assert math.isfinite(errors[0]) and errors[0] < 0.05
