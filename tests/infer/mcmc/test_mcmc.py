import math
import warnings
from typing import Any, NamedTuple

import pytest
import torch
from tolerances import mean_tolerance, sd_tolerance, variance_ess

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import Predictive
from pyrolite.infer.autoguide.initialization import init_to_uniform
from pyrolite.infer.mcmc import MCMC, NUTS
from pyrolite.infer.mcmc.util import effective_sample_size


class RWState(NamedTuple):
    i: int
    z: torch.Tensor
    potential: torch.Tensor
    grad: torch.Tensor
    step_size: torch.Tensor
    inverse_mass_matrix: torch.Tensor
    accept_prob: torch.Tensor
    diverging: torch.Tensor
    num_steps: torch.Tensor
    adapt_state: Any
    warmup: bool


class RandomWalk:
    """Random-walk Metropolis following the kernel protocol (fixed proposal scale); it
    reports a "divergence" whenever the proposal's energy error exceeds ``diverge_at``."""

    def __init__(self, model=None, potential_fn=None, scale=0.5, diverge_at=math.inf):
        self.model = model
        self.potential_fn = potential_fn
        self.scale = scale
        self.diverge_at = diverge_at
        self.init_strategy = init_to_uniform
        self.max_plate_nesting = None

    def init(self, z0, potential_and_grad, num_warmup, seed=None):
        self.potential_and_grad = potential_and_grad
        self.num_warmup = num_warmup
        potential, grad = potential_and_grad(z0)
        chains = z0.shape[0]
        return RWState(
            i=0,
            z=z0,
            potential=potential,
            grad=grad,
            step_size=torch.full((chains,), self.scale, dtype=z0.dtype),
            inverse_mass_matrix=torch.ones_like(z0),
            accept_prob=torch.zeros(chains, dtype=z0.dtype),
            diverging=torch.zeros(chains, dtype=torch.bool),
            num_steps=torch.ones(chains, dtype=torch.long),
            adapt_state=None,
            warmup=num_warmup > 0,
        )

    def sample(self, state):
        proposal = state.z + self.scale * torch.randn_like(state.z)
        potential, grad = self.potential_and_grad(proposal)
        delta = state.potential - potential
        accept_prob = delta.clamp(max=0).exp().nan_to_num(0.0)
        accept = torch.rand_like(accept_prob) < accept_prob
        i = state.i + 1
        return state._replace(
            i=i,
            z=torch.where(accept[:, None], proposal, state.z),
            potential=torch.where(accept, potential, state.potential),
            grad=torch.where(accept[:, None], grad, state.grad),
            accept_prob=accept_prob,
            diverging=-delta > self.diverge_at,
            warmup=i < self.num_warmup,
        )


def gamma_exponential(x, n=None):
    rate = pyro.sample("rate", dist.Gamma(2.0, 1.0))
    with pyro.plate("data", len(x) if n is None else n):
        pyro.sample("x", dist.Exponential(rate), obs=x)


X = torch.tensor([0.5, 1.5, 0.2, 0.9, 2.1, 0.4])


def standard_normal_2d():
    pyro.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))


def test_get_samples_shapes_and_deterministic_sites():
    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        pyro.deterministic("total", x.sum())

    mcmc = MCMC(
        RandomWalk(model), num_samples=20, warmup_steps=5, num_chains=3, disable_progbar=True
    )
    mcmc.run()
    grouped = mcmc.get_samples(group_by_chain=True)
    assert grouped["x"].shape == (3, 20, 3)
    assert torch.allclose(grouped["total"], grouped["x"].sum(-1))
    flat = mcmc.get_samples()
    assert flat["x"].shape == (60, 3)
    assert torch.equal(flat["x"][20:40], grouped["x"][1])
    assert mcmc.get_samples(num_samples=7)["x"].shape == (7, 3)
    assert mcmc.get_samples(num_samples=4, group_by_chain=True)["x"].shape == (3, 4, 3)


def test_draws_are_the_kernel_states_after_warmup():
    kernel = RandomWalk(standard_normal_2d)
    mcmc = MCMC(kernel, num_samples=10, warmup_steps=4, num_chains=2, disable_progbar=True)
    mcmc.run()
    last = mcmc._record.final_state
    assert last.i == 14
    assert torch.equal(mcmc.get_samples(group_by_chain=True)["x"][:, -1], last.z)


