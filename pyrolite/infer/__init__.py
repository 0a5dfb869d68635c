"""Inference: SVI and the ELBO family, MCMC, and densities of programs."""

from pyrolite.infer import autoguide, mcmc
from pyrolite.infer.elbo import ELBO
from pyrolite.infer.importance import Importance
from pyrolite.infer.mcmc import HMC, MCMC, NUTS
from pyrolite.infer.predictive import Predictive
from pyrolite.infer.renyi_elbo import RenyiELBO
from pyrolite.infer.svi import SVI
from pyrolite.infer.trace_elbo import JitTrace_ELBO, Trace_ELBO
from pyrolite.infer.trace_mean_field_elbo import TraceMeanField_ELBO
from pyrolite.infer.tracegraph_elbo import TraceGraph_ELBO
from pyrolite.infer.util import (
    enable_validation,
    is_validation_enabled,
    log_density,
    make_log_joint_fn,
)

__all__ = [
    "ELBO",
    "autoguide",
    "Importance",
    "HMC",
    "JitTrace_ELBO",
    "MCMC",
    "NUTS",
    "Predictive",
    "RenyiELBO",
    "SVI",
    "TraceGraph_ELBO",
    "TraceMeanField_ELBO",
    "Trace_ELBO",
    "enable_validation",
    "is_validation_enabled",
    "log_density",
    "mcmc",
    "make_log_joint_fn",
]
