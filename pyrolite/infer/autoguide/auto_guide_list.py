"""``AutoGuideList``: one guide made of several, each guiding its own part of the model."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch

from pyrolite.infer.autoguide.guide import AutoGuide
from pyrolite.poutine.plate_messenger import PlateMessenger

__all__ = ["AutoGuideList"]

# autoguides already appended to some list (the parts themselves know nothing of lists)
_appended: weakref.WeakSet[AutoGuide] = weakref.WeakSet()


class AutoGuideList(AutoGuide):
    """Calls its parts in order and merges the dicts they return.

    Give each autoguide part the model with the other parts' sites hidden, e.g.::

        guide = AutoGuideList(model)
        guide.append(AutoDelta(poutine.block(model, expose=["scale"])))
        guide.append(AutoNormal(poutine.block(model, hide=["scale"])))

    A part may also be any callable taking the model's arguments (a hand-written guide);
    its return value is merged if it is a dict. Appending an autoguide renames its params:
    its prefix becomes ``"{list prefix}.{index}"`` (e.g. ``"AutoGuideList.1.locs.z"``).
    The list creates the plates once per call and hands them to its autoguide parts, so a
    subsampling plate draws one set of indices for all parts.
    """

    def __init__(
        self,
        model: Callable,
        *,
        create_plates: Callable | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(model, create_plates=create_plates, prefix=prefix)
        self.parts: list[Callable] = []
        self._checked = False

    @property
    def prefix(self) -> str:
        """The first part of the param names; part ``i`` of the list uses ``"{prefix}.{i}"``."""
        return self._prefix

    @prefix.setter
    def prefix(self, value: str) -> None:
        AutoGuide.prefix.fset(self, value)
        for index, part in enumerate(getattr(self, "parts", ())):
            if isinstance(part, AutoGuide):
                part.prefix = f"{value}.{index}"

    def append(self, part: Callable) -> None:
        """Add ``part`` (an autoguide not yet called and not in another list, or a callable)."""
        if isinstance(part, AutoGuide):
            if part in _appended or part is self:
                raise RuntimeError(
                    f"The module `{part.prefix}` is already added: this "
                    f"{type(part).__name__} already belongs to an AutoGuideList"
                )
            if part.prototype_trace is not None:
                raise ValueError(
                    f"append {type(part).__name__} to the AutoGuideList before calling it: "
                    "appending renames its params"
                )
            part.prefix = f"{self.prefix}.{len(self.parts)}"
            _appended.add(part)
        elif not callable(part):
            raise TypeError(f"AutoGuideList.append takes a guide (a callable), got {part!r}")
        self.parts.append(part)

    def add(self, part: Callable) -> None:
        """Same as :meth:`append`."""
        self.append(part)

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[Callable]:
        return iter(self.parts)

    def __getitem__(self, index: int) -> Callable:
        return self.parts[index]

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Run every part inside shared plates; returns the merged ``{name: value}``."""
        self._ensure_setup(args, kwargs)
        return self._call_in_plates(self._create_plates(*args, **kwargs), *args, **kwargs)

    def _call_in_plates(
        self, plates: dict[str, PlateMessenger], *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Run every part inside ``plates`` (also when this list is part of another list)."""
        self._ensure_setup(args, kwargs)
        result: dict[str, torch.Tensor] = {}
        for part in self.parts:
            if isinstance(part, AutoGuide):
                out = part._call_in_plates(plates, *args, **kwargs)
            else:
                out = part(*args, **kwargs)
            if isinstance(out, dict):
                result.update(out)
        if not self._checked:
            self._check_parts()
        return result

    def _check_parts(self) -> None:
        owner: dict[str, int] = {}
        for index, part in enumerate(self.parts):
            if not isinstance(part, AutoGuide) or part.prototype_trace is None:
                continue
            for name in part.prototype_trace.stochastic_nodes:
                if name in owner:
                    raise ValueError(
                        f"AutoGuideList: site {name!r} is guided by parts {owner[name]} and "
                        f"{index}; hide it from all but one part with poutine.block"
                    )
                owner[name] = index
        self._checked = True

    def _merge(self, method: str, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        result: dict[str, torch.Tensor] = {}
        for part in self.parts:
            if isinstance(part, AutoGuide):
                result.update(getattr(part, method)(*args, **kwargs))
        return result

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The autoguide parts' medians, merged (hand-written parts have none)."""
        return self._merge("median", *args, **kwargs)

    def quantiles(
        self, quantiles: list[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """The autoguide parts' quantiles, merged."""
        return self._merge("quantiles", quantiles, *args, **kwargs)
