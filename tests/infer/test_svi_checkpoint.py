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
