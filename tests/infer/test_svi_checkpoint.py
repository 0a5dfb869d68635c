"""Checkpoint and resume of an SVI run continue bit for bit like an uninterrupted run."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.checkpoint import CheckpointError
from pyrolite.infer import SVI, Trace_ELBO

X = torch.tensor([0.8, 1.4, 0.2, 1.1])


def model(x):
    z = pyro.sample("z", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x), subsample_size=2) as idx:
        pyro.sample("x", dist.Normal(z, 1.0), obs=x[idx])


def guide(x):
    loc = pyro.param("loc", torch.tensor(0.0))
    scale = pyro.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
    pyro.sample("z", dist.Normal(loc, scale))


def make_svi():
    return SVI(model, guide, pyro.optim.ClippedAdam({"lr": 0.05, "lrd": 0.99}), Trace_ELBO())


def run(svi, steps):
    return [svi.step(X) for _ in range(steps)]


def test_resume_equals_uninterrupted_run(tmp_path):
    pyro.set_rng_seed(1)
    svi = make_svi()
    run(svi, 10)
    svi.save_checkpoint(tmp_path / "ckpt.pt", extra={"step": 10})
    tail = run(svi, 15)
    expected = {k: v.detach().clone() for k, v in pyro.get_param_store().items()}

    # a fresh start: empty store, new optimiser, generators elsewhere
    pyro.clear_param_store()
    pyro.set_rng_seed(999)
    resumed = make_svi()
    assert resumed.load_checkpoint(tmp_path / "ckpt.pt") == {"step": 10}
    assert run(resumed, 15) == tail
    for name, value in pyro.get_param_store().items():
        assert torch.equal(value, expected[name]), name


def test_damaged_checkpoint_is_refused(tmp_path):
    svi = make_svi()
    svi.step(X)
    path = tmp_path / "ckpt.pt"
    svi.save_checkpoint(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        make_svi().load_checkpoint(path)


# ----------------------------------------------------------------------------------------------
# bit-exact resume with every autoguide

import gc  # noqa: E402

from torch import nn  # noqa: E402

import pyrolite.infer.autoguide as autoguide  # noqa: E402
from pyrolite import poutine  # noqa: E402
from pyrolite.checkpoint import save_tensors  # noqa: E402
from pyrolite.distributions import transforms as T  # noqa: E402
from pyrolite.infer.svi_checkpoint import SVI_KIND, load_checkpoint, save_checkpoint  # noqa: E402
from pyrolite.rng import get_rng_state_tensors  # noqa: E402

Y = torch.tensor([0.3, -1.2, 2.0, 0.7, 1.5])
ABSTRACT_GUIDES = {"AutoGuide", "AutoContinuous"}
GUIDE_NAMES = [
    name
    for name in autoguide.__all__
    if isinstance(getattr(autoguide, name), type)
    and issubclass(getattr(autoguide, name), autoguide.AutoGuide)
    and name not in ABSTRACT_GUIDES
]


def latent_model(y):
    mu = pyro.sample("mu", dist.Normal(0.0, 2.0))
    sigma = pyro.sample("sigma", dist.LogNormal(0.0, 1.0))
    with pyro.plate("data", len(y)):
        w = pyro.sample("w", dist.Normal(mu, sigma))
        pyro.sample("y", dist.Normal(w, 0.5), obs=y)


def make_guide(name):
    cls = getattr(autoguide, name)
    if name == "AutoGuideList":
        guide = cls(latent_model)
        guide.append(autoguide.AutoDelta(poutine.block(latent_model, expose=["mu"])))
        guide.append(autoguide.AutoNormal(poutine.block(latent_model, hide=["mu"])))
        return guide
    if name == "AutoNormalizingFlow":
        return cls(latent_model, lambda dim: T.planar(dim))
    if name == "AutoIAFNormal":
        return cls(latent_model, hidden_dim=[8], num_transforms=2)
    return cls(latent_model)


def test_every_autoguide_export_is_covered():
    initialisers = {name for name in autoguide.__all__ if name.startswith("init_to_")}
    assert set(autoguide.__all__) == set(GUIDE_NAMES) | ABSTRACT_GUIDES | initialisers


@pytest.mark.parametrize("name", GUIDE_NAMES)
def test_resume_is_bit_exact_with_every_autoguide(name, tmp_path):
    path = tmp_path / "ckpt.pt"
    svi = SVI(latent_model, make_guide(name), pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
    [svi.step(Y) for _ in range(3)]
    svi.save_checkpoint(path)
    tail = [svi.step(Y) for _ in range(3)]
    expected = {k: v.detach().clone() for k, v in pyro.get_param_store().items()}

    # a fresh start: the guide sets itself up only after the generators were restored
    pyro.clear_param_store()
    pyro.set_rng_seed(123)
    resumed = SVI(latent_model, make_guide(name), pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
    resumed.load_checkpoint(path)
    assert [resumed.step(Y) for _ in range(3)] == tail
    store = pyro.get_param_store()
    assert set(store.keys()) == set(expected)
    for key, value in store.items():
        assert torch.equal(value, expected[key]), key


# ----------------------------------------------------------------------------------------------
# networks registered with pyro.module resume


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x))).squeeze(-1)


XS = torch.tensor([[0.1, 0.5], [1.0, -0.3], [-0.7, 0.2], [0.4, 0.4]])
YS = torch.tensor([0.2, 1.1, -0.5, 0.6])


def make_net_svi(net, update_module_params=False):
    def model(x, y):
        pyro.module("net", net, update_module_params=update_module_params)
        shift = pyro.sample("shift", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(y)):
            pyro.sample("y", dist.Normal(net(x) + shift, 0.3), obs=y)

    def guide(x, y):
        loc = pyro.param("shift_loc", torch.tensor(0.0))
        pyro.sample("shift", dist.Normal(loc, 0.1))

    return SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())


def _net_run_saved_at(path, before, after):
    """A run training a network: ``before`` steps, a checkpoint at ``path``, ``after`` more.
    Returns the network, the SVI, the network's state at the checkpoint and the later losses."""
    net = Regressor()
    svi = make_net_svi(net)
    for _ in range(before):
        svi.step(XS, YS)
    svi.save_checkpoint(path)
    saved = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return net, svi, saved, [svi.step(XS, YS) for _ in range(after)]