def test_divergences_and_diagnostics():
    # every rejected-worthy uphill move of more than 1 nat counts as divergent
    mcmc = MCMC(
        RandomWalk(standard_normal_2d, scale=2.0, diverge_at=1.0),
        num_samples=200,
        warmup_steps=50,
        num_chains=2,
        disable_progbar=True,
    )
    mcmc.run()
    record = mcmc._record
    expected = int(record.diverging[:, 50:].sum())
    assert mcmc.num_divergences == expected > 0
    diag = mcmc.diagnostics()
    assert set(diag["x"]) == {"n_eff", "r_hat"} and diag["x"]["r_hat"].shape == (2,)
    assert sum(len(v) for v in diag["divergences"].values()) == expected
    for c in range(2):
        rate = record.accept_prob[c, 50:].mean().item()
        assert diag["acceptance rate"][f"chain {c}"] == pytest.approx(rate)
        assert diag["step size"][f"chain {c}"] == 2.0
        assert diag["mean num steps"][f"chain {c}"] == 1.0


def test_summary_prints_table_and_divergences(capsys):
    mcmc = MCMC(
        RandomWalk(gamma_exponential),
        num_samples=50,
        warmup_steps=10,
        num_chains=2,
        disable_progbar=True,
    )
    mcmc.run(X)
    mcmc.summary(prob=0.8)
    out = capsys.readouterr().out
    assert "rate" in out and "n_eff" in out and "r_hat" in out
    assert f"Number of divergences: {mcmc.num_divergences}" in out


def test_progress_bar_shows_phases(capsys):
    mcmc = MCMC(RandomWalk(gamma_exponential), num_samples=30, warmup_steps=15, num_chains=2)
    mcmc.run(X)
    err = capsys.readouterr().err
    assert "Sample" in err and "45/45" in err and "acc=" in err and "div=" in err


@pytest.mark.statistical
def test_gamma_exponential_posterior_with_four_chains(seed):
    # Conjugate: rate | x ~ Gamma(2 + n, 1 + sum x) = Gamma(8, 6.6): mean 1.212, sd 0.429.
    mcmc = MCMC(
        RandomWalk(gamma_exponential, scale=0.6),
        num_samples=1500,
        warmup_steps=200,
        num_chains=4,
        disable_progbar=True,
    )
    mcmc.run(X)
    rate = mcmc.get_samples(group_by_chain=True)["rate"]
    assert rate.shape == (4, 1500)
    mean, sd = 8 / 6.6, math.sqrt(8) / 6.6
    # MCSE of the mean is sd / sqrt(ESS); of the sd, by the delta method, about
    # sd / sqrt(2 ESS) with the ESS of the squared centred draws. Gamma(8) has excess kurtosis
    # 6 / 8, so Var((x - m)^2) = (2 + 0.75) sd^4: the sd's MCSE is sqrt(2.75 / 2) times that.
    ess_mean = float(effective_sample_size(rate))
    ess_var = float(variance_ess(rate[..., None], mean))
    assert abs(rate.mean().item() - mean) < mean_tolerance(sd, ess_mean, 2)
    tol = sd_tolerance(sd, ess_var, 2) * math.sqrt(2.75 / 2)
    assert abs(rate.std().item() - sd) < tol


@pytest.mark.statistical
def test_sequential_matches_vectorized_statistically(seed):
    results = {}
    for method in ("vectorized", "sequential"):
        mcmc = MCMC(
            RandomWalk(gamma_exponential, scale=0.6),
            num_samples=1000,
            warmup_steps=100,
            num_chains=3,
            chain_method=method,
            disable_progbar=True,
        )
        mcmc.run(X)
        rate = mcmc.get_samples(group_by_chain=True)["rate"]
        assert rate.shape == (3, 1000)
        assert mcmc._record.diverging.shape == (3, 1100)
        results[method] = (rate.mean().item(), float(effective_sample_size(rate)))
    (m1, e1), (m2, e2) = results.values()
    sd = math.sqrt(8) / 6.6
    # difference of two independent means: sd * sqrt(1/ESS1 + 1/ESS2)
    assert abs(m1 - m2) < mean_tolerance(sd * math.sqrt(1 / e1 + 1 / e2), 1.0, n_comparisons=1)


