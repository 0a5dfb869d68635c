"""``jit_compile=True`` for HMC/NUTS: the chain-batched potential and its gradient through
``torch.compile``.

The potential is called tens of thousands of times on tensors of one fixed shape (C, D), so
compiling it once (seconds) removes most of the per-call cost of the model's Python and of
torch's eager dispatch. Distribution validation is off inside (its data-dependent checks
would break the graph; the eager potential switches it off too). If compilation fails, a
warning says so and the eager potential takes over for good.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from pyrolite.distributions.validation import enable_validation, is_validation_enabled
from pyrolite.infer.mcmc.integrator import PotentialAndGrad, potential_and_grad_from
from pyrolite.primitives import validation_enabled


class CompiledPotential:
    """``potential_and_grad(z (C, D)) -> (U (C,), dU/dz (C, D))`` compiled from ``energies``
    (``z (C, D) -> U (C,)``, differentiable); ``eager`` is the fallback with the same
    signature."""

    def __init__(self, energies: Callable[[torch.Tensor], torch.Tensor], eager: PotentialAndGrad):
        self.eager = eager
        self.failed = False
        # torch's compiler switches distribution validation off process-wide when it first
        # sets itself up; keep the user's setting
        validating = is_validation_enabled()
        self.compiled = torch.compile(potential_and_grad_from(energies), dynamic=False)
        enable_validation(validating)

    def __call__(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.failed:
            return self.eager(z)
        try:
            with validation_enabled(False):
                return self.compiled(z)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
            warnings.warn(
                f"torch.compile of the potential failed ({type(err).__name__}: {err}); "
                "continuing with the eager potential",
                stacklevel=2,
            )
            self.failed = True
            return self.eager(z)
