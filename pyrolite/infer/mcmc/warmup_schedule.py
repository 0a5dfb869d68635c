"""Stan's windowed warmup schedule.

Warmup is split into an initial fast buffer (step size only), a series of slow windows (the
mass matrix is estimated over each and updated at its end), and a terminal fast buffer. Slow
windows start at ``base_window`` iterations and double; a window is stretched to the terminal
buffer when the window after it would not fit. For example ``num_warmup=1000`` gives the
buffer 0-75, windows of 25, 50, 100, 200 and 500 iterations, and the buffer 950-1000.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["WarmupSchedule", "warmup_schedule"]


class WarmupSchedule(NamedTuple):
    """Iteration indices (0-based, half-open ``[start, end)``) of each phase of warmup."""

    num_warmup: int
    init_buffer: int
    slow_windows: tuple[tuple[int, int], ...]
    term_buffer: int


def warmup_schedule(
    num_warmup: int, init_buffer: int = 75, term_buffer: int = 50, base_window: int = 25
) -> WarmupSchedule:
    """The windows Stan uses for ``num_warmup`` iterations.

    When the three phases do not fit (``init_buffer + base_window + term_buffer >
    num_warmup``) Stan switches to 15% / 75% / 10% of warmup with one slow window; under 20
    warmup iterations it adapts no mass matrix at all (no slow windows).
    """
    if num_warmup < 0:
        raise ValueError(f"num_warmup must be >= 0, got {num_warmup}")
    if num_warmup < 20:
        return WarmupSchedule(num_warmup, num_warmup, (), 0)
    if init_buffer + base_window + term_buffer > num_warmup:
        init_buffer = int(0.15 * num_warmup)
        term_buffer = int(0.1 * num_warmup)
        base_window = num_warmup - (init_buffer + term_buffer)
    slow_end = num_warmup - term_buffer
    windows = [(init_buffer, init_buffer + base_window)]
    size = base_window
    while windows[-1][1] < slow_end:
        start = windows[-1][1]
        size *= 2
        end = start + size
        # Stretch this window to the terminal buffer when the next (twice as long) would not fit.
        if end + 2 * size > slow_end:
            end = slow_end
        windows.append((start, end))
    return WarmupSchedule(num_warmup, init_buffer, tuple(windows), term_buffer)
