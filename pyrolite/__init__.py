"""pyrolite: deep probabilistic programming on PyTorch with Pyro's API.

``import pyrolite as pyro`` gives the primitives (``sample``, ``param``, ``plate``, ...),
the param store helpers and the subpackages, under the names Pyro uses.
"""

from pyrolite import distributions, infer, optim, poutine
from pyrolite.params import get_param_store
from pyrolite.poutine import condition, do
from pyrolite.primitives import (
    barrier,
    clear_param_store,
    deterministic,
    enable_validation,
    factor,
    is_validation_enabled,
    module,
    param,
    plate,
    plate_stack,
    sample,
    set_rng_seed,
    subsample,
    validation_enabled,
)
from pyrolite.rng import get_rng_state, set_rng_state

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "barrier",
    "clear_param_store",
    "condition",
    "deterministic",
    "distributions",
    "do",
    "enable_validation",
    "factor",
    "get_param_store",
    "get_rng_state",
    "infer",
    "is_validation_enabled",
    "module",
    "optim",
    "param",
    "plate",
    "plate_stack",
    "poutine",
    "sample",
    "set_rng_seed",
    "set_rng_state",
    "subsample",
    "validation_enabled",
]
