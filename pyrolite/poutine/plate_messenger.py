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
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch

from pyrolite.distributions.validation import is_validation_enabled
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
    """The distribution of the indices a plate covers: a random subset of ``subsample_size``
    of ``range(size)`` (all of them, in order, when not subsampling). The plate records it
    as a sample site named after itself, so that ``replay`` and ``condition`` can set the
    indices. Its log density is zero: the plate's scale makes the subsampled log density an
    unbiased estimate of the full one.

    It answers the distribution interface handlers use: ``batch_shape``, ``event_shape``
    (``(subsample_size,)``), ``sample``, ``log_prob`` (zeros of ``batch_shape``), ``expand``
    (an enclosing plate broadcasting it changes only ``batch_shape``: the indices stay one
    1-d tensor).
    """

    has_rsample = False
    has_enumerate_support = False
    event_dim = 1

    def __init__(
        self,
        size: int,
        subsample_size: int | None,
        device: Any = None,
        batch_shape: tuple = (),
    ) -> None:
        self.size = size
        self.subsample_size = size if subsample_size is None else subsample_size
        self.device = device
        self.batch_shape = torch.Size(batch_shape)
        self.event_shape = torch.Size([self.subsample_size])

    def sample(self, sample_shape: tuple = ()) -> torch.Tensor:
        """The indices, a long tensor of shape ``(subsample_size,)``."""
        if sample_shape:
            raise NotImplementedError("a plate draws one subsample; sample_shape must be ()")
        if self.subsample_size >= self.size:
            return torch.arange(self.size, device=self.device)
        return torch.randperm(self.size, device=self.device)[: self.subsample_size]

    __call__ = sample

    def log_prob(self, value: Any) -> torch.Tensor:
        return torch.zeros(self.batch_shape, device=self.device)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Subsample:
        return Subsample(self.size, self.subsample_size, self.device, torch.Size(batch_shape))

    def shape(self, sample_shape: tuple = ()) -> torch.Size:
        return torch.Size(sample_shape) + self.batch_shape + self.event_shape

    def __repr__(self) -> str:
        return f"Subsample(size={self.size}, subsample_size={self.subsample_size})"


def _index_tensor(indices: Any, device: Any) -> torch.Tensor:
    if isinstance(indices, torch.Tensor):
        return indices
    return torch.as_tensor(list(indices), dtype=torch.long, device=device)


