"""Pyro's module path ``pyro.infer.mcmc.api``: the MCMC runner and its helpers.

Re-exports only. Left out, for now: ``StreamingMCMC`` (a later tier), ``AbstractMCMC`` and
the multiprocessing samplers (pyrolite batches chains instead of running processes).
"""

from pyrolite.infer.mcmc.mcmc import MCMC
from pyrolite.infer.mcmc.summary import print_summary
from pyrolite.infer.mcmc.util import diagnostics

__all__ = ["MCMC", "diagnostics", "print_summary"]
