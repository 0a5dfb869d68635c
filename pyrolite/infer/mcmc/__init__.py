"""Markov chain Monte Carlo: HMC and NUTS with chains batched on one device."""

from pyrolite.infer.mcmc.mcmc import MCMC
from pyrolite.infer.mcmc.potential import ModelPotential, initialize_model

__all__ = ["MCMC", "ModelPotential", "initialize_model"]