class PlateMessenger(Messenger):
    """A plate named ``name`` over a collection of ``size`` elements.

    ``subsample_size`` draws a random subset of that many indices; ``subsample`` gives the
    indices explicitly (anything with ``len()``; ``with`` then returns it as given). ``dim``
    picks the batch dimension (negative; default: the rightmost one free). ``with`` returns
    the indices; iterating yields the indices one by one (Python ints for a tensor).

    As in Pyro, a plate of known size records its indices as a sample site named ``name``
    (distribution :class:`Subsample`), when it is built; a replayed or conditioned value of
    that site becomes the plate's indices.
    """

    def __init__(
        self,
        name: str,
        size: int | None = None,
        subsample_size: int | None = None,
        subsample: Any = None,
        dim: int | None = None,
        use_cuda: bool | None = None,
        device: Any = None,
    ) -> None:
        if device is None and use_cuda:
            device = "cuda"
        if subsample is not None:
            if isinstance(subsample, torch.Tensor) and subsample.dim() != 1:
                raise ValueError(
                    f"plate {name!r}: subsample must be a 1-d index tensor, "
                    f"got shape {tuple(subsample.shape)}"
                )
            if size is None:
                size = len(subsample)
        if size is None:
            size = -1  # unknown size: no broadcasting, no scaling
            subsample_size = -1
        else:
            if isinstance(size, torch.Tensor) and size.dim() == 0:
                size = int(size)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"plate {name!r}: size must be a non-negative int, got {size!r}")
            if size == 0:
                raise ZeroDivisionError(f"plate {name!r}: size cannot be zero")
            if subsample_size is not None and subsample_size > size:
                subsample_size = size
            subsample = self._draw_indices(name, size, subsample_size, subsample, device)
            if subsample_size is None:
                subsample_size = len(subsample)
            elif subsample_size != len(subsample):
                raise ValueError(
                    f"subsample_size does not match len(subsample), {subsample_size} vs "
                    f"{len(subsample)} (plate {name!r}). Did you accidentally use different "
                    "subsample_size in the model and guide?"
                )
        self.name = name
        self.size = size
        self.subsample_size = subsample_size
        self.device = device
        self._user_dim = dim
        self.dim = dim
        self._scale = size / subsample_size if 0 < subsample_size < size else 1.0
        self._frame: CondIndepStackFrame | None = None
        self._indices = subsample
        self._index_tensor: torch.Tensor | None = None

    @staticmethod
    def _draw_indices(
        name: str, size: int, subsample_size: int | None, subsample: Any, device: Any
    ) -> Any:
        """The plate's indices: ``subsample`` or a fresh draw, through the handler stack."""
        fn = Subsample(size, subsample_size, device)
        if not _STACK:
            return fn.sample() if subsample is None else subsample
        msg = Message("sample", name, fn, value=subsample, infer={"_subsample": True})
        return apply_stack(msg).value

    @property
    def indices(self) -> Any:
        """The indices of the elements this plate covers (all of them unless subsampling)."""
        if self._indices is None:
            self._indices = torch.arange(max(self.size, 0), device=self.device)
        return self._indices

    def _indices_as_tensor(self) -> torch.Tensor:
        if self._index_tensor is None:
            self._index_tensor = _index_tensor(self.indices, self.device)
        return self._index_tensor

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
        indices = self.indices
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        for counter, index in enumerate(indices):
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
        # Params and ``subsample`` data with a known event_dim are checked against the plate
        # and sliced to the subsample.
        if msg.type not in ("param", "subsample") or self._frame.dim is None:
            return
        event_dim = msg.kwargs.get("event_dim")
        value = msg.value
        if event_dim is None or not isinstance(value, torch.Tensor):
            return
        dim = self._frame.dim - event_dim
        if value.dim() < -dim or value.shape[dim] == 1:
            return
        if value.shape[dim] != self.size:
            if is_validation_enabled():
                statement = (
                    f"pyro.param({msg.name}, ..., event_dim={event_dim})"
                    if msg.type == "param"
                    else f"pyro.subsample(..., event_dim={event_dim})"
                )
                raise ValueError(
                    f"Inside pyro.plate({self.name}, {self.size}, dim={self._frame.dim}) "
                    f"invalid shape of {statement}: {tuple(value.shape)}"
                )
            return
        if self._scale == 1.0:
            return
        sliced = value.index_select(dim, self._indices_as_tensor().to(value.device))
        unconstrained = getattr(value, "unconstrained", None)
        if unconstrained is not None:  # keep the link to the param's leaf
            sliced.unconstrained = unconstrained
        msg.value = sliced


@contextmanager
def block_plate(
    name: str | None = None, dim: int | None = None, *, strict: bool = True
) -> Iterator[None]:
    """Hide one enclosing plate, chosen by ``name`` or by ``dim`` (exactly one of them), from
    the sites inside this context: they get neither its dim nor its scale. Use it to draw a
    global variable lazily inside a plate::

        with pyro.plate("data", len(data)):
            with block_plate("data"):
                scale = pyro.sample("scale", dist.LogNormal(0, 1))  # not batched
            pyro.sample("x", dist.Normal(loc, scale), obs=data)

    With ``strict=True`` (default) it is a ``ValueError`` unless exactly one plate matches.
    The plate keeps its dim, so no other plate inside can take it.
    """
    if (name is None) == (dim is None):
        raise ValueError("Exactly one of name,dim must be specified")
    if dim is not None and (not isinstance(dim, int) or dim >= 0):
        raise ValueError(f"block_plate: dim must be a negative int, got {dim!r}")

    def matches(frame: Messenger) -> bool:
        if not isinstance(frame, PlateMessenger):
            return False
        return frame.name == name if name is not None else frame.dim == dim

    blocked = {i: frame for i, frame in enumerate(_STACK) if matches(frame)}
    if strict and len(blocked) != 1:
        raise ValueError(
            f"block_plate matched {len(blocked)} messengers. Try either removing the "
            "block_plate or setting strict=False."
        )
    try:
        for i in blocked:
            _STACK[i] = Messenger()  # a handler that does nothing holds the place
        yield
    finally:
        for i, frame in blocked.items():
            _STACK[i] = frame
