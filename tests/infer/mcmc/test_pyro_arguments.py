import inspect
import math

import pyro as real_pyro
import pyro.infer.mcmc as real_mcmc
import pyro.infer.mcmc.api as real_api
import pytest
import torch
from tolerances import ess, mean_tolerance

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.distributions import transforms as T
from pyrolite.distributions.validation import is_validation_enabled
from pyrolite.infer.mcmc import HMC, MCMC, NUTS
from pyrolite.infer.mcmc.api import MCMC as ApiMCMC
from pyrolite.infer.mcmc.util import hpdi, interval_labels


def positive_model():
    pyro.sample("s", dist.Gamma(3.0, 2.0))


@pytest.mark.parametrize(
    "ours, theirs", [(HMC, real_mcmc.HMC), (NUTS, real_mcmc.NUTS), (MCMC, real_api.MCMC)]
)
def test_signature_starts_with_pyros(ours, theirs):
    pyro_params = list(inspect.signature(theirs).parameters.values())
    our_params = list(inspect.signature(ours).parameters.values())[: len(pyro_params)]
    assert [p.name for p in our_params] == [p.name for p in pyro_params]
    assert [p.kind for p in our_params] == [p.kind for p in pyro_params]
    assert ApiMCMC is MCMC


def test_initial_params_are_unconstrained_like_pyro():
    # A step of 1e-9 leaves the chain where it started: the first draw is the start.
    u0 = torch.tensor(0.3)
    kernel = HMC(positive_model, step_size=1e-9, num_steps=1, adapt_step_size=False)
    mcmc = MCMC(kernel, 1, 0, initial_params={"s": u0}, disable_progbar=True)
    mcmc.run()
    ours = mcmc.get_samples()["s"]

    def pyro_model():
        real_pyro.sample("s", real_pyro.distributions.Gamma(3.0, 2.0))

    real = real_api.MCMC(
        real_mcmc.HMC(pyro_model, step_size=1e-9, num_steps=1, adapt_step_size=False),
        num_samples=1,
        warmup_steps=0,
        initial_params={"s": u0},
        disable_progbar=True,
    )
    real.run()
    theirs = real.get_samples()["s"]
    assert torch.allclose(ours, u0.exp(), atol=1e-5)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_initial_params_need_a_chain_dim_for_several_chains():
    with pytest.raises(ValueError, match="leading dimension of tensors in `initial_params`"):
        MCMC(NUTS(positive_model), 1, num_chains=2, initial_params={"s": torch.tensor(0.0)})


def test_kernel_transforms_replace_biject_to():
    # constrained s = 2 exp(u): the start and the potential follow the given transform
    transform = T.ComposeTransform([T.ExpTransform(), T.AffineTransform(0.0, 2.0)]).inv
    u0 = torch.tensor([0.1, -0.4])
    kernel = HMC(
        positive_model,
        step_size=1e-9,
        num_steps=1,
        adapt_step_size=False,
        transforms={"s": transform},
    )
    mcmc = MCMC(kernel, 1, 0, initial_params={"s": u0}, num_chains=2, disable_progbar=True)
    mcmc.run()
    assert torch.allclose(mcmc.get_samples()["s"], 2 * u0.exp(), atol=1e-6)
    z = torch.tensor([[0.2], [1.1]])
    s = 2 * z.exp()
    expected = -(dist.Gamma(3.0, 2.0).log_prob(s) + (2 * z.exp()).log()).squeeze(-1)
    assert torch.allclose(mcmc.potential.potential_fn(z), expected)


@pytest.mark.statistical
def test_dict_potential_fn_with_mcmc_transforms(seed):
    # Pyro's potential_fn on dicts: u ~ Normal(1, 0.5) unconstrained; x = exp(u) is returned
    # through transforms["x"].inv, so log x has the mean of u.
    def potential_fn(params):
        return 0.5 * (((params["x"] - 1.0) / 0.5) ** 2).sum()

    kernel = NUTS(potential_fn=potential_fn)
    mcmc = MCMC(
        kernel,
        num_samples=300,
        warmup_steps=200,
        initial_params={"x": torch.zeros(3, 2)},
        num_chains=3,
        disable_progbar=True,
        transforms={"x": T.ExpTransform().inv},
    )
    mcmc.run()
    x = mcmc.get_samples(group_by_chain=True)["x"]
    assert x.shape == (3, 300, 2) and (x > 0).all()
    log_x = x.log()
    tol = mean_tolerance(0.5, ess(log_x), n_comparisons=2)
    assert ((log_x.mean((0, 1)) - 1.0).abs() < tol).all()


