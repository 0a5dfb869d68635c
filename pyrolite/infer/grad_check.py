"""The check that an SVI step's gradients are finite before the optimiser uses them.

The healthy path costs one fused pass over all gradients and one host sync. Only when that
norm is NaN or infinite does the slow path run: it finds the params whose gradient holds a
non-finite entry, then re-runs the guide and the model (replayed against the guide) and
differentiates each sample site's log density alone, to name the sites through which the
bad gradient flows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from pyrolite import poutine
from pyrolite.infer.elbo import model_and_guide_traces


def check_finite_grads(
    params: dict[str, torch.Tensor],
    model: Callable,
    guide: Callable,
    args: tuple,
    kwargs: dict,
    loss: float | None = None,
) -> None:
    """Raise ``ValueError`` if the ``.grad`` of any leaf in ``params`` holds NaN or +-inf.

    ``params`` maps param names to their unconstrained leaf tensors (any shapes); ``loss`` is
    the step's loss value, which the message reports when given. On failure every gradient
    is cleared first, so the optimiser does not step and the caller may continue; the
    message names the params and, where a fresh run of ``guide`` and ``model`` on
    ``args``/``kwargs`` reproduces the fault, the sample sites involved.
    """
    grads = [g for g in (p.grad for p in params.values()) if g is not None]
    if not grads or _all_finite(grads):
        return
    bad = [n for n, p in params.items() if p.grad is not None and not _finite(p.grad)]
    if not bad:
        return
    for p in params.values():
        p.grad = None
    sites = _sites_with_nonfinite_grads([params[n] for n in bad], model, guide, args, kwargs)
    where = (
        ", ".join(sites)
        if sites
        else "no single site on a fresh draw (the fault depends on the random draw, "
        "or arises where site terms are combined)"
    )
    raise ValueError(
        f"the gradient of param(s) {bad} is NaN or infinite{_loss_clause(loss)}; "
        f"the log densities of {where} give the non-finite gradient. The optimiser did not "
        "step and the gradients were cleared. "
        + (
            "Look for a log density that is -inf or NaN (a value outside the support, a "
            "scale that reached 0, a learning rate that is too high) or an overflow in the "
            "loss, and keep the loss finite."
            if loss is not None and not math.isfinite(loss)
            else "Look for an operation whose derivative is infinite or undefined where it "
            "was evaluated (sqrt or log at 0, abs at 0 under another singular op, an "
            "unselected torch.where branch that is NaN/inf) and make it safe (clamp its "
            "input, or mask the input of the unselected branch)."
        )
    )


def _loss_clause(loss: float | None) -> str:
    if loss is None:
        return ""
    if math.isfinite(loss):
        return " although the loss is finite"
    return f" and so is the loss ({loss})"


def _all_finite(grads: list[torch.Tensor]) -> bool:
    """Whether every entry of ``grads`` is finite: one fused pass and one host sync per
    device (torch's check behind GradScaler; multiplying by 1 leaves the grads unchanged)."""
    by_device: dict[torch.device, list[torch.Tensor]] = {}
    for g in grads:
        by_device.setdefault(g.device, []).append(g)
    return all(_all_finite_on_one_device(group) for group in by_device.values())


def _all_finite_on_one_device(grads: list[torch.Tensor]) -> bool:
    device = grads[0].device
    found = torch.zeros(1, device=device)
    try:
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found, torch.ones(1, device=device))
        return not bool(found)
    except Exception:  # noqa: BLE001 - sparse grads, or a backend the fused check does not
        pass  # cover (its error types differ by backend): one sync per grad instead
    return all(_finite(g) for g in grads)


def _finite(grad: torch.Tensor) -> bool:
    values = grad.coalesce().values() if grad.is_sparse else grad
    return bool(values.isfinite().all())


def _sites_with_nonfinite_grads(
    leaves: list[torch.Tensor], model: Callable, guide: Callable, args: tuple, kwargs: dict
) -> list[str]:
    """Sample sites whose own log density has a non-finite gradient w.r.t. ``leaves``."""
    try:
        with torch.enable_grad(), poutine.block():
            model_trace, guide_trace = model_and_guide_traces(model, guide, args, kwargs)
            found = []
            for kind, trace in (("model", model_trace), ("guide", guide_trace)):
                for name, site in trace.nodes.items():
                    if site.type != "sample":
                        continue
                    log_p = trace.site_log_prob_sum(site)
                    if _has_nonfinite_grad(log_p, leaves):
                        found.append(f"{kind} site {name!r}")
            return found
    except Exception:  # noqa: BLE001 - locating is best effort; the caller still raises
        return []


def _has_nonfinite_grad(value: Any, leaves: list[torch.Tensor]) -> bool:
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        return False
    grads = torch.autograd.grad(value, leaves, retain_graph=True, allow_unused=True)
    return any(g is not None and not bool(torch.isfinite(g).all()) for g in grads)
