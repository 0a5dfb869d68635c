"""The MCMC progress bar: phase, mean step size, acceptance, divergences, leapfrog steps.

The running sums stay on the device as tensors; the bar reads them (one host-device sync)
only every ``refresh`` iterations, so it adds no synchronisation per iteration.
"""

from __future__ import annotations

from typing import Any

import torch


class ProgressBar:
    """A tqdm bar over ``warmup + samples`` iterations of C chains (or a no-op when
    ``enabled`` is False). Call :meth:`update` with each new kernel state."""

    def __init__(
        self, num_warmup: int, num_samples: int, enabled: bool, label: str = "", refresh: int = 10
    ) -> None:
        self.num_warmup = num_warmup
        self.label = label
        self.refresh = refresh
        self.bar = None
        self._pending = 0
        self._divergences: torch.Tensor | int = 0
        self._accept: torch.Tensor | float = 0.0
        self._steps: torch.Tensor | float = 0.0
        self._count = 0
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=num_warmup + num_samples, desc=self._phase(0), leave=True)

    def _phase(self, i: int) -> str:
        phase = "Warmup" if i < self.num_warmup else "Sample"
        return f"{phase} {self.label}".rstrip()

    def update(self, i: int, state: Any) -> None:
        """Record iteration ``i`` (0-based) whose new state is ``state``."""
        if self.bar is None:
            return
        if i == self.num_warmup:  # phase change: the averages restart
            self._divergences, self._accept, self._steps, self._count = 0, 0.0, 0.0, 0
        self._divergences = self._divergences + state.diverging.sum()
        self._accept = self._accept + state.accept_prob.mean()
        self._steps = self._steps + state.num_steps.float().mean()
        self._count += 1
        self._pending += 1
        last = i + 1 == self.bar.total
        if self._pending >= self.refresh or last or i + 1 == self.num_warmup:
            self.bar.set_description(self._phase(i), refresh=False)
            self.bar.set_postfix(
                step_size=f"{float(state.step_size.float().mean()):.2e}",
                acc=f"{float(self._accept) / self._count:.2f}",
                div=int(self._divergences),
                steps=f"{float(self._steps) / self._count:.1f}",
                refresh=False,
            )
            self.bar.update(self._pending)
            self._pending = 0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
