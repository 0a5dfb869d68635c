"""Warmup adaptation of step size and mass matrix, per chain, on Stan's windowed schedule.

Every warmup iteration updates each chain's step size by dual averaging towards the target
acceptance. Inside a slow window each chain's draws feed a Welford (co)variance estimate;
at the window's end that estimate becomes the chain's inverse mass matrix, a reasonable step
size is searched again for the new metric, and dual averaging restarts around it. At the end
of warmup each chain keeps its averaged step size ``exp(log_step_size_avg)``. The structure of
the mass matrix (diagonal, dense, blocks by site, arrowhead) and what its estimate is built from
(draws or gradients) belong to the ``mass_matrix_adapter``
(:mod:`pyrolite.infer.mcmc.mass_blocks`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from pyrolite.infer.mcmc.dual_averaging import (
    DualAveragingState,
    dual_averaging_init,
    dual_averaging_update,
)
from pyrolite.infer.mcmc.integrator import PotentialAndGrad, mass_matrix_sqrt
from pyrolite.infer.mcmc.mass_blocks import ArrowheadMassMatrix, BlockMassMatrix
from pyrolite.infer.mcmc.mass_matrix import WelfordState, welford_init, welford_update
from pyrolite.infer.mcmc.step_size_search import find_reasonable_step_size
from pyrolite.infer.mcmc.warmup_schedule import WarmupSchedule, warmup_schedule

__all__ = ["AdaptState", "ArrowheadMassMatrix", "BlockMassMatrix", "WarmupAdapter"]


class AdaptState(NamedTuple):
    """What warmup carries between iterations (``None`` for a part that is switched off)."""

    schedule: WarmupSchedule
    dual_averaging: DualAveragingState | None
    welford: WelfordState | None


class WarmupAdapter:
    """Adapts the ``step_size`` and ``inverse_mass_matrix`` fields of a kernel state.

    Works on any NamedTuple state with fields ``i, z, potential, grad, step_size,
    inverse_mass_matrix, mass_matrix_sqrt, accept_prob, adapt_state`` (``HMCState``).
    """

    def __init__(
        self,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        target_accept_prob: float = 0.8,
        mass_matrix_adapter: BlockMassMatrix | None = None,
    ) -> None:
        if not 0.0 < target_accept_prob < 1.0:
            raise ValueError(f"target_accept_prob must lie in (0, 1), got {target_accept_prob}")
        self.adapt_step_size = adapt_step_size
        self.adapt_mass_matrix = adapt_mass_matrix
        self.target_accept_prob = target_accept_prob
        self.mass_matrix_adapter = mass_matrix_adapter or BlockMassMatrix()

    def init(self, num_warmup: int, z: Tensor, step_size: Tensor) -> AdaptState:
        """Fresh adaptation state for ``num_warmup`` iterations, chains ``z (C, D)``."""
        schedule = warmup_schedule(num_warmup)
        averaging = dual_averaging_init(step_size) if self.adapt_step_size else None
        adapting_mass = self.adapt_mass_matrix and bool(schedule.slow_windows)
        dense = self.mass_matrix_adapter.dense_storage
        welford = welford_init(z, dense) if adapting_mass else None
        return AdaptState(schedule, averaging, welford)

    def search_step_size(
        self, state: Any, potential_and_grad: PotentialAndGrad, generator: torch.Generator
    ) -> Tensor:
        """A reasonable step size ``(C,)`` for ``state``'s position and metric."""
        return find_reasonable_step_size(
            state.z,
            state.potential,
            state.grad,
            state.step_size,
            state.inverse_mass_matrix,
            state.mass_matrix_sqrt,
            potential_and_grad,
            generator,
        )

    def adapt(
        self, state: Any, potential_and_grad: PotentialAndGrad, generator: torch.Generator
    ) -> Any:
        """Adapt after warmup iteration ``state.i - 1`` (``state`` already holds its draw)."""
        it = state.i - 1
        adapt_state: AdaptState = state.adapt_state
        schedule = adapt_state.schedule
        averaging = adapt_state.dual_averaging
        welford = adapt_state.welford
        step_size = state.step_size
        if averaging is not None:
            averaging = dual_averaging_update(averaging, state.accept_prob, self.target_accept_prob)
            step_size = averaging.log_step_size.exp()
        state = state._replace(step_size=step_size)

        if welford is not None:
            window = _window_containing(schedule, it)
            if window is not None:
                masses = self.mass_matrix_adapter
                welford = welford_update(welford, state.grad if masses.uses_grad else state.z)
                if it == window[1] - 1:
                    inverse_mass_matrix = masses.estimate(welford)
                    masses.record(inverse_mass_matrix)
                    welford = welford_init(state.z, masses.dense_storage)
                    state = state._replace(
                        inverse_mass_matrix=inverse_mass_matrix,
                        mass_matrix_sqrt=mass_matrix_sqrt(inverse_mass_matrix),
                    )
                    if averaging is not None:
                        step_size = self.search_step_size(state, potential_and_grad, generator)
                        averaging = dual_averaging_init(step_size)
                        state = state._replace(step_size=step_size)

        if averaging is not None and it == schedule.num_warmup - 1:
            state = state._replace(step_size=averaging.log_step_size_avg.exp())
        return state._replace(adapt_state=AdaptState(schedule, averaging, welford))


def _window_containing(schedule: WarmupSchedule, it: int) -> tuple[int, int] | None:
    for window in schedule.slow_windows:
        if window[0] <= it < window[1]:
            return window
    return None