def test_potential_fn_needs_initial_params():
    mcmc = MCMC(NUTS(potential_fn=lambda p: (p["x"] ** 2).sum()), 1, disable_progbar=True)
    with pytest.raises(ValueError, match="Must provide valid initial parameters"):
        mcmc.run()


def test_get_samples_num_samples_draws_from_the_run():
    mcmc = MCMC(NUTS(positive_model), 20, 10, num_chains=2, disable_progbar=True)
    mcmc.run()
    all_draws = mcmc.get_samples(group_by_chain=True)["s"]
    picked = mcmc.get_samples(num_samples=7)["s"]
    assert picked.shape == (7,)
    assert all((all_draws.reshape(-1) == v).any() for v in picked)
    grouped = mcmc.get_samples(num_samples=5, group_by_chain=True)["s"]
    assert grouped.shape == (2, 5)
    for c in range(2):
        assert all((all_draws[c] == v).any() for v in grouped[c])
    assert mcmc.get_samples()["s"].shape == (40,)


def test_summary_prob_sets_the_interval(capsys):
    mcmc = MCMC(NUTS(positive_model), 30, 10, num_chains=2, disable_progbar=True)
    mcmc.run()
    mcmc.summary(prob=0.5)
    out = capsys.readouterr().out
    lower, upper = interval_labels(0.5)
    assert (lower, upper) == ("25.0%", "75.0%")
    header = next(line for line in out.splitlines() if "mean" in line).split()
    row = next(line for line in out.splitlines() if line.split()[:1] == ["s"]).split()
    bounds = hpdi(mcmc.get_samples()["s"], prob=0.5)
    assert float(row[header.index(lower) + 1]) == pytest.approx(float(bounds[0]), abs=0.006)
    assert float(row[header.index(upper) + 1]) == pytest.approx(float(bounds[1]), abs=0.006)
    assert "Number of divergences" in out


def test_hook_fn_sees_every_iteration():
    calls = []

    def hook(kernel, params, stage, i):
        calls.append((kernel, stage, i, {k: v.shape for k, v in params.items()}))

    kernel = NUTS(positive_model)
    mcmc = MCMC(kernel, 4, 3, num_chains=2, hook_fn=hook, disable_progbar=True)
    mcmc.run()
    assert [(stage, i) for _, stage, i, _ in calls] == [("Warmup", i) for i in range(3)] + [
        ("Sample", i) for i in range(4)
    ]
    assert all(k is kernel and shapes == {"s": (2,)} for k, _, _, shapes in calls)


def test_disable_progbar(capsys):
    MCMC(NUTS(positive_model), 3, 2, disable_progbar=True).run()
    assert capsys.readouterr().err == ""
    MCMC(NUTS(positive_model), 3, 2, disable_progbar=False, mp_context="spawn").run()
    assert "Sample" in capsys.readouterr().err


def test_save_params_keeps_only_those_sites():
    def model():
        pyro.sample("a", dist.Normal(0.0, 1.0))
        pyro.sample("b", dist.Normal(0.0, 1.0))

    mcmc = MCMC(NUTS(model), 3, 2, disable_progbar=True, save_params=["b"])
    mcmc.run()
    assert set(mcmc.get_samples()) == {"b"}


def test_disable_validation_none_leaves_the_setting():
    seen = []

    def model():
        seen.append(is_validation_enabled())
        pyro.sample("a", dist.Normal(0.0, 1.0))

    pyro.enable_validation(True)
    MCMC(HMC(model, num_steps=1), 1, 0, disable_progbar=True, disable_validation=None).run()
    assert seen[0] is True


def test_step_size_none_and_num_steps_follow_pyro():
    kernel = HMC(positive_model, step_size=None, num_steps=4)
    assert kernel.step_size == 1.0 and math.isclose(kernel.trajectory_length, 4.0)


def test_slice_nuts_is_not_implemented():
    with pytest.raises(NotImplementedError, match="use_multinomial_sampling=False"):
        NUTS(positive_model, use_multinomial_sampling=False)
