import pytest
import torch
from torch.distributions import constraints

import pyrolite.optim as optim
from pyrolite.checkpoint import CheckpointError
from pyrolite.params import clear_param_store, get_param_store

TARGET = torch.tensor([1.0, -2.0, 3.0])


def _make(kind):
    sgd = {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.05, "momentum": 0.9}}
    return {
        "adam": lambda: optim.Adam({"lr": 0.1}),
        "adagrad": lambda: optim.Adagrad({"lr": 0.3}),
        "sgd": lambda: optim.SGD({"lr": 0.05, "momentum": 0.9}, {"clip_norm": 5.0}),
        "rmsprop": lambda: optim.RMSprop({"lr": 0.01}),
        "clipped_adam": lambda: optim.ClippedAdam({"lr": 0.2, "lrd": 0.95, "clip_norm": 1.0}),
        "per_param": lambda: optim.Adam(lambda name: {"lr": 0.2 if name == "loc" else 0.05}),
        "multistep": lambda: optim.MultiStepLR({**sgd, "milestones": [2, 5, 7], "gamma": 0.5}),
        "onecycle": lambda: optim.OneCycleLR({**sgd, "max_lr": 0.1, "total_steps": 20}),
        "plateau": lambda: optim.ReduceLROnPlateau({**sgd, "patience": 0, "factor": 0.5}),
    }[kind]()


def _train(pyro_optim, steps, start):
    """A tiny quadratic; a third param appears at step 6, after the scheduler stepped."""
    store = get_param_store()
    for t in range(start, start + steps):
        loc = store.get_param("loc", torch.zeros(3))
        scale = store.get_param("scale", torch.ones(3), constraint=constraints.positive)
        loss = ((loc - TARGET) ** 2).sum() + ((scale - 2.0) ** 2 * (1 + t % 3)).sum()
        values = [loc, scale]
        if t >= 6:
            w = store.get_param("late", torch.full((2,), 0.5), constraint=constraints.unit_interval)
            loss = loss + ((w - 0.9) ** 2).sum()
            values.append(w)
        loss.backward()
        params = {v.unconstrained() for v in values}
        pyro_optim(params)
        for p in params:
            p.grad = None
        if isinstance(pyro_optim, optim.PyroLRScheduler):
            plateau = isinstance(
                pyro_optim.torch_schedulers[0], torch.optim.lr_scheduler.ReduceLROnPlateau
            )
            if plateau:
                pyro_optim.step(loss.item())
            else:
                pyro_optim.step()


def _snapshot():
    return {name: p.detach().clone() for name, p in get_param_store().named_parameters()}


KINDS = ["adam", "adagrad", "sgd", "rmsprop", "clipped_adam", "per_param"]
KINDS += ["multistep", "onecycle", "plateau"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("split", [4, 6, 7])
def test_resume_is_bit_for_bit(tmp_path, kind, split):
    total = 10
    clear_param_store()
    _train(_make(kind), total, 0)
    uninterrupted = _snapshot()

    clear_param_store()
    first = _make(kind)
    _train(first, split, 0)
    get_param_store().save(tmp_path / "params.pt")
    first.save(tmp_path / "optim.pt")
    del first

    clear_param_store()  # a fresh process: new store, new tensors, new optimiser
    resumed = _make(kind)
    get_param_store().load(tmp_path / "params.pt")
    resumed.load(tmp_path / "optim.pt")
    _train(resumed, total - split, split)
    final = _snapshot()

    assert final.keys() == uninterrupted.keys() == {"loc", "scale", "late"}
    for name in final:
        assert torch.equal(final[name], uninterrupted[name]), (kind, name)


def test_get_state_keyed_by_name():
    clear_param_store()
    store = get_param_store()
    pyro_optim = optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "gamma": 0.5}
    )
    loc = store.get_param("loc", torch.zeros(2))
    loc.grad = torch.ones(2)
    pyro_optim([loc])
    pyro_optim.step()
    state = pyro_optim.get_state()
    assert list(state) == ["loc"]
    entry = state["loc"]
    # Pyro's layout for a scheduler: {"scheduler": ..., "optimizer": <torch state dict>}
    assert set(entry) == {"scheduler", "optimizer", "slot", "accepting", "shape"}
    param_state = entry["optimizer"]["state"][0]
    assert set(param_state) == {"step", "exp_avg", "exp_avg_sq"}
    assert torch.allclose(param_state["exp_avg"], torch.full((2,), 0.1))
    group = entry["optimizer"]["param_groups"][0]
    assert group["lr"] == 0.05  # the scheduled value
    assert group["params"] == [0]
    assert entry["scheduler"]["last_epoch"] == 1
    # a snapshot: later steps do not change it
    loc.grad = torch.ones(2)
    pyro_optim([loc])
    assert torch.allclose(param_state["exp_avg"], torch.full((2,), 0.1))


def test_get_state_plain_layout_is_a_torch_state_dict():
    """Without a scheduler an entry is the torch optimiser's ``state_dict()`` over that one
    param, as Pyro saves it (Pyro's tests read ``entry["state"]`` this way)."""
    clear_param_store()
    store = get_param_store()
    loc = store.get_param("loc", torch.zeros(2))
    pyro_optim = optim.Adam({"lr": 0.1})
    for _ in range(2):
        loc.grad = torch.ones(2)
        pyro_optim([loc])
    entry = pyro_optim.get_state()["loc"]
    assert int(list(entry["state"].values())[0]["step"]) == 2
    reference = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=0.1).state_dict()
    assert entry["param_groups"][0].keys() == reference["param_groups"][0].keys()


