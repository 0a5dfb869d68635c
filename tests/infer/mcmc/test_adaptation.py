import math

import numpy as np
import pytest
import torch
from tolerances import ess, mean_tolerance, variance_ess, variance_ratio_bounds

from pyrolite.infer.mcmc.dual_averaging import dual_averaging_init, dual_averaging_update
from pyrolite.infer.mcmc.integrator import mass_matrix_sqrt, potential_and_grad_from
from pyrolite.infer.mcmc.mass_matrix import (
    welford_init,
    welford_inverse_mass_matrix,
    welford_update,
)
from pyrolite.infer.mcmc.nuts import NUTS
from pyrolite.infer.mcmc.step_size_search import find_reasonable_step_size
from pyrolite.infer.mcmc.warmup_schedule import warmup_schedule


def test_schedule_reproduces_stan_windows_for_1000():
    schedule = warmup_schedule(1000)
    assert schedule.init_buffer == 75 and schedule.term_buffer == 50
    assert schedule.slow_windows == ((75, 100), (100, 150), (150, 250), (250, 450), (450, 950))
    sizes = [end - start for start, end in schedule.slow_windows]
    assert sizes == [25, 50, 100, 200, 500]


@pytest.mark.parametrize(
    "num_warmup, windows",
    [
        (100, ((15, 90),)),  # 15% / 75% / 10% when the default phases do not fit
        (149, ((22, 135),)),
        (150, ((75, 100),)),
        (200, ((75, 100), (100, 150))),
        (500, ((75, 100), (100, 150), (150, 250), (250, 450))),
    ],
)
def test_schedule_short_warmups(num_warmup, windows):
    assert warmup_schedule(num_warmup).slow_windows == windows


def test_schedule_without_mass_adaptation_under_20():
    assert warmup_schedule(19).slow_windows == ()
    assert warmup_schedule(0).slow_windows == ()
    with pytest.raises(ValueError, match="num_warmup must be >= 0"):
        warmup_schedule(-1)


def test_dual_averaging_finds_the_step_size_of_the_target_acceptance():
    # A deterministic acceptance curve, different per chain: accept(eps) = exp(-eps / s).
    # The fixed point of dual averaging is eps* = -s log(target).
    scale = torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)
    state = dual_averaging_init(scale.clone())
    for _ in range(3000):
        accept = (-state.log_step_size.exp() / scale).exp()
        state = dual_averaging_update(state, accept, 0.8)
    expected = -scale * math.log(0.8)
    assert torch.allclose(state.log_step_size_avg.exp(), expected, rtol=0.02)


def test_dual_averaging_treats_nan_acceptance_as_zero():
    state = dual_averaging_init(torch.ones(2))
    state = dual_averaging_update(state, torch.tensor([float("nan"), 0.0]), 0.8)
    assert state.log_step_size[0] == state.log_step_size[1]
    assert state.log_step_size[0] < math.log(10.0)


@pytest.mark.parametrize("dense", [False, True])
def test_welford_matches_regularised_sample_covariance(dense):
    gen = torch.Generator().manual_seed(0)
    draws = torch.randn(30, 3, 4, dtype=torch.float64, generator=gen) * torch.tensor(
        [1.0, 2.0, 0.5, 3.0], dtype=torch.float64
    )
    state = welford_init(draws[0], dense)
    for z in draws:
        state = welford_update(state, z)
    got = welford_inverse_mass_matrix(state)
    n = 30
    for c in range(3):
        cov = np.cov(draws[:, c].numpy(), rowvar=False)
        expected = n / (n + 5) * cov + 1e-3 * 5 / (n + 5) * np.eye(4)
        if not dense:
            expected = np.diag(expected)
        np.testing.assert_allclose(got[c].numpy(), expected, rtol=1e-10)


def test_welford_needs_two_draws():
    state = welford_update(welford_init(torch.zeros(2, 3), False), torch.ones(2, 3))
    with pytest.raises(ValueError, match="at least 2 draws"):
        welford_inverse_mass_matrix(state)


