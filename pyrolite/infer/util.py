"""The density of a generative program (``log_density``, ``make_log_joint_fn``), and
``in_plate`` for running a program under an outer vectorising plate.

Also Pyro's ``pyro.infer.util`` path: the number/tensor helpers, plate sums and the
validation switch are re-exported here from the modules that implement them. Pyro's
enumeration helpers (``Dice``, ``compute_site_dice_factor``, ``plate_log_prob_sum``) come
with enumeration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pyrolite import poutine
from pyrolite.distributions.util import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)
from pyrolite.infer.number_ops import (
    check_fully_reparametrized,
    torch_backward,
    torch_exp,
    torch_item,
    zero_grads,
)
from pyrolite.infer.plate_sums import (
    MultiFrameTensor,
    get_dependent_plate_dims,
    get_plate_stacks,
    torch_sum,
)
from pyrolite.poutine.plate_messenger import PlateMessenger
from pyrolite.poutine.trace_struct import Trace

__all__ = [
    "MultiFrameTensor",
    "check_fully_reparametrized",
    "enable_validation",
    "get_dependent_plate_dims",
    "get_plate_stacks",
    "in_plate",
    "is_validation_enabled",
    "log_density",
    "make_log_joint_fn",
    "torch_backward",
    "torch_exp",
    "torch_item",
    "torch_sum",
    "validation_enabled",
    "zero_grads",
]


def log_density(
    model: Callable,
    model_args: tuple = (),
    model_kwargs: dict | None = None,
    values: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, Trace]:
    """The joint log density of ``model`` at ``values``, and the trace it was computed on.

    Latent sites named in ``values`` take those values; observed sites keep their
    observations; any other latent site is drawn from its distribution (and counts too).
    Scales and masks (plates, ``poutine.scale``/``mask``) apply. Returns
    ``(log_joint, trace)`` with ``log_joint`` a scalar tensor.

    Example::

        lp, tr = log_density(model, (x,), {}, {"w": torch.zeros(3), "sigma": torch.tensor(1.)})
    """
    substituted = poutine.substitute(model, data=values or {})
    model_trace = poutine.trace(substituted).get_trace(*model_args, **(model_kwargs or {}))
    log_joint = model_trace.log_prob_sum()
    if not isinstance(log_joint, torch.Tensor):
        log_joint = torch.tensor(float(log_joint))
    return log_joint, model_trace


def make_log_joint_fn(model: Callable) -> Callable[..., torch.Tensor]:
    """Edward2's ``make_log_joint_fn``: ``log_joint(*args, **values)`` is the joint log
    density of ``model(*args)`` with its sites set to ``values`` (a scalar tensor)."""

    def log_joint(*args: Any, **values: Any) -> torch.Tensor:
        return log_density(model, args, {}, values)[0]

    log_joint.__name__ = f"log_joint_{getattr(model, '__name__', 'model')}"
    return log_joint


def in_plate(fn: Callable, name: str, size: int, dim: int) -> Callable:
    """``fn`` run inside an outer plate ``name`` of ``size`` at ``dim`` (used to vectorise
    particles and predictive samples: every site gains that batch dim)."""

    def vectorized(*args: Any, **kwargs: Any) -> Any:
        with PlateMessenger(name, size, dim=dim):
            return fn(*args, **kwargs)

    return vectorized
