import math

import pytest
import torch
from gaussian_targets import (
    COV,
    LOG_GAMMA2_MEAN,
    LOG_GAMMA2_VAR,
    MEAN,
    assert_moments,
    gaussian,
    log_gamma2,
    run,
    window_variance_bounds,
)
from tolerances import variance_ess, variance_ratio_bounds

from pyrolite.infer.mcmc.hmc import HMC, HMCState


# Trajectories here are kept well under pi in the whitened geometry: near pi, fixed-length HMC
# on a Gaussian flips a chain back and forth and its second moments barely move.
@pytest.mark.statistical
@pytest.mark.parametrize("full_mass", [False, True])
def test_correlated_gaussian(full_mass, seed):
    kernel = HMC(potential_fn=gaussian(MEAN, COV), trajectory_length=1.0, full_mass=full_mass)
    state, x, info = run(kernel, 4, 2, 200, 600, seed=seed)
    assert isinstance(state, HMCState) and not state.warmup and state.i == 800
    assert_moments(x, MEAN, COV)
    assert not info["diverging"].any()


@pytest.mark.statistical
def test_jit_compiled_hmc_samples_the_correlated_gaussian(seed):
    kernel = HMC(potential_fn=gaussian(MEAN, COV), trajectory_length=1.0, jit_compile=True)
    _, x, _ = run(kernel, 4, 2, 200, 600, seed=seed)
    assert kernel._compiled is not None and kernel.compile_seconds > 0
    assert_moments(x, MEAN, COV)


@pytest.mark.statistical
def test_diagonal_adaptation_recovers_very_different_scales(seed):
    scales = torch.logspace(-1, 1, 10, dtype=torch.float64)
    kernel = HMC(potential_fn=lambda z: 0.5 * ((z / scales) ** 2).sum(-1), trajectory_length=1.5)
    state, x, info = run(kernel, 4, 10, 300, 300, seed=seed)
    # 4 x 10 metric variances and 10 pooled sample variances. HMC's short trajectories leave
    # a small ESS for the squares (about 25 of the last window's 100 draws per chain).
    n_comparisons = 40 + 10
    ratio, low, high = window_variance_bounds(state, info["warmup_z"], scales, n_comparisons)
    assert ((ratio > low) & (ratio < high)).all(), (ratio, low, high)
    # The sample variances pool 4 chains x 300 draws; their ESS is that of the squares.
    standard = x / scales
    sample_var = standard.var(dim=(0, 1))
    for i in range(10):
        low, high = variance_ratio_bounds(float(variance_ess(standard[..., i])), n_comparisons)
        assert low < float(sample_var[i]) < high, (i, float(sample_var[i]), low, high)


def test_num_steps_from_trajectory_length_per_chain():
    kernel = HMC(potential_fn=gaussian(MEAN, COV), trajectory_length=1.0, adapt_step_size=False)
    state = kernel.init(torch.zeros(3, 2, dtype=torch.float64), None, 0, seed=0)
    state = state._replace(step_size=torch.tensor([0.3, 0.1, 2.0], dtype=torch.float64))
    state = kernel.sample(state)
    assert state.num_steps.tolist() == [math.ceil(1 / 0.3), 10, 1]


def test_fixed_num_steps():
    kernel = HMC(potential_fn=gaussian(MEAN, COV), num_steps=7, step_size=0.1)
    state = kernel.init(torch.zeros(2, 2, dtype=torch.float64), None, 0, seed=0)
    state = kernel.sample(state)
    assert state.num_steps.tolist() == [7, 7]
    assert (state.step_size == 0.1).all()


def test_huge_step_size_diverges_and_rejects():
    kernel = HMC(potential_fn=gaussian(MEAN, COV), step_size=1e4, num_steps=3)
    z0 = torch.randn(3, 2, dtype=torch.float64)
    state = kernel.init(z0, None, 0, seed=0)
    state = kernel.sample(state)
    assert state.diverging.all()
    assert torch.equal(state.z, z0)
    assert (state.accept_prob == 0).all()


def test_same_seed_same_chain():
    def draws(seed):
        kernel = HMC(potential_fn=gaussian(MEAN, COV), num_steps=3)
        _, x, _ = run(kernel, 2, 2, 30, 5, seed=seed)
        return x

    assert torch.equal(draws(5), draws(5))
    assert not torch.equal(draws(5), draws(6))


def test_constructor_and_protocol_errors():
    with pytest.raises(ValueError, match="exactly one of `model` or `potential_fn`; got both"):
        HMC(model=lambda: None, potential_fn=lambda z: z.sum(-1))
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        HMC(potential_fn=lambda z: z.sum(-1), num_steps=0)
    with pytest.raises(ValueError, match="step_size must be positive"):
        HMC(potential_fn=lambda z: z.sum(-1), step_size=0.0)
    with pytest.raises(ValueError, match="target_accept_prob must lie in"):
        HMC(potential_fn=lambda z: z.sum(-1), target_accept_prob=1.5)
    kernel = HMC(model=lambda: None)
    assert kernel.model is not None and kernel.max_plate_nesting is None
    with pytest.raises(ValueError, match="needs potential_and_grad"):
        kernel.init(torch.zeros(2, 1), None, 0)
    with pytest.raises(RuntimeError, match=r"call kernel.init"):
        HMC(potential_fn=lambda z: z.sum(-1)).sample(None)


@pytest.mark.statistical
def test_skewed_target_moments(seed):
    kernel = HMC(potential_fn=log_gamma2, trajectory_length=1.0)
    _, x, _ = run(kernel, 4, 3, 200, 600, seed=seed)
    assert_moments(x, LOG_GAMMA2_MEAN, LOG_GAMMA2_VAR * torch.eye(3))
