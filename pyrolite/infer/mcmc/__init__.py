"""Markov chain Monte Carlo: HMC and NUTS with chains batched on one device."""

from pyrolite.infer.mcmc.hmc import HMC
from pyrolite.infer.mcmc.mass_blocks import ArrowheadMassMatrix, BlockMassMatrix
from pyrolite.infer.mcmc.mcmc import MCMC
from pyrolite.infer.mcmc.nuts import NUTS
from pyrolite.infer.mcmc.potential import ModelPotential, initialize_model

__all__ = [
    "ArrowheadMassMatrix",
    "BlockMassMatrix",
    "HMC",
    "MCMC",
    "ModelPotential",
    "NUTS",
    "initialize_model",
]
