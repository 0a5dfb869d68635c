"""NUTS against posteriordb reference posteriors (Stan, 10 000 draws).

Each parameter's mean must agree within ``K`` combined Monte Carlo standard errors:
``|mean - ref| <= K * sqrt(mcse^2 + ref_mcse^2)`` with ``mcse = sd / sqrt(ESS)`` from our
chains (Stan's multi-chain ESS); its sd likewise, with the delta-method MCSE of an sd,
``sd((x - mean)^2) / sqrt(ESS((x - mean)^2)) / (2 sd)``. ``K`` is the family-wise bound of
``tests/tolerances.py`` for the two checks per parameter of each posterior (normal tails).
"""

import json
import math
from pathlib import Path

import pytest
import torch
from tolerances import z_bound

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer.mcmc import MCMC, NUTS
from pyrolite.infer.mcmc.util import effective_sample_size

DATA = Path(__file__).parents[2] / "data" / "posteriordb"


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def load(name):
    folder = DATA / name
    data = json.loads((folder / "data.json").read_text())
    reference = json.loads((folder / "reference_summary.json").read_text())
    return data, reference


def eight_schools(y, sigma):
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("schools", len(y)):
        theta_trans = pyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        theta = pyro.deterministic("theta", mu + tau * theta_trans)
        pyro.sample("y", dist.Normal(theta, sigma), obs=y)


def kidiq(mom_iq, kid_score):
    """Sampled with mom_iq centred: ``loc = a + b (mom_iq - m)``, ``beta = (a - b m, b)``.
    The map is linear with unit Jacobian, so flat priors on (a, b) are flat on beta and the
    posterior of (beta, sigma) is posteriordb's; it spares NUTS the -0.989 correlation of
    beta, whose long trees would make this test slow (that is a benchmark's job)."""
    center = mom_iq.mean()
    coef = pyro.sample("coef", dist.Normal(0.0, 1.0).expand([2]).to_event(1).mask(False))
    sigma = pyro.sample("sigma", dist.HalfCauchy(2.5))
    a, b = coef[..., 0], coef[..., 1]
    pyro.deterministic("beta", torch.stack([a - b * center, b], -1))
    with pyro.plate("kids", len(mom_iq)):
        pyro.sample("kid_score", dist.Normal(a + b * (mom_iq - center), sigma), obs=kid_score)


def ar_k(lags, y):
    """``lags`` (T - K, K): ``lags[t, k]`` is the (k + 1)-th lag of ``y[t]``."""
    alpha = pyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = pyro.sample("beta", dist.Normal(0.0, 10.0).expand([lags.shape[1]]).to_event(1))
    sigma = pyro.sample("sigma", dist.HalfCauchy(2.5))
    with pyro.plate("time", len(y)):
        # (lags * beta).sum(-1), not lags @ beta: it broadcasts over a chain dim, so the
        # potential runs in broadcast mode (vmap's matmul is much slower here).
        pyro.sample("y", dist.Normal(alpha + (lags * beta).sum(-1), sigma), obs=y)


def eight_schools_case():
    data, reference = load("eight_schools-eight_schools_noncentered")
    args = (torch.tensor(data["y"], dtype=torch.float64), torch.tensor(data["sigma"]))
    return eight_schools, args, reference, ("mu", "tau", "theta")


def kidiq_case():
    data, reference = load("kidiq-kidscore_momiq")
    args = (torch.tensor(data["mom_iq"]), torch.tensor(data["kid_score"], dtype=torch.float64))
    return kidiq, args, reference, ("beta", "sigma")


def ar_k_case():
    data, reference = load("arK-arK")
    y, k = torch.tensor(data["y"]), data["K"]
    lags = torch.stack([y[k - 1 - j : len(y) - 1 - j] for j in range(k)], dim=-1)
    return ar_k, (lags, y[k:]), reference, ("alpha", "beta", "sigma")


def check_against_reference(draws, reference, name, k):
    """``draws`` (C, n) of one scalar parameter vs its reference summary, within ``k``
    combined standard errors."""
    ref = reference[name]
    mean, sd = draws.mean(), draws.std()
    mcse = sd / effective_sample_size(draws).sqrt()
    z_mean = (mean - ref["mean"]) / math.sqrt(mcse**2 + ref["mcse_mean"] ** 2)
    squares = (draws - mean) ** 2
    mcse_sd = squares.std() / effective_sample_size(squares).sqrt() / (2 * sd)
    z_sd = (sd - ref["sd"]) / math.sqrt(mcse_sd**2 + ref["mcse_sd"] ** 2)
    assert abs(z_mean) < k, f"{name}: mean {mean:.4g} vs {ref['mean']:.4g} (z = {z_mean:.2f})"
    assert abs(z_sd) < k, f"{name}: sd {sd:.4g} vs {ref['sd']:.4g} (z = {z_sd:.2f})"


@pytest.mark.statistical
@pytest.mark.parametrize("case", [eight_schools_case, kidiq_case, ar_k_case])
def test_nuts_matches_reference(case, seed):
    model, args, reference, sites = case()
    k = z_bound(2 * len(reference))
    mcmc = MCMC(NUTS(model), num_samples=250, warmup_steps=250, num_chains=4, disable_progbar=True)
    mcmc.run(*args)
    samples = mcmc.get_samples(group_by_chain=True)
    checked = 0
    for site in sites:
        value = samples[site]
        flat = value.reshape(value.shape[:2] + (-1,))
        for i in range(flat.shape[-1]):
            name = site if value.dim() == 2 else f"{site}[{i}]"
            check_against_reference(flat[..., i], reference, name, k)
            checked += 1
    assert checked == len(reference)
    assert mcmc.num_divergences <= 2