def test_set_state_reads_a_pyro_saved_state():
    """A state made by real Pyro's ``get_state`` restores into pyrolite's optimiser."""
    import pyro
    import pyro.optim

    pyro.clear_param_store()
    theirs = pyro.param("w", torch.zeros(2)).unconstrained()
    pyro_adam = pyro.optim.Adam({"lr": 0.1})
    for g in (1.0, -3.0):
        theirs.grad = torch.full((2,), g)
        pyro_adam([theirs])
    saved = pyro_adam.get_state()
    pyro.clear_param_store()

    clear_param_store()
    ours = get_param_store().get_param("w", torch.zeros(2))
    with torch.no_grad():
        ours.copy_(theirs)
    adam = optim.Adam({"lr": 0.1})
    adam.set_state(saved)
    ours.grad = theirs.grad = torch.full((2,), 2.0)
    adam([ours])
    pyro_adam([theirs])
    assert torch.equal(ours, theirs)


def test_set_state_applies_to_registered_and_later_params():
    clear_param_store()
    store = get_param_store()
    a = store.get_param("a", torch.zeros(1))
    b = store.get_param("b", torch.zeros(1))
    source = optim.SGD({"lr": 1.0, "momentum": 0.5})
    a.grad, b.grad = torch.ones(1), torch.ones(1)
    source([a, b])
    state = source.get_state()
    assert torch.equal(state["a"]["state"][0]["momentum_buffer"], torch.ones(1))

    target = optim.SGD({"lr": 1.0, "momentum": 0.5})
    a.grad = torch.ones(1)
    target([a])  # a registered before set_state
    target.set_state(state)  # a restored now, b when it appears
    a.grad, b.grad = torch.zeros(1), torch.zeros(1)
    target([a, b])
    # momentum buffer 1 * 0.5 + 0 -> both move by -0.5
    assert torch.equal(a, torch.full((1,), -2.5))  # -1 (first call) -1 (source) -0.5
    assert torch.equal(b, torch.full((1,), -1.5))


def test_save_before_registration_keeps_loaded_state(tmp_path):
    clear_param_store()
    store = get_param_store()
    x = store.get_param("x", torch.zeros(1))
    first = optim.Adam({"lr": 0.1})
    x.grad = torch.ones(1)
    first([x])
    first.save(tmp_path / "a.pt")
    second = optim.Adam({"lr": 0.1})
    second.load(tmp_path / "a.pt")
    second.save(tmp_path / "b.pt")  # nothing registered yet: the loaded state is kept
    third = optim.Adam({"lr": 0.1})
    third.load(tmp_path / "b.pt")
    assert torch.equal(third.get_state()["x"]["state"][0]["exp_avg"], torch.full((1,), 0.1))


def test_load_param_file_as_optim_state(tmp_path):
    clear_param_store()
    get_param_store().get_param("x", torch.zeros(1))
    get_param_store().save(tmp_path / "params.pt")
    with pytest.raises(CheckpointError, match="holds 'pyrolite.params' data, not 'pyrolite.optim'"):
        optim.Adam({"lr": 0.1}).load(tmp_path / "params.pt")


SVI_OPTIMS = {
    "adam": lambda: optim.Adam({"lr": 0.01}),
    "clipped_adam": lambda: optim.ClippedAdam({"lr": 0.01, "lrd": 0.9}),
    "exponential": lambda: optim.ExponentialLR(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.01}, "gamma": 0.9}
    ),
    "plateau": lambda: optim.ReduceLROnPlateau(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.05}, "factor": 0.1, "patience": 1}
    ),
}


@pytest.mark.parametrize("kind", sorted(SVI_OPTIMS))
def test_svi_resume_with_scheduler_steps(tmp_path, kind):
    """SVI with param store and optimiser saved and loaded mid-run (schedulers stepped after
    every SVI step, ReduceLROnPlateau with a constant metric) equals the uninterrupted run."""
    import pyrolite as pyro
    import pyrolite.distributions as dist
    from pyrolite.infer import SVI, Trace_ELBO

    def model():
        x_scale = pyro.param("x_scale", torch.tensor(1.0), constraint=constraints.positive)
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, x_scale), obs=torch.tensor(0.1))

    def guide():
        z_loc = pyro.param("z_loc", torch.tensor(0.0))
        z_scale = pyro.param("z_scale", torch.tensor(0.5), constraint=constraints.positive)
        pyro.sample("z", dist.Normal(z_loc, z_scale))

    def run(pyro_optim, steps):
        svi = SVI(model, guide, pyro_optim, Trace_ELBO())
        out = []
        for _ in range(steps):
            svi.step()
            if isinstance(pyro_optim, optim.PyroLRScheduler):
                pyro_optim.step(1.0) if kind == "plateau" else pyro_optim.step()
            out.append({k: v.detach().clone() for k, v in get_param_store().items()})
        return out

    store = get_param_store()
    clear_param_store()
    pyro.set_rng_seed(0)
    expected = run(SVI_OPTIMS[kind](), 9)

    clear_param_store()
    pyro.set_rng_seed(0)
    first = SVI_OPTIMS[kind]()
    actual = run(first, 4)
    first.save(tmp_path / "optim.pt")
    store.save(tmp_path / "params.pt")
    del first
    clear_param_store()
    store = get_param_store()
    store.load(tmp_path / "params.pt")
    resumed = SVI_OPTIMS[kind]()
    resumed.load(tmp_path / "optim.pt")
    actual += run(resumed, 5)
    for a, e in zip(actual, expected, strict=True):
        assert a.keys() == e.keys()
        for name in a:
            assert torch.equal(a[name], e[name]), (kind, name)
