"""``ClippedAdam``: Adam with element-wise gradient clipping and learning-rate decay."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["ClippedAdam"]


class ClippedAdam(torch.optim.Optimizer):
    """Adam whose gradients are clipped and whose learning rate decays geometrically.

    On each step, for every param with a grad:

    1. ``g = clamp(grad, -clip_norm, clip_norm)``, element-wise (this is what Pyro's
       ClippedAdam does, despite the argument's name; ``p.grad`` itself is left unchanged);
    2. ``g += weight_decay * p`` if ``weight_decay`` is not zero (L2 penalty, as in Adam);
    3. the Adam moments ``m = b1 m + (1 - b1) g`` and ``v = b2 v + (1 - b2) g^2``;
    4. ``p -= lr * sqrt(1 - b2^k) / (1 - b1^k) * m / (sqrt(v) + eps)``, where ``k`` counts
       this param's steps.

    As in Pyro, every call of :meth:`step` first multiplies each group's ``lr`` by its
    ``lrd``, so after ``n`` steps ``param_groups[i]["lr"] == lr0 * lrd**n`` and the ``n``-th
    update uses ``lr0 * lrd**n``. :class:`~pyrolite.optim.PyroOptim` gives each param its own
    ClippedAdam when ``lrd != 1`` (see :attr:`decays_lr`), so a param first stepped late starts
    from the base rate, as with Pyro's one optimiser per param.

    Args:
        params: tensors to optimise, or param group dicts.
        lr: base learning rate (default 1e-3).
        betas: coefficients of the running averages of the gradient and its square.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty.
        clip_norm: gradients are clamped element-wise to ``[-clip_norm, clip_norm]``.
        lrd: learning-rate decay factor, applied to ``lr`` at the start of every step.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_norm: float = 10.0,
        lrd: float = 1.0,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"ClippedAdam: invalid learning rate {lr}; it must be >= 0")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"ClippedAdam: invalid betas {betas}; each must be in [0, 1)")
        if not eps >= 0.0:
            raise ValueError(f"ClippedAdam: invalid eps {eps}; it must be >= 0")
        if not clip_norm > 0.0:
            raise ValueError(f"ClippedAdam: invalid clip_norm {clip_norm}; it must be > 0")
        if not lrd > 0.0:
            raise ValueError(f"ClippedAdam: invalid lrd {lrd}; it must be > 0")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "clip_norm": clip_norm,
            "lrd": lrd,
        }
        super().__init__(params, defaults)

    @property
    def decays_lr(self) -> bool:
        """Whether a step changes a group's ``lr`` (``lrd != 1``): such an optimiser must not
        take params that join after its first step."""
        return any(group["lrd"] != 1.0 for group in self.param_groups)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimisation step; ``closure`` re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["lr"] *= group["lrd"]
            beta1, beta2 = group["betas"]
            clip, eps, decay = group["clip_norm"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.clamp(-clip, clip)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = state["step"]
                if decay != 0:
                    grad = grad.add(p, alpha=decay)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = exp_avg_sq.sqrt().add_(eps)
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = group["lr"] * math.sqrt(bias_correction2)
                p.addcdiv_(exp_avg, denom, value=-step_size / bias_correction1)
        return loss