def test_initial_params_start_every_chain():
    # Pyro's meaning: unconstrained values (rate > 0 is log(rate) on the reals)
    init = {"rate": torch.tensor([0.5, 3.0]).log()}
    mcmc = MCMC(
        RandomWalk(gamma_exponential),
        num_samples=1,
        warmup_steps=0,
        num_chains=2,
        initial_params=init,
        disable_progbar=True,
    )
    mcmc.run(X)
    assert torch.allclose(mcmc.potential.init_params[:, 0], init["rate"])
    values = mcmc.potential.constrain(mcmc.potential.init_params)["rate"]
    assert torch.allclose(values, torch.tensor([0.5, 3.0]))


def test_potential_fn_kernel():
    def potential_fn(z):
        return 0.5 * (z**2).sum(-1)

    mcmc = MCMC(
        RandomWalk(potential_fn=potential_fn),
        num_samples=10,
        warmup_steps=2,
        num_chains=2,
        initial_params=torch.zeros(3),
        disable_progbar=True,
    )
    mcmc.run()
    assert mcmc.get_samples(group_by_chain=True)["z"].shape == (2, 10, 3)
    with pytest.raises(ValueError, match="needs initial_params"):
        MCMC(RandomWalk(potential_fn=potential_fn), num_samples=1, disable_progbar=True).run()


@pytest.mark.statistical
def test_predictive_with_mcmc_draws(seed):
    mcmc = MCMC(
        RandomWalk(gamma_exponential),
        num_samples=40,
        warmup_steps=10,
        num_chains=2,
        disable_progbar=True,
    )
    mcmc.run(X)
    samples = mcmc.get_samples()
    predictive = Predictive(gamma_exponential, posterior_samples=samples)
    draws = predictive(None, 6)
    assert set(draws) == {"x"} and draws["x"].shape == (80, 6)
    assert (draws["x"] > 0).all() and draws["x"].std() > 0
    parallel = Predictive(gamma_exponential, posterior_samples=samples, parallel=True)
    draws = parallel(None, 6)["x"]
    assert draws.shape == (80, 6)
    # Given the rates, E[mean of draws] = mean of 1 / rate, with variance mean(1 / rate^2) / 480
    # <= Var(x) / 480 (independent draws). A draw not using its own rate would be off.
    expected = (1 / samples["rate"]).mean()
    assert abs(draws.mean() - expected) < mean_tolerance(draws.std(), 480, n_comparisons=1)


def test_validation_restored_after_run():
    mcmc = MCMC(RandomWalk(gamma_exponential), num_samples=3, warmup_steps=1, disable_progbar=True)
    mcmc.run(X)
    assert pyro.is_validation_enabled()


def test_errors():
    with pytest.raises(ValueError, match="chain_method"):
        MCMC(RandomWalk(gamma_exponential), num_samples=3, chain_method="parallel")
    mcmc = MCMC(RandomWalk(gamma_exponential), num_samples=3)
    with pytest.raises(RuntimeError, match="call mcmc.run"):
        mcmc.get_samples()


# -- NUTS, statistically ----------------------------------------------------------------------


def within(draws, expected, n_comparisons, sd=None):
    """|mean of draws (C, n) - expected| within the family-wise bound of one of
    ``n_comparisons`` checks, its MCSE sd / sqrt(ESS) pooled over chains. ``sd``: the
    target's own sd of the quantity where known (the draws' sd underestimates it for a
    heavy-tailed quantity such as a squared deviation)."""
    sd = draws.std() if sd is None else sd
    tol = mean_tolerance(sd, effective_sample_size(draws), n_comparisons)
    return abs(draws.mean() - expected) < tol


# The Gamma(8, 6.6) posterior of gamma_exponential: mean, variance, and the sd of the squared
# deviation, sqrt(mu_4 - sigma^4) = sigma^2 sqrt(2 + 6 / shape) (excess kurtosis 6 / shape).
GAMMA_MEAN, GAMMA_VAR = 8 / 6.6, 8 / 6.6**2
GAMMA_SQ_SD = GAMMA_VAR * math.sqrt(2 + 6 / 8)


def gamma_moments_match(rate):
    """Both moments of the ``rate`` draws (C, n) against the Gamma(8, 6.6) posterior."""
    sq = (rate.double() - GAMMA_MEAN) ** 2
    return within(rate.double(), GAMMA_MEAN, 2, sd=math.sqrt(GAMMA_VAR)) and within(
        sq, GAMMA_VAR, 2, sd=GAMMA_SQ_SD
    )


