"""Optimisers for params that appear while a program runs (Pyro's ``pyro.optim``).

``Adam({"lr": 1e-3})`` and friends return a :class:`PyroOptim`; SVI calls it with the
unconstrained leaf tensors to step. Schedulers (``ExponentialLR`` ...) return a
:class:`PyroLRScheduler`.
"""

from pyrolite.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    PyroLRScheduler,
    ReduceLROnPlateau,
    StepLR,
)
from pyrolite.optim.pyro_optim import PyroOptim
from pyrolite.optim.torch_optimizers import (
    ASGD,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    ClippedAdam,
    NAdam,
    RAdam,
    RMSprop,
    Rprop,
)

__all__ = [
    "ASGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ClippedAdam",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "NAdam",
    "OneCycleLR",
    "PolynomialLR",
    "PyroLRScheduler",
    "PyroOptim",
    "RAdam",
    "RMSprop",
    "ReduceLROnPlateau",
    "Rprop",
    "SGD",
    "StepLR",
]