@pytest.mark.parametrize("update_module_params", [False, True])
def test_network_resumes_in_a_fresh_process(tmp_path, update_module_params):
    net, _, _, tail = _net_run_saved_at(tmp_path / "ckpt.pt", 4, 4)
    trained = {k: v.detach().clone() for k, v in net.state_dict().items()}

    pyro.clear_param_store()
    pyro.set_rng_seed(5)
    fresh = Regressor()  # other initial weights
    resumed = make_net_svi(fresh, update_module_params)
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    assert [resumed.step(XS, YS) for _ in range(4)] == tail
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, trained[key]), key
    # the optimiser steps the network's own tensors
    store = pyro.get_param_store()
    for key, value in fresh.named_parameters():
        assert store.unconstrained(f"net$$${key}") is value


def test_network_is_restored_in_place_in_a_live_run(tmp_path):
    net, svi, saved, tail = _net_run_saved_at(tmp_path / "ckpt.pt", 1, 3)
    weight = net.hidden.weight
    svi.load_checkpoint(tmp_path / "ckpt.pt")
    assert net.hidden.weight is weight
    for key, value in net.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert [svi.step(XS, YS) for _ in range(3)] == tail


def _live_tensors():
    gc.collect()
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor))


def test_reloads_replace_the_optimiser_state_instead_of_adding(tmp_path):
    path = tmp_path / "ckpt.pt"
    _, svi, _, tail = _net_run_saved_at(path, 2, 2)
    counts = {}
    for reload in range(30):
        svi.load_checkpoint(path)
        assert [svi.step(XS, YS) for _ in range(2)] == tail
        if reload in (1, 29):
            counts[reload] = _live_tensors()
    assert counts[29] <= counts[1], counts
    assert len(svi.optim.torch_optimizers) == 1


