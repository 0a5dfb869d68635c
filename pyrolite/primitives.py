"""The statements a model or guide is written in: sample, param, module, plate, factor, ...

Each one builds a :class:`~pyrolite.poutine.runtime.Message` and sends it through the
handler stack; with no handler active, ``sample`` and ``param`` skip the message entirely.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch

import pyrolite.distributions as dist
import pyrolite.poutine.runtime as runtime
from pyrolite.distributions import constraints
from pyrolite.params import clear_param_store, get_param_store
from pyrolite.poutine.plate_messenger import PlateMessenger
from pyrolite.poutine.runtime import Message, apply_stack
from pyrolite.rng import set_rng_seed

__all__ = [
    "clear_param_store",
    "deterministic",
    "enable_validation",
    "factor",
    "get_param_store",
    "is_validation_enabled",
    "module",
    "param",
    "plate",
    "sample",
    "set_rng_seed",
    "subsample",
    "validation_enabled",
]

_STACK = runtime._STACK
_MODULE_DIVIDER = "$$$"


def sample(
    name: str,
    fn: Any,
    *args: Any,
    obs: torch.Tensor | None = None,
    infer: dict | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """Draw a value for site ``name`` from the distribution ``fn`` (or observe ``obs``).

    Returns a tensor of shape ``fn.batch_shape + fn.event_shape`` (under plates, the
    expanded batch shape). ``infer`` carries hints for inference algorithms.
    """
    if not _STACK:
        if obs is not None:
            return obs
        return fn(*args, **kwargs)
    msg = Message("sample", name, fn, args, kwargs, obs, obs is not None, infer)
    apply_stack(msg)
    return msg.value


def param(
    name: str,
    init_tensor: torch.Tensor | Callable[[], torch.Tensor] | None = None,
    constraint: constraints.Constraint = constraints.real,
    event_dim: int | None = None,
) -> torch.Tensor:
    """Read (or create, from ``init_tensor``) the learnable parameter ``name``.

    Returns the constrained value; the param store keeps an unconstrained leaf tensor that
    optimisers update. ``init_tensor`` may be a zero-argument callable (evaluated only the
    first time). ``event_dim`` says how many rightmost dims are not batch dims, so that a
    subsampling plate can slice the param.
    """
    store = get_param_store()
    if not _STACK:
        return store.get_param(name, init_tensor, constraint, event_dim)
    msg = Message(
        "param",
        name,
        store.get_param,
        (name, init_tensor),
        {"constraint": constraint, "event_dim": event_dim},
    )
    apply_stack(msg)
    return msg.value


def module(name: str, nn_module: torch.nn.Module, update_module_params: bool = False):
    """Register every parameter of ``nn_module`` as a param named ``name$$$<param name>``.

    The store shares the module's own ``nn.Parameter`` tensors, so optimising the params
    trains the module. With ``update_module_params=True``, params already in the store
    under those names (e.g. after ``load``) are copied into the module. Returns the module.
    """
    if not hasattr(nn_module, "named_parameters"):
        raise TypeError(f"module {name!r}: expected a torch.nn.Module, got {type(nn_module)}")
    if isinstance(nn_module, type):
        raise TypeError(f"module {name!r}: pass a module instance, not the class {nn_module}")
    if _MODULE_DIVIDER in name:
        raise ValueError(f"module name {name!r} must not contain {_MODULE_DIVIDER!r}")
    updates = {}
    for param_name, value in nn_module.named_parameters():
        if not value.requires_grad:
            continue
        full_name = name + _MODULE_DIVIDER + param_name
        returned = param(full_name, value)
        if returned is not value:
            updates[param_name] = returned
    if updates and update_module_params:
        with torch.no_grad():
            for param_name, value in nn_module.named_parameters():
                if param_name in updates:
                    value.copy_(updates[param_name])
    return nn_module


class plate(PlateMessenger):
    """Conditionally independent copies of the sites inside it (see
    :class:`~pyrolite.poutine.plate_messenger.PlateMessenger`).

    Vectorised::

        with pyro.plate("data", 1000, subsample_size=100) as idx:
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=data[idx])

    Sequential: ``for i in pyro.plate("data", 10): ...``.
    """


def subsample(data: torch.Tensor, event_dim: int) -> torch.Tensor:
    """Slice ``data`` to the subsample of every enclosing subsampling plate.

    ``event_dim`` is the number of rightmost dims of ``data`` that are not batch dims.
    Data already of the subsample size along a plate's dim is left alone.
    """
    if not isinstance(event_dim, int) or event_dim < 0:
        raise ValueError(f"subsample: event_dim must be a non-negative int, got {event_dim!r}")
    if not _STACK:
        return data
    msg = Message("subsample", None, _identity, (data,), {"event_dim": event_dim})
    apply_stack(msg)
    return msg.value


def _identity(x: Any, event_dim: int = 0) -> Any:
    return x


def factor(name: str, log_factor: torch.Tensor, *, has_rsample: bool | None = None) -> None:
    """Add ``log_factor`` (any batch shape) to the log density of the program.

    It is recorded as an observed site ``name`` of a :class:`~pyrolite.distributions.Unit`
    distribution. ``has_rsample`` says whether its gradient is pathwise (default True).
    """
    unit = dist.Unit(log_factor, has_rsample=has_rsample)
    sample(name, unit, obs=unit.sample(), infer={"is_auxiliary": True})


def deterministic(name: str, value: torch.Tensor, event_dim: int | None = None) -> torch.Tensor:
    """Record ``value`` in traces as site ``name`` without adding to the log density.

    ``event_dim`` (default ``value.dim()``) says how many rightmost dims are event dims.
    """
    event_dim = value.dim() if event_dim is None else event_dim
    point = dist.Delta(value, event_dim=event_dim).mask(False)
    return sample(name, point, obs=value, infer={"_deterministic": True})


# -- validation ------------------------------------------------------------------------


def enable_validation(is_validate: bool = True) -> None:
    """Switch argument and support checks of distributions on (the default) or off.

    Off saves time in tight loops once a model is known to be right; errors then surface
    later and less clearly.
    """
    dist.enable_validation(is_validate)


def is_validation_enabled() -> bool:
    """Whether distributions validate their arguments and values."""
    return dist.is_validation_enabled()


@contextmanager
def validation_enabled(is_validate: bool = True):
    """Context manager that sets validation and restores the previous setting."""
    old = is_validation_enabled()
    enable_validation(is_validate)
    try:
        yield
    finally:
        enable_validation(old)
