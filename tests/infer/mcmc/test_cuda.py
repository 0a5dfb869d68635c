"""MCMC on a CUDA device: everything stays there, results agree with CPU, few host syncs."""

import math
import warnings

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer.mcmc import MCMC, NUTS, initialize_model
from pyrolite.infer.mcmc.util import effective_sample_size

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]


def eight_schools(y, sigma):
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("schools", len(y)):
        theta_trans = pyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(mu + tau * theta_trans, sigma), obs=y)


def data(device):
    return torch.tensor(Y, device=device), torch.tensor(SIGMA, device=device)


def run(device, seed):
    pyro.set_rng_seed(seed)
    mcmc = MCMC(
        NUTS(eight_schools), num_samples=300, warmup_steps=300, num_chains=8, disable_progbar=True
    )
    mcmc.run(*data(device))
    return mcmc


def test_samples_and_state_stay_on_the_gpu():
    mcmc = run("cuda", 0)
    assert mcmc.potential.init_params.is_cuda
    for value in mcmc.get_samples(group_by_chain=True).values():
        assert value.is_cuda and value.shape[:2] == (8, 300)
    assert mcmc._record.diverging.is_cuda


def test_device_argument_moves_cpu_data_to_the_gpu():
    pyro.set_rng_seed(0)
    mcmc = MCMC(
        NUTS(eight_schools),
        num_samples=20,
        warmup_steps=20,
        num_chains=2,
        device="cuda",
        disable_progbar=True,
    )
    mcmc.run(*data("cpu"))
    assert mcmc.get_samples()["mu"].is_cuda


def test_gpu_agrees_with_cpu_statistically():
    gpu = run("cuda", 1).get_samples(group_by_chain=True)
    cpu = run("cpu", 2).get_samples(group_by_chain=True)
    for name in ("mu", "tau"):
        a, b = gpu[name].cpu().double(), cpu[name].double()
        # two independent runs: the difference of means has variance mcse_a^2 + mcse_b^2
        mcse2 = a.var() / effective_sample_size(a) + b.var() / effective_sample_size(b)
        assert abs(a.mean() - b.mean()) < 5 * math.sqrt(mcse2), name


def count_syncs(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def test_potential_and_grad_does_not_sync():
    info = initialize_model(eight_schools, data("cuda"), num_chains=16)
    z = info.init_params
    info.potential_and_grad(z)  # warm caches
    assert count_syncs(lambda: [info.potential_and_grad(z) for _ in range(10)]) == 0


@pytest.mark.parametrize("jit_compile", [False, True])
def test_nuts_syncs_at_most_once_per_leapfrog_step(jit_compile):
    info = initialize_model(eight_schools, data("cuda"), num_chains=16)
    kernel = NUTS(eight_schools, jit_compile=jit_compile)
    state = kernel.init(info.init_params, info.potential_and_grad, 0)
    state = kernel.sample(state)
    before = info.num_evaluations

    def iterate():
        nonlocal state
        for _ in range(10):
            state = kernel.sample(state)

    syncs = count_syncs(iterate)
    steps = info.num_evaluations - before  # batched leapfrog steps (one evaluation each)
    print(f"{syncs} host syncs over {steps} batched leapfrog steps")
    assert syncs <= steps + 2 * 10
    assert (kernel._compiled is not None) == jit_compile


def test_jit_compiled_nuts_on_the_gpu_agrees_with_posteriordb():
    pyro.set_rng_seed(0)
    mcmc = MCMC(
        NUTS(eight_schools, jit_compile=True),
        num_samples=500,
        warmup_steps=300,
        num_chains=16,
        disable_progbar=True,
    )
    mcmc.run(*data("cuda"))
    assert mcmc.kernel._compiled is not None
    mu = mcmc.get_samples(group_by_chain=True)["mu"]
    assert mu.device.type == "cuda"
    # posteriordb's eight schools (non-centred): mu mean 4.41, sd 3.3; 4.5 Monte Carlo SEs
    ess = float(effective_sample_size(mu.double().cpu()))
    assert abs(float(mu.mean()) - 4.41) < 4.5 * 3.3 / math.sqrt(ess)
