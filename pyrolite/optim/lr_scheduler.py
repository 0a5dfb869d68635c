"""``PyroLRScheduler``: learning-rate schedulers over :class:`PyroOptim`'s lazy optimisers.

Pyro's convention: the scheduler wrapper gets ``optim_args = {"optimizer": torch.optim.SGD,
"optim_args": {"lr": 0.01}, **scheduler_kwargs}``. Each torch optimiser the wrapper creates
gets its own scheduler, built with ``scheduler_kwargs``; :meth:`PyroLRScheduler.step` steps
them all (``ReduceLROnPlateau`` takes the metric: ``scheduler.step(loss)``).

Example::

    scheduler = ExponentialLR(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.01}, "gamma": 0.1}
    )
    svi = SVI(model, guide, scheduler, loss=Trace_ELBO())
    for epoch in range(epochs):
        for batch in batches:
            svi.step(batch)
        scheduler.step()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim import lr_scheduler as _torch_schedulers

from pyrolite.optim.pyro_optim import ClipArgs, PyroOptim

__all__ = [
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "PyroLRScheduler",
    "ReduceLROnPlateau",
    "StepLR",
    "is_scheduler",
]


def is_scheduler(optimizer: Any) -> bool:
    """Whether a torch object is a learning-rate scheduler wrapping an optimiser (it has an
    ``optimizer`` attribute, as ``ReduceLROnPlateau`` and every ``LRScheduler`` do) rather than
    a plain torch optimiser. Duck-typed like Pyro's: a :class:`PyroLRScheduler` wrapper itself
    is not one (its torch schedulers are)."""
    return hasattr(optimizer, "optimizer")


class PyroLRScheduler(PyroOptim):
    """A :class:`PyroOptim` whose torch optimisers each carry a learning-rate scheduler.

    Args:
        scheduler_constructor: a ``torch.optim.lr_scheduler`` class.
        optim_args: ``{"optimizer": <torch optimiser class>, "optim_args": <dict or callable>,
            **scheduler_kwargs}``; ``optim_args`` is as for :class:`PyroOptim`.
        clip_args: as for :class:`PyroOptim`.

    A torch optimiser stops taking new params once its scheduler has stepped; params that
    appear later get a new optimiser and scheduler whose schedule starts afresh, as each of
    Pyro's per-param optimisers does.
    """

    def __init__(
        self,
        scheduler_constructor: Callable[..., Any],
        optim_args: dict,
        clip_args: ClipArgs = None,
    ) -> None:
        if not isinstance(optim_args, dict) or "optimizer" not in optim_args:
            raise ValueError(
                "a scheduler's optim_args must be a dict with the key 'optimizer' (a torch "
                "optimiser class), 'optim_args' (its arguments) and the scheduler's arguments, "
                "e.g. {'optimizer': torch.optim.SGD, 'optim_args': {'lr': 0.01}, 'gamma': 0.1}"
            )
        kwargs = dict(optim_args)
        optimizer = kwargs.pop("optimizer")
        inner_args = kwargs.pop("optim_args", {})
        self.pt_scheduler_constructor = scheduler_constructor
        self.kwargs = kwargs
        super().__init__(optimizer, inner_args, clip_args)

    def _make_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        return self.pt_scheduler_constructor(optimizer, **self.kwargs)

    def step(self, *args: Any, **kwargs: Any) -> None:
        """Step every scheduler (e.g. once per epoch); arguments go to each ``step``."""
        for slot in self._slots:
            slot.scheduler.step(*args, **kwargs)
            slot.accepting = False

    @property
    def torch_schedulers(self) -> list[Any]:
        """The torch schedulers created so far, one per torch optimiser."""
        return [slot.scheduler for slot in self._slots]


def _scheduler(name: str) -> Callable[..., PyroLRScheduler]:
    cls = getattr(_torch_schedulers, name)

    def wrapper(optim_args: dict, clip_args: ClipArgs = None) -> PyroLRScheduler:
        return PyroLRScheduler(cls, optim_args, clip_args)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = (
        f"Wrap :class:`torch.optim.lr_scheduler.{name}` in a :class:`PyroLRScheduler`; "
        "``optim_args`` holds 'optimizer', 'optim_args' and the scheduler's arguments."
    )
    return wrapper


StepLR = _scheduler("StepLR")
MultiStepLR = _scheduler("MultiStepLR")
ExponentialLR = _scheduler("ExponentialLR")
CosineAnnealingLR = _scheduler("CosineAnnealingLR")
CosineAnnealingWarmRestarts = _scheduler("CosineAnnealingWarmRestarts")
CyclicLR = _scheduler("CyclicLR")
OneCycleLR = _scheduler("OneCycleLR")
LambdaLR = _scheduler("LambdaLR")
MultiplicativeLR = _scheduler("MultiplicativeLR")
ReduceLROnPlateau = _scheduler("ReduceLROnPlateau")
LinearLR = _scheduler("LinearLR")
ConstantLR = _scheduler("ConstantLR")
PolynomialLR = _scheduler("PolynomialLR")
