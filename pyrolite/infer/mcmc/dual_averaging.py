"""Nesterov dual averaging of the log step size, one scheme per chain (Hoffman & Gelman 2014).

With ``H_t`` the running mean of ``target - accept_prob`` (weighted by ``1 / (t + t0)``), the
iterate is ``x_t = mu - sqrt(t) / gamma * H_t`` and its average
``xbar_t = t^-kappa x_t + (1 - t^-kappa) xbar_{t-1}``. During warmup the sampler uses
``exp(x_t)``; after warmup it keeps ``exp(xbar_t)``. Stan's constants: gamma 0.05, t0 10,
kappa 0.75, ``mu = log(10 * initial_step_size)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["DualAveragingState", "dual_averaging_init", "dual_averaging_update"]

GAMMA = 0.05
T0 = 10.0
KAPPA = 0.75


class DualAveragingState(NamedTuple):
    """Per-chain dual averaging state; tensors are ``(C,)``, ``t`` counts updates."""

    log_step_size: Tensor
    log_step_size_avg: Tensor
    grad_avg: Tensor
    mu: Tensor
    t: int


def dual_averaging_init(step_size: Tensor) -> DualAveragingState:
    """Start (or restart) the scheme around ``step_size (C,)``, with ``mu = log(10 * eps)``."""
    log_step = step_size.log()
    zeros = torch.zeros_like(log_step)
    return DualAveragingState(log_step, zeros, zeros, log_step + math.log(10.0), 0)


def dual_averaging_update(
    state: DualAveragingState, accept_prob: Tensor, target_accept_prob: float
) -> DualAveragingState:
    """One update from this iteration's acceptance statistic ``accept_prob (C,)``.

    ``exp(state.log_step_size)`` is the step size to use next.
    """
    t = state.t + 1
    eta = 1.0 / (t + T0)
    # A NaN statistic (a chain whose energy blew up) counts as zero acceptance.
    accept = torch.nan_to_num(accept_prob, nan=0.0)
    grad_avg = (1.0 - eta) * state.grad_avg + eta * (target_accept_prob - accept)
    log_step = state.mu - (math.sqrt(t) / GAMMA) * grad_avg
    weight = t ** (-KAPPA)
    log_step_avg = weight * log_step + (1.0 - weight) * state.log_step_size_avg
    return DualAveragingState(log_step, log_step_avg, grad_avg, state.mu, t)
