"""``plate``: conditionally independent copies of the sites inside it.

Reads: ``type``, ``fn``, ``value``, ``kwargs["event_dim"]`` (param and subsample sites).
Writes: ``cond_indep_stack`` (every site), ``scale`` and ``fn`` (sample sites), ``value``
(param and subsample sites when subsampling).

Vectorised (``with plate(...) as idx``): the plate holds one batch dimension, expands the
distributions inside it to its size there, and scales their log densities by
``size / subsample_size``. Sequential (``for i in plate(...)``): each iteration is its own
independent context, with no tensor dimension.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from pyrolite.poutine.broadcast_messenger import broadcast_to_plates
from pyrolite.poutine.dim_allocator import DIM_ALLOCATOR
from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import _STACK, Message, apply_stack


class CondIndepStackFrame(NamedTuple):
    """One plate as a site sees it: ``name``, ``dim`` (None when sequential), ``size`` (the
    subsample size, i.e. the tensor size at ``dim``), ``counter`` (iteration of a
    sequential plate), ``full_size`` (size of the whole collection)."""

    name: str
    dim: int | None
    size: int
    counter: int
    full_size: int

    @property
    def vectorized(self) -> bool:
        return self.dim is not None


class Subsample:
    """The random subset of indices a subsampling plate draws (recorded as a sample site so
    that ``replay`` reuses it). Its log density is zero: the plate's scale makes the
    subsampled log density an unbiased estimate of the full one."""

    has_rsample = False
    batch_shape = torch.Size()

    def __init__(self, size: int, subsample_size: int, device: Any = None) -> None:
        self.size = size
        self.subsample_size = subsample_size
        self.device = device
        self.event_shape = torch.Size([subsample_size])

    def __call__(self) -> torch.Tensor:
        return torch.randperm(self.size, device=self.device)[: self.subsample_size]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), device=value.device)


class PlateMessenger(Messenger):
    """A plate named ``name`` over a collection of ``size`` elements.

    ``subsample_size`` draws a random subset of that many indices (``subsample`` gives the
    indices explicitly); ``dim`` picks the batch dimension (negative; default: the
    rightmost one free). ``with`` returns the index tensor; iterating yields Python ints.

    Unlike Pyro, a plate that does not subsample sends no message of its own (its indices
    are simply ``arange(size)``), so traces hold a site named after the plate only when it
    draws a random subsample; that keeps plates off the per-step hot path.
    """

    def __init__(
        self,
        name: str,
        size: int | None = None,
        subsample_size: int | None = None,
        subsample: torch.Tensor | None = None,
        dim: int | None = None,
        use_cuda: bool | None = None,
        device: Any = None,
    ) -> None:
        if device is None and use_cuda:
            device = "cuda"
        if subsample is not None:
            subsample = torch.as_tensor(subsample, device=device)
            if subsample.dim() != 1:
                raise ValueError(
                    f"plate {name!r}: subsample must be a 1-d index tensor, "
                    f"got shape {tuple(subsample.shape)}"
                )
            if subsample_size is not None and subsample_size != len(subsample):
                raise ValueError(
                    f"plate {name!r}: subsample_size={subsample_size} disagrees with "
                    f"len(subsample)={len(subsample)}"
                )
            subsample_size = len(subsample)
            if size is None:
                size = subsample_size
        if size is None:
            size = -1  # unknown size: no broadcasting, no scaling
            subsample_size = -1
        else:
            if isinstance(size, torch.Tensor) and size.dim() == 0:
                size = int(size)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"plate {name!r}: size must be a non-negative int, got {size!r}")
        if subsample_size is None or subsample_size > size:
            subsample_size = size
        self.name = name
        self.size = size
        self.subsample_size = subsample_size
        self.device = device
        self._user_dim = dim
        self.dim = dim
        self._scale = size / subsample_size if 0 < subsample_size < size else 1.0
        self._frame: CondIndepStackFrame | None = None
        self._indices = subsample
        if subsample is None and 0 < subsample_size < size:
            msg = Message(
                "sample",
                name,
                Subsample(size, subsample_size, device),
                infer={"_subsample": True},
            )
            self._indices = apply_stack(msg).value if _STACK else msg.fn()

    @property
    def indices(self) -> torch.Tensor:
        """The indices of the elements this plate covers (all of them unless subsampling)."""
        if self._indices is None:
            self._indices = torch.arange(max(self.size, 0), device=self.device)
        return self._indices

    def __enter__(self) -> torch.Tensor:
        self.dim = DIM_ALLOCATOR.allocate(self.name, self._user_dim)
        self._frame = CondIndepStackFrame(self.name, self.dim, self.subsample_size, 0, self.size)
        try:
            super().__enter__()
        except BaseException:
            DIM_ALLOCATOR.free(self.name, self.dim)
            raise
        return self.indices

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        if self._frame is not None and self._frame.dim is not None:
            DIM_ALLOCATOR.free(self.name, self._frame.dim)
        self._frame = None

    def __iter__(self) -> Iterator[int]:
        """Sequential plate: each iteration is an independent context without a dim."""
        for counter, index in enumerate(self.indices.tolist()):
            self._frame = CondIndepStackFrame(
                self.name, None, self.subsample_size, counter, self.size
            )
            Messenger.__enter__(self)
            try:
                yield index
            finally:
                Messenger.__exit__(self, None, None, None)
                self._frame = None

    def __len__(self) -> int:
        return self.subsample_size

    def _process_message(self, msg: Message) -> None:
        msg.cond_indep_stack = (self._frame,) + msg.cond_indep_stack
        if msg.type == "sample":
            if self._scale != 1.0:
                msg.scale = self._scale * msg.scale
            if self._frame.dim is not None:
                broadcast_to_plates(msg)

    def _postprocess_message(self, msg: Message) -> None:
        # Params and ``subsample`` data with a known event_dim are sliced to the subsample.
        if self._scale == 1.0 or self._frame.dim is None:
            return
        if msg.type not in ("param", "subsample"):
            return
        event_dim = msg.kwargs.get("event_dim")
        value = msg.value
        if event_dim is None or not isinstance(value, torch.Tensor):
            return
        dim = self._frame.dim - event_dim
        if value.dim() >= -dim and value.shape[dim] == self.size:
            sliced = value.index_select(dim, self.indices.to(value.device))
            unconstrained = getattr(value, "unconstrained", None)
            if unconstrained is not None:  # keep the link to the param's leaf
                sliced.unconstrained = unconstrained
            msg.value = sliced
