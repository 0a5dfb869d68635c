"""The handler that evaluates a model's log joint at an unconstrained point (one chain).

Reads: ``name``, ``fn``, ``is_observed``, ``infer``, ``scale``, ``mask``, ``value``.
Writes: ``value``, ``done`` (latent sites).
"""

from __future__ import annotations

import torch

from pyrolite.distributions import biject_to
from pyrolite.distributions.constraint_registry import is_identity
from pyrolite.distributions.score_parts import scale_and_mask
from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.site_errors import DENSITY_ERRORS, raise_density_error
from pyrolite.poutine.trace_struct import is_latent, is_subsample


class PotentialMessenger(Messenger):
    """Sets each latent site from its slice of the flat unconstrained vector ``z`` (D,) and
    sums the model's scaled, masked log density into ``log_joint`` and the constraining
    transforms' log|det J| into ``log_det``.

    ``layout`` maps a latent site name to ``(start, stop, unconstrained_shape)``. The
    transform is ``biject_to`` of the support seen in this run, so a support that depends on
    other latents is followed. With ``record=True`` the constrained latent values and
    ``deterministic`` sites are kept in ``values``. ``transforms`` ({site: transform from the
    support to the reals}, Pyro's kernel ``transforms``) replaces ``biject_to`` for the sites
    it names.

    With ``nesting`` given, ``z`` is ``(C, D)`` for all chains at once: each latent value gets
    the chain dim at ``-(nesting + 1)`` left of its event dims (as an outer plate would put
    it; ``nesting`` is the largest batch rank of the model's sites) and ``log_joint`` and
    ``log_det`` are per chain, ``(C,)``.
    """

    def __init__(
        self,
        z: torch.Tensor,
        layout: dict[str, tuple[int, int, torch.Size]],
        record: bool,
        nesting: int | None = None,
        transforms: dict | None = None,
    ) -> None:
        self.z = z
        self.transforms = transforms
        self.layout = layout
        self.record = record
        self.nesting = nesting
        self.log_joint: torch.Tensor | float = 0.0
        self.log_det: torch.Tensor | float = 0.0
        self.values: dict[str, torch.Tensor] = {}

    def _pyro_sample(self, msg: Message) -> None:
        if msg.value is not None or not is_latent(msg):
            return
        slot = self.layout.get(msg.name)
        if slot is None:
            raise ValueError(
                f"latent site {msg.name!r} did not appear in the model's first run (its "
                f"latent sites were {sorted(self.layout)}); MCMC needs the same latent sites "
                "in every run of the model"
            )
        start, stop, shape = slot
        overrides = self.transforms
        if overrides is not None and msg.name in overrides:
            transform = overrides[msg.name].inv
        else:
            transform = biject_to(msg.fn.support)
        if is_identity(transform):  # real support: no transform, no Jacobian
            value = self.z[start:stop] if self.nesting is None else self.z[:, start:stop]
            msg.value = value.reshape(self._shape(shape, transform))
            msg.done = True
            return
        if self.nesting is None:
            unconstrained = self.z[start:stop].reshape(shape)
            value = transform(unconstrained)
            log_det = transform.log_abs_det_jacobian(unconstrained, value).sum()
        else:
            unconstrained = self.z[:, start:stop].reshape(self._shape(shape, transform))
            value = transform(unconstrained)
            log_det = transform.log_abs_det_jacobian(unconstrained, value)
            log_det = log_det.reshape(self.z.shape[0], -1).sum(-1)
        self.log_det = self.log_det + log_det
        msg.value = value
        msg.done = True

    def _shape(self, shape: torch.Size, transform: torch.distributions.Transform) -> tuple:
        """The shape of a latent's unconstrained value: its own, or with the chain dim."""
        if self.nesting is None:
            return shape
        pad = (1,) * (self.nesting - (len(shape) - transform.domain.event_dim))
        return (self.z.shape[0],) + pad + tuple(shape)

    def _pyro_post_sample(self, msg: Message) -> None:
        infer = msg.infer
        if infer.get("_deterministic", False):
            if self.record:
                self.values[msg.name] = msg.value
            return
        if is_subsample(msg):
            return
        try:
            log_p = msg.fn.log_prob(msg.value, *msg.args, **msg.kwargs)
        except DENSITY_ERRORS as err:
            raise_density_error(msg, "log_prob", err, "(while computing the MCMC potential)")
        log_p = scale_and_mask(log_p, msg.scale, msg.mask)
        if self.nesting is None or log_p.dim() <= self.nesting:
            log_p = log_p.sum()  # the same term for every chain
        else:
            log_p = log_p.reshape(log_p.shape[0], -1).sum(-1)
        self.log_joint = self.log_joint + log_p
        if self.record and not msg.is_observed:
            self.values[msg.name] = msg.value
