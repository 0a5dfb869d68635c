"""Pyro's ``pyro.poutine.util`` path: re-exports of the site predicates, the escape and
trace-extension helpers, and the validation switch (pyrolite has one switch for
distributions, handlers and inference)."""

from pyrolite.distributions.validation import enable_validation, is_validation_enabled
from pyrolite.poutine.partial_traces import (
    all_escape,
    discrete_escape,
    enum_extend,
    mc_extend,
    prune_subsample_sites,
    site_is_factor,
    site_is_subsample,
)

__all__ = [
    "all_escape",
    "discrete_escape",
    "enable_validation",
    "enum_extend",
    "is_validation_enabled",
    "mc_extend",
    "prune_subsample_sites",
    "site_is_factor",
    "site_is_subsample",
]
