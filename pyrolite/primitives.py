"""The statements a model or guide is written in: sample, param, module, plate, factor, ...

Each one builds a :class:`~pyrolite.poutine.runtime.Message` and sends it through the
handler stack; with no handler active, ``sample`` and ``param`` skip the message entirely.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

import pyrolite.distributions as dist
import pyrolite.poutine.runtime as runtime
from pyrolite import poutine
from pyrolite.distributions import constraints
from pyrolite.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)
from pyrolite.params import clear_param_store, get_param_store
from pyrolite.poutine.plate_messenger import PlateMessenger
from pyrolite.poutine.runtime import Message, apply_stack, effectful
from pyrolite.rng import set_rng_seed

__all__ = [
    "barrier",
    "clear_param_store",
    "deterministic",
    "enable_validation",
    "factor",
    "get_param_store",
    "is_validation_enabled",
    "module",
    "param",
    "plate",
    "plate_stack",
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
    obs_mask: torch.Tensor | None = None,
    infer: dict | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """Draw a value for site ``name`` from the distribution ``fn`` (or observe ``obs``).

    Returns a tensor of shape ``fn.batch_shape + fn.event_shape`` (under plates, the
    expanded batch shape). ``infer`` carries hints for inference algorithms
    (``infer={"is_observed": False}`` keeps a site with ``obs`` latent). ``obs_mask``, a bool
    tensor broadcastable to ``fn.batch_shape``, observes ``obs`` only where it is True and
    samples the rest from a latent site ``name + "_unobserved"`` (guides must provide it);
    the result is recorded as the deterministic site ``name``.
    """
    if obs_mask is not None:
        return _masked_observe(name, fn, obs, obs_mask, *args, **kwargs)
    if not _STACK:
        if obs is not None:
            if not (infer and infer.get("_deterministic")):
                warnings.warn(
                    "trying to observe a value outside of inference at " + name,
                    RuntimeWarning,
                    stacklevel=2,
                )
            return obs
        return fn(*args, **kwargs)
    is_observed = obs is not None
    if infer is not None and "is_observed" in infer:
        infer = dict(infer)
        is_observed = infer.pop("is_observed")
    msg = Message("sample", name, fn, args, kwargs, obs, is_observed, infer)
    apply_stack(msg)
    return msg.value


def _masked_observe(
    name: str, fn: Any, obs: Any, obs_mask: torch.Tensor, *args: Any, **kwargs: Any
) -> torch.Tensor:
    """``sample`` with ``obs_mask``: an observed site where the mask is True, a latent one
    (``name_unobserved``) elsewhere, both masked, merged into the deterministic site
    ``name``."""
    with poutine.mask(mask=obs_mask):
        observed = sample(f"{name}_observed", fn, *args, obs=obs, **kwargs)
    with poutine.mask(mask=~obs_mask):
        unobserved = sample(f"{name}_unobserved", fn, *args, **kwargs)
    event_dim = len(fn.event_shape)
    batch_mask = obs_mask.reshape(obs_mask.shape + (1,) * event_dim)
    try:
        value = torch.where(batch_mask, observed, unobserved)
    except RuntimeError as err:
        if "must match the size of tensor" not in str(err):
            raise
        shape = torch.broadcast_shapes(observed.shape, unobserved.shape)
        batch_shape = shape[: len(shape) - event_dim]
        raise ValueError(
            f"Invalid obs_mask shape {tuple(obs_mask.shape)}; should be broadcastable to "
            f"batch_shape = {tuple(batch_shape)}"
        ) from err
    return deterministic(name, value, event_dim=event_dim)


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
    trains the module. Values restored by ``pyrolite.infer.load_checkpoint`` are copied into
    the module's parameters here, whatever ``update_module_params`` says. Other values already
    in the store under those names (e.g. after ``get_param_store().load``): with
    ``update_module_params=True`` they replace the module's parameters (the module then holds
    the store's very tensors); without it the module keeps its own tensors and the store the
    loaded ones (Pyro's rule; a warning says so when the optimiser first steps them). See
    ``pyrolite.params`` for the rule. Returns the module.
    """
    if not hasattr(nn_module, "named_parameters"):
        raise TypeError(f"module {name!r}: expected a torch.nn.Module, got {type(nn_module)}")
    if isinstance(nn_module, type):
        raise TypeError(f"module {name!r}: pass a module instance, not the class {nn_module}")
    if _MODULE_DIVIDER in name:
        raise ValueError(f"module name {name!r} must not contain {_MODULE_DIVIDER!r}")
    store = get_param_store()
    store.note_module(name, nn_module)
    for param_name, value in list(nn_module.named_parameters()):
        if not value.requires_grad:
            if nn_module.training:
                warnings.warn(
                    f"{param_name} was not registered in the param store because "
                    "requires_grad=False. You can silence this warning by calling "
                    "my_module.train(False)",
                    stacklevel=2,
                )
            continue
        full_name = name + _MODULE_DIVIDER + param_name
        if full_name in store:
            # before the param statement, so that the trace records the tensor the network reads
            read = store.register_module_parameter(full_name, name, value, update_module_params)
            if read is not value:
                owner_name, _, leaf_name = param_name.rpartition(".")
                owner = nn_module.get_submodule(owner_name) if owner_name else nn_module
                owner._parameters[leaf_name] = read
                value = read
        param(full_name, value)
    return nn_module


class plate(PlateMessenger):
    """Conditionally independent copies of the sites inside it (see
    :class:`~pyrolite.poutine.plate_messenger.PlateMessenger`).

    Vectorised::

        with pyro.plate("data", 1000, subsample_size=100) as idx:
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=data[idx])

    Sequential: ``for i in pyro.plate("data", 10): ...``.
    """


@contextmanager
def plate_stack(prefix: str, sizes: Sequence[int], rightmost_dim: int = -1) -> Iterator[None]:
    """Plates ``f"{prefix}_{i}"`` over ``sizes`` at the contiguous dims ending at
    ``rightmost_dim``: ``plate_stack("p", (3, 4))`` batches sites to shape ``(3, 4)``, with
    ``p_0`` (size 4) at dim -1 and ``p_1`` (size 3) at dim -2."""
    if not isinstance(rightmost_dim, int) or rightmost_dim >= 0:
        raise ValueError(f"plate_stack: rightmost_dim must be a negative int, got {rightmost_dim}")
    with ExitStack() as stack:
        for i, size in enumerate(reversed(tuple(sizes))):
            stack.enter_context(plate(f"{prefix}_{i}", size, dim=rightmost_dim - i))
        yield


@effectful(type="barrier")
def barrier(data: torch.Tensor) -> torch.Tensor:
    """Returns ``data``; a ``barrier`` message lets handlers that compute lazily (Pyro's
    ``collapse``) make it concrete here. No pyrolite handler acts on it."""
    return data


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
