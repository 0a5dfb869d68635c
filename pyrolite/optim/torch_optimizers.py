"""Pyro-named wrappers: ``Adam(optim_args, clip_args=None)`` is ``PyroOptim(torch.optim.Adam,
...)``, and likewise for the other torch optimisers and :class:`ClippedAdam`.

Example::

    optim = Adam({"lr": 1e-3, "betas": (0.9, 0.999)})
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pyrolite.optim import clipped_adam
from pyrolite.optim.pyro_optim import ClipArgs, OptimArgs, PyroOptim

__all__ = [
    "ASGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ClippedAdam",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SGD",
]


def _optimizer(cls: type[torch.optim.Optimizer]) -> Callable[..., PyroOptim]:
    def wrapper(optim_args: OptimArgs, clip_args: ClipArgs = None) -> PyroOptim:
        return PyroOptim(cls, optim_args, clip_args)

    wrapper.__name__ = wrapper.__qualname__ = cls.__name__
    wrapper.__doc__ = (
        f"Wrap :class:`{cls.__module__}.{cls.__name__}` in a :class:`PyroOptim`; "
        "``optim_args`` is a dict of its arguments or a per-param callable."
    )
    return wrapper


Adam = _optimizer(torch.optim.Adam)
AdamW = _optimizer(torch.optim.AdamW)
SGD = _optimizer(torch.optim.SGD)
RMSprop = _optimizer(torch.optim.RMSprop)
Adagrad = _optimizer(torch.optim.Adagrad)
Adadelta = _optimizer(torch.optim.Adadelta)
Adamax = _optimizer(torch.optim.Adamax)
NAdam = _optimizer(torch.optim.NAdam)
RAdam = _optimizer(torch.optim.RAdam)
ASGD = _optimizer(torch.optim.ASGD)
Rprop = _optimizer(torch.optim.Rprop)


def ClippedAdam(optim_args: OptimArgs, clip_args: ClipArgs = None) -> PyroOptim:
    """Wrap :class:`pyrolite.optim.clipped_adam.ClippedAdam` in a :class:`PyroOptim`."""
    return PyroOptim(clipped_adam.ClippedAdam, optim_args, clip_args)
