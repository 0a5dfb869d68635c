"""Pyro's ``pyro.optim.optim`` path: the optimiser wrapper and the scheduler test."""

from pyrolite.optim.lr_scheduler import is_scheduler
from pyrolite.optim.pyro_optim import PyroOptim

__all__ = ["PyroOptim", "is_scheduler"]
