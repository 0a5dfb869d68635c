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
    assert set(entry["state"]) == {"step", "exp_avg", "exp_avg_sq"}
    assert torch.allclose(entry["state"]["exp_avg"], torch.full((2,), 0.1))
    assert entry["group"]["lr"] == 0.05  # the scheduled value
    assert entry["scheduler"]["last_epoch"] == 1
    # a snapshot: later steps do not change it
    loc.grad = torch.ones(2)
    pyro_optim([loc])
    assert torch.allclose(entry["state"]["exp_avg"], torch.full((2,), 0.1))


def test_set_state_applies_to_registered_and_later_params():
    clear_param_store()
    store = get_param_store()
    a = store.get_param("a", torch.zeros(1))
    b = store.get_param("b", torch.zeros(1))
    source = optim.SGD({"lr": 1.0, "momentum": 0.5})
    a.grad, b.grad = torch.ones(1), torch.ones(1)
    source([a, b])
    state = source.get_state()
    assert torch.equal(state["a"]["state"]["momentum_buffer"], torch.ones(1))

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
    assert torch.equal(third.get_state()["x"]["state"]["exp_avg"], torch.full((1,), 0.1))


def test_load_param_file_as_optim_state(tmp_path):
    clear_param_store()
    get_param_store().get_param("x", torch.zeros(1))
    get_param_store().save(tmp_path / "params.pt")
    with pytest.raises(CheckpointError, match="holds 'pyrolite.params' data, not 'pyrolite.optim'"):
        optim.Adam({"lr": 0.1}).load(tmp_path / "params.pt")