# ----------------------------------------------------------------------------------------------
# a malformed payload is refused before anything changes


def _good_payload(svi):
    return {
        "params": pyro.get_param_store().get_state(),
        "optim": svi.optim.get_state(),
        "rng": get_rng_state_tensors(),
        "extra": {},
    }


def _malformed(payload, case):
    bad = dict(payload)
    if case == "missing rng":
        del bad["rng"]
    elif case == "params":
        bad["params"] = {**payload["params"], "constraints": {}}
    elif case == "optim":
        bad["optim"] = {**payload["optim"], "loc": [1, 2]}
    elif case == "optim shape":
        entry = dict(payload["optim"]["loc"])
        entry["shape"] = [7]
        bad["optim"] = {**payload["optim"], "loc": entry}
    elif case == "rng":
        bad["rng"] = {**payload["rng"], "torch": torch.zeros(3, dtype=torch.uint8)}
    elif case == "extra":
        bad["extra"] = [1]
    return bad


@pytest.mark.parametrize(
    "case, part",
    [
        ("missing rng", "rng"),
        ("params", "params"),
        ("optim", "optim"),
        ("optim shape", "optim"),
        ("rng", "rng"),
        ("extra", "extra"),
    ],
)
def test_malformed_payload_raises_checkpoint_error_and_changes_nothing(tmp_path, case, part):
    svi = make_svi()
    run(svi, 3)
    path = tmp_path / "bad.pt"
    save_tensors(_malformed(_good_payload(svi), case), path, SVI_KIND)
    before = _good_payload(svi)
    with pytest.raises(CheckpointError) as info:
        svi.load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert f"part {part!r}" in message
    after = _good_payload(svi)
    for name, value in before["params"]["params"].items():
        assert torch.equal(after["params"]["params"][name], value)
    assert torch.equal(after["rng"]["torch"], before["rng"]["torch"])
    assert torch.equal(
        after["optim"]["loc"]["state"][0]["exp_avg"], before["optim"]["loc"]["state"][0]["exp_avg"]
    )
    run(svi, 1)  # the run goes on


def test_optimiser_state_of_another_model_names_the_param(tmp_path):
    svi = make_svi()
    run(svi, 2)
    state = svi.optim.get_state()
    state["loc"]["shape"] = [3]
    state["loc"]["state"][0]["exp_avg"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"param 'loc'.*shape \(3,\).*shape \(\)"):
        svi.optim.set_state(state)
    run(svi, 1)  # nothing was half-applied


def test_load_checkpoint_function_equals_the_method(tmp_path):
    svi = make_svi()
    run(svi, 2)
    save_checkpoint(tmp_path / "a.pt", svi.optim, extra={"n": 2})
    tail = run(svi, 2)
    assert load_checkpoint(tmp_path / "a.pt", svi.optim) == {"n": 2}
    assert run(svi, 2) == tail


def test_optimiser_state_for_a_param_not_seen_yet_is_checked_when_it_appears():
    svi = make_svi()
    run(svi, 1)
    state = svi.optim.get_state()
    state["loc"]["shape"] = [3]
    pyro.clear_param_store()
    fresh = make_svi()
    fresh.optim.set_state(state)  # no param yet: checked when "loc" first appears
    with pytest.raises(ValueError, match=r"optimiser state for param 'loc'.*\(3,\)"):
        fresh.step(X)
    assert all(p.grad is None for _, p in pyro.get_param_store().named_parameters())
    run(fresh, 2)  # the run is not wedged
