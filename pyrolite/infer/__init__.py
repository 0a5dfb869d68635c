"""Inference: densities of programs (and, as they arrive, SVI and MCMC)."""

from pyrolite.infer.util import log_density, make_log_joint_fn

__all__ = ["log_density", "make_log_joint_fn"]