COV = torch.tensor([[1.0, 0.8], [0.8, 2.0]])
MEAN = torch.tensor([1.0, -2.0])
SCALE_TRIL = torch.linalg.cholesky(COV)  # once: a Cholesky per potential call is slow on CPU


def correlated_gaussian():
    pyro.sample("x", dist.MultivariateNormal(MEAN, scale_tril=SCALE_TRIL))


@pytest.mark.statistical
def test_nuts_correlated_gaussian_mean_and_covariance(seed):
    mcmc = MCMC(
        NUTS(correlated_gaussian),
        num_samples=400,
        warmup_steps=300,
        num_chains=4,
        disable_progbar=True,
    )
    mcmc.run()
    x = mcmc.get_samples(group_by_chain=True)["x"]
    assert x.shape == (4, 400, 2)
    centred = x - MEAN
    for i in range(2):
        assert within(x[..., i], MEAN[i], 5), f"mean of x[{i}]"
        for j in range(i, 2):
            # E[(x_i - m_i)(x_j - m_j)] = cov_ij; the product's own ESS gives its MCSE
            assert within(centred[..., i] * centred[..., j], COV[i, j], 5), f"cov[{i}, {j}]"
    assert mcmc.num_divergences == 0


@pytest.mark.statistical
def test_jit_compiled_potential_samples_the_same_posterior(seed):
    mcmc = MCMC(
        NUTS(gamma_exponential, jit_compile=True),
        num_samples=300,
        warmup_steps=200,
        num_chains=4,
        disable_progbar=True,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(X)
    fallbacks = [w for w in caught if "potential failed" in str(w.message)]
    assert not fallbacks, "the compiled potential fell back to eager"
    rate = mcmc.get_samples(group_by_chain=True)["rate"]
    assert gamma_moments_match(rate)
    assert mcmc.potential.num_evaluations > 500 * 4  # counted through the compiled path
    assert pyro.is_validation_enabled()  # the compiler's set-up did not switch it off


@pytest.mark.statistical
def test_nuts_gamma_exponential_four_chains(seed):
    mcmc = MCMC(
        NUTS(gamma_exponential),
        num_samples=300,
        warmup_steps=200,
        num_chains=4,
        disable_progbar=True,
    )
    mcmc.run(X)
    rate = mcmc.get_samples(group_by_chain=True)["rate"]
    assert rate.shape == (4, 300)
    # posterior Gamma(8, 6.6): mean 8 / 6.6, variance 8 / 6.6^2
    assert gamma_moments_match(rate)
    diag = mcmc.diagnostics()
    assert float(diag["rate"]["r_hat"]) < 1.05
    assert all(1 <= s < 2**10 for s in diag["mean num steps"].values())
    assert all(0.5 < a <= 1 for a in diag["acceptance rate"].values())
    # E-BFMI of a well-behaved one-dimensional target is near 1 (Stan warns below 0.3)
    assert all(0.3 < e < 3 for e in diag["E-BFMI"].values())


@pytest.mark.statistical
def test_nuts_sequential_and_vectorized_agree(seed):
    means = []
    for method in ("vectorized", "sequential"):
        mcmc = MCMC(
            NUTS(gamma_exponential),
            num_samples=300,
            warmup_steps=150,
            num_chains=2,
            chain_method=method,
            disable_progbar=True,
        )
        mcmc.run(X)
        rate = mcmc.get_samples(group_by_chain=True)["rate"]
        assert rate.shape == (2, 300)
        means.append((rate.mean(), rate.var() / effective_sample_size(rate)))
    (m1, v1), (m2, v2) = means
    # independent runs: the difference of the means has variance mcse_1^2 + mcse_2^2
    assert abs(m1 - m2) < mean_tolerance((v1 + v2).sqrt(), 1.0, n_comparisons=1)


def test_to_arviz():
    pytest.importorskip("arviz")
    mcmc = MCMC(
        RandomWalk(gamma_exponential),
        num_samples=20,
        warmup_steps=5,
        num_chains=2,
        disable_progbar=True,
    )
    mcmc.run(X)
    data = mcmc.to_arviz()
    assert tuple(data.posterior["rate"].shape) == (2, 20)
    assert tuple(data.sample_stats["diverging"].shape) == (2, 20)