def test_step_size_search_scales_with_each_chains_posterior_width():
    # Chain c targets N(0, s_c^2 I) with s = (0.01, 1, 100): one leapfrog step has acceptance
    # about 0.5 at a step size proportional to s_c, so the searched steps differ by the same
    # factors (up to the factor-2 granularity of the search and momentum noise).
    scale = torch.tensor([[0.01], [1.0], [100.0]], dtype=torch.float64)
    pag = potential_and_grad_from(lambda z: 0.5 * ((z / scale) ** 2).sum(-1))
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, 5, dtype=torch.float64, generator=gen) * scale
    potential, grad = pag(z)
    inv = torch.ones_like(z)
    step = find_reasonable_step_size(
        z, potential, grad, torch.ones(3, dtype=torch.float64), inv, mass_matrix_sqrt(inv), pag, gen
    )
    ratio = step / scale.squeeze(-1)
    assert (ratio > 0.1).all() and (ratio < 10).all()


def test_step_size_search_halves_away_from_nan():
    # Beyond |z| > 1 the potential is NaN; a big step must be halved until it stays inside.
    def potential(z):
        return torch.where(z.abs() < 1, 0.5 * z**2, torch.nan).sum(-1)

    pag = potential_and_grad_from(potential)
    z = torch.zeros(2, 1, dtype=torch.float64)
    u, g = pag(z)
    inv = torch.ones_like(z)
    step = find_reasonable_step_size(
        z, u, g, torch.full((2,), 64.0, dtype=torch.float64), inv, mass_matrix_sqrt(inv), pag
    )
    assert (step <= 4.0).all() and (step > 0).all()


@pytest.mark.statistical
def test_warmup_drives_acceptance_to_target_and_recovers_variances(seed):
    # 8-d Gaussian with standard deviations from 0.3 to 3, 4 chains, 400 warmup iterations.
    scales = torch.logspace(-0.5, 0.5, 8, dtype=torch.float64)
    kernel = NUTS(potential_fn=lambda z: 0.5 * ((z / scales) ** 2).sum(-1), target_accept_prob=0.7)
    num_warmup = 400
    start, end = warmup_schedule(num_warmup).slow_windows[-1]
    state = kernel.init(torch.zeros(4, 8, dtype=torch.float64), None, num_warmup, seed=seed)
    accept, window = [], []
    for i in range(num_warmup):
        state = kernel.sample(state)
        accept.append(state.accept_prob)
        if start <= i < end:
            window.append(state.z / scales)
    assert not state.warmup
    # 33 checks below: 1 acceptance mean, 8 x 4 variances.
    n_comparisons = 1 + 8 * 4
    # Over the last 150 warmup iterations (600 acceptance statistics) the mean is what dual
    # averaging controls; 0.05 bounds its bias, and the Monte Carlo error of the mean (from
    # the ESS of the acceptance statistics, pooled over chains) is added to it.
    last = torch.stack(accept[-150:], 1)
    noise = mean_tolerance(float(last.std()), float(ess(last)), n_comparisons)
    assert abs(float(last.mean()) - 0.7) < 0.05 + noise
    # The metric is the regularised variance of the last slow window's n draws per chain,
    # n / (n + 5) var + 1e-3 * 5 / (n + 5). Its relative error comes from the ESS of the
    # squared whitened draws there, pooled over the 32 exchangeable (chain, coordinate)
    # series (each is N(0, 1) after whitening by the true scales): about 80 of 200 draws.
    n = end - start
    draws = torch.stack(window, 1)  # (chains, n, 8)
    series = draws.permute(0, 2, 1).reshape(32, n)
    per_series_ess = float(variance_ess(series[..., None], mean=0.0)) / 32
    low, high = variance_ratio_bounds(per_series_ess, n_comparisons)
    expected = (n * scales**2 + 1e-3 * 5) / (n + 5)
    ratio = state.inverse_mass_matrix / expected
    assert ((ratio > low) & (ratio < high)).all(), (ratio, low, high, per_series_ess)
