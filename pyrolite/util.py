"""Pyro's ``pyro.util`` path: re-exports of the random-state helpers, NaN/inf checks, trace
checks and small context managers, each from the module that implements it."""

from pyrolite.infer.elbo_checks import check_model_guide_match, check_site_shape
from pyrolite.infer.trace_checks import check_if_enumerated, check_traces_match
from pyrolite.ops.context_helpers import (
    ExperimentalWarning,
    ignore_experimental_warning,
    ignore_jit_warnings,
    jit_iter,
    optional,
    timed,
)
from pyrolite.ops.tensor_checks import (
    torch_float,
    torch_isinf,
    torch_isnan,
    warn_if_inf,
    warn_if_nan,
)
from pyrolite.rng import get_rng_state, set_rng_seed, set_rng_state

__all__ = [
    "ExperimentalWarning",
    "check_if_enumerated",
    "check_model_guide_match",
    "check_site_shape",
    "check_traces_match",
    "get_rng_state",
    "ignore_experimental_warning",
    "ignore_jit_warnings",
    "jit_iter",
    "optional",
    "set_rng_seed",
    "set_rng_state",
    "timed",
    "torch_float",
    "torch_isinf",
    "torch_isnan",
    "warn_if_inf",
    "warn_if_nan",
]
