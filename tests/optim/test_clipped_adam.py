import math

import pytest
import torch

import pyrolite.optim as optim
from pyrolite.optim.clipped_adam import ClippedAdam


def _hand_adam(x0, grads, lr, betas, eps, clip, lrd, weight_decay=0.0):
    """ClippedAdam by hand, in float64, one element at a time."""
    b1, b2 = betas
    x, m, v = list(map(float, x0)), [0.0] * len(x0), [0.0] * len(x0)
    for k, grad in enumerate(grads, start=1):
        for i in range(len(x)):
            g = max(-clip, min(clip, float(grad[i]))) + weight_decay * x[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            lr_k = lr * lrd**k
            step = lr_k * math.sqrt(1 - b2**k) / (1 - b1**k)
            x[i] -= step * m[i] / (math.sqrt(v[i]) + eps)
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_matches_hand_computation(weight_decay):
    grads = [
        torch.tensor([0.5, -20.0, 3.0], dtype=torch.float64),
        torch.tensor([15.0, 0.1, -2.0], dtype=torch.float64),
        torch.tensor([-0.3, 4.0, 11.0], dtype=torch.float64),
        torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64),
    ]
    x0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x = x0.clone().requires_grad_()
    kwargs = {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "clip_norm": 2.0, "lrd": 0.9}
    opt = ClippedAdam([x], weight_decay=weight_decay, **kwargs)
    for g in grads:
        x.grad = g.clone()
        opt.step()
        assert torch.equal(x.grad, g)  # the grad itself is not modified
    expected = _hand_adam(
        x0,
        grads,
        kwargs["lr"],
        kwargs["betas"],
        kwargs["eps"],
        kwargs["clip_norm"],
        kwargs["lrd"],
        weight_decay,
    )
    torch.testing.assert_close(x.detach(), expected, rtol=1e-12, atol=1e-12)
    state = opt.state[x]
    assert state["step"] == 4
    # as in Pyro, each step multiplies the group's lr by lrd before it updates
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05 * 0.9**4, rel=1e-15)


def test_defaults_equal_adam_without_clipping():
    torch.manual_seed(0)
    a = torch.randn(5, requires_grad=True)
    b = a.detach().clone().requires_grad_()
    ours, theirs = ClippedAdam([a]), torch.optim.Adam([b])
    for _ in range(5):
        g = torch.randn(5)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("lrd", [1.0, 3.0, 0.5])
def test_group_lr_after_n_steps(lrd):
    """Pyro's contract: after n steps ``param_groups[0]["lr"] == lr0 * lrd**n``."""
    x = torch.zeros((), requires_grad=True)
    opt = ClippedAdam([x], lr=1.0, lrd=lrd)
    for n in range(1, 4):
        x.grad = torch.tensor(0.7)
        opt.step()
        assert opt.param_groups[0]["lr"] == 1.0 * lrd**n
    assert opt.decays_lr == (lrd != 1.0)


def test_decay_is_per_param():
    """A param first stepped late starts from lr * lrd, as with one optimiser per param:
    with ``lrd != 1`` every param gets its own ClippedAdam."""
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    pyro_optim = optim.ClippedAdam({"lr": 1.0, "lrd": 0.5})
    for _ in range(3):
        a.grad = torch.ones(1)
        pyro_optim([a])
    b.grad = torch.ones(1)
    pyro_optim([b])
    assert len(pyro_optim.torch_optimizers) == 2
    assert [o.param_groups[0]["lr"] for o in pyro_optim.torch_optimizers] == [0.125, 0.5]
    # first Adam step moves by lr_1 * sign(g) (up to eps): lr_1 = 1.0 * 0.5
    assert torch.allclose(b, torch.full((1,), -0.5), atol=1e-6)


def test_no_decay_shares_one_optimizer():
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    pyro_optim = optim.ClippedAdam({"lr": 1.0})
    a.grad = torch.ones(1)
    pyro_optim([a])
    b.grad = torch.ones(1)
    pyro_optim([b])
    assert len(pyro_optim.torch_optimizers) == 1


def test_closure_and_validation():
    x = torch.ones(1, requires_grad=True)
    opt = ClippedAdam([x], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (x**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 1.0
    assert x.item() < 1.0
    with pytest.raises(ValueError, match="invalid clip_norm"):
        ClippedAdam([x], clip_norm=0.0)
    with pytest.raises(ValueError, match="invalid betas"):
        ClippedAdam([x], betas=(1.0, 0.9))
