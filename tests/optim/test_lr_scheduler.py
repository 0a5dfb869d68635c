import pytest
import torch
from torch.optim import lr_scheduler

import pyrolite.optim as optim
from pyrolite.optim import PyroLRScheduler
from pyrolite.optim.lr_scheduler import is_scheduler

SCHEDULERS = [
    ("StepLR", {"step_size": 2, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [1, 3], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.001}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2}),
    ("OneCycleLR", {"max_lr": 0.2, "total_steps": 10}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 1.0 / (1 + epoch)}),
    ("MultiplicativeLR", {"lr_lambda": lambda epoch: 0.8}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 4}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 2}),
    ("PolynomialLR", {"total_iters": 5, "power": 2.0}),
]


def _grads(xs, step):
    for i, x in enumerate(xs):
        x.grad = torch.full_like(x, float(i + 1)) * (x.detach() - step)


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[n for n, _ in SCHEDULERS])
def test_matches_torch_scheduler(name, kwargs):
    torch.manual_seed(0)
    ours = [torch.randn(2, requires_grad=True) for _ in range(2)]
    theirs = [x.detach().clone().requires_grad_() for x in ours]
    wrapper = getattr(optim, name)(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1, "momentum": 0.9}, **kwargs}
    )
    assert isinstance(wrapper, PyroLRScheduler)
    torch_optim = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    torch_sched = getattr(lr_scheduler, name)(torch_optim, **kwargs)
    lrs = []
    for step in range(8):
        _grads(ours, step)
        _grads(theirs, step)
        wrapper(set(ours))
        torch_optim.step()
        wrapper.step()
        torch_sched.step()
        (sched,) = wrapper.torch_schedulers
        assert sched.get_last_lr() == torch_sched.get_last_lr()
        lrs.append(wrapper.torch_optimizers[0].param_groups[0]["lr"])
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b)
    assert len(set(lrs)) > 1  # the schedule did change the learning rate
    assert type(wrapper.torch_schedulers[0]) is getattr(lr_scheduler, name)


def test_reduce_on_plateau_takes_metric():
    x = torch.zeros(1, requires_grad=True)
    wrapper = optim.ReduceLROnPlateau(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "patience": 1, "factor": 0.5}
    )
    x.grad = torch.ones(1)
    wrapper([x])
    lrs = []
    for _ in range(5):
        wrapper.step(1.0)  # no improvement
        lrs.append(wrapper.torch_optimizers[0].param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_late_param_gets_fresh_schedule():
    """After the scheduler stepped, a new param gets a new optimiser whose lr starts afresh."""
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    wrapper = optim.ExponentialLR(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "gamma": 0.5}
    )
    a.grad = torch.ones(1)
    wrapper([a])
    wrapper.step()
    a.grad, b.grad = torch.ones(1), torch.ones(1)
    wrapper([a, b])
    assert torch.equal(a, torch.full((1,), -1.5))  # lr 1 then 0.5
    assert torch.equal(b, torch.full((1,), -1.0))  # lr 1: its own schedule
    assert len(wrapper.torch_optimizers) == 2


def test_params_before_first_scheduler_step_share_an_optimiser():
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    wrapper = optim.StepLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "step_size": 1}
    )
    a.grad = torch.ones(1)
    wrapper([a])
    b.grad = torch.ones(1)
    wrapper([b])
    assert len(wrapper.torch_optimizers) == 1


def test_needs_optimizer_key():
    with pytest.raises(ValueError, match="'optimizer'"):
        optim.StepLR({"optim_args": {"lr": 0.1}, "step_size": 1})
    args = {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}, "step_size": 1}
    optim.StepLR(args)
    assert "optimizer" in args  # the caller's dict is not modified


def test_is_scheduler_is_duck_typed_like_pyro():
    import pyro.optim.optim

    x = torch.zeros(1, requires_grad=True)
    sgd = torch.optim.SGD([x], lr=0.1)
    torch_objects = [
        sgd,
        torch.optim.lr_scheduler.StepLR(sgd, step_size=1),
        torch.optim.lr_scheduler.ReduceLROnPlateau(sgd),
    ]
    wrappers = [
        optim.Adam({"lr": 0.1}),
        optim.StepLR({"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}, "step_size": 1}),
    ]
    for obj in torch_objects + wrappers:
        assert is_scheduler(obj) == pyro.optim.optim.is_scheduler(obj)
    assert [is_scheduler(obj) for obj in torch_objects] == [False, True, True]
    assert not any(is_scheduler(w) for w in wrappers)  # the wrappers are not torch schedulers
