"""Arithmetic that accepts plain numbers as well as tensors (an ELBO term may be the number
``0``), gradient bookkeeping, and the reparameterisation check of guides that need pathwise
gradients everywhere."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from pyrolite.distributions.util import is_identically_zero
from pyrolite.poutine.runtime import Message

__all__ = [
    "check_fully_reparametrized",
    "torch_backward",
    "torch_exp",
    "torch_item",
    "zero_grads",
]


def torch_item(x: Any) -> float:
    """``x.item()`` for a tensor; a number is returned as it is."""
    return x.item() if isinstance(x, torch.Tensor) else x


def torch_backward(x: Any, retain_graph: bool | None = None) -> None:
    """``x.backward()`` when ``x`` is a tensor with a graph; a no-op for numbers and for
    tensors that do not require grad."""
    if isinstance(x, torch.Tensor) and x.grad_fn is not None:
        x.backward(retain_graph=retain_graph)


def torch_exp(x: Any) -> Any:
    """``torch.exp`` for a tensor, ``math.exp`` for a number."""
    return torch.exp(x) if isinstance(x, torch.Tensor) else math.exp(x)


def zero_grads(tensors: Iterable[torch.Tensor]) -> None:
    """Replace each tensor's ``.grad`` (where it has one) by zeros."""
    for tensor in tensors:
        if tensor.grad is not None:
            tensor.grad = torch.zeros_like(tensor.grad)


def check_fully_reparametrized(guide_site: Message) -> None:
    """``NotImplementedError`` unless the guide site is reparameterised: its distribution
    has ``rsample`` and its score parts have an entropy term and no score-function term."""
    _, score_function, entropy = guide_site["score_parts"]
    if not (
        guide_site.fn.has_rsample
        and not is_identically_zero(entropy)
        and is_identically_zero(score_function)
    ):
        raise NotImplementedError("All distributions in the guide must be fully reparameterized.")
