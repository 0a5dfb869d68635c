"""Device names for placement: parse ``"cpu"``, ``"cuda:i"``, ``"xla:i"``, check they exist.

torch_xla is optional: it is imported only when an ``xla`` device is asked for, so pyrolite
imports on machines without it.
"""

from __future__ import annotations

import torch

__all__ = ["available_devices", "resolve_device", "sync_devices", "xla_device_count"]

DeviceLike = str | torch.device

_XLA_HINT = (
    "install torch_xla (pip install 'pyrolite[xla]', torch_xla exists for specific torch "
    "versions such as 2.9) and, on a machine without TPUs, set PJRT_DEVICE=CPU "
    "CPU_NUM_DEVICES=4 for four virtual devices"
)


def xla_device_count() -> int:
    """The number of XLA devices this process sees (0 when torch_xla is not importable)."""
    try:
        import torch_xla
        import torch_xla.core.xla_model as xm
    except ImportError:
        return 0
    count = getattr(torch_xla, "device_count", None)
    if count is not None:
        return int(count())
    return len(xm.get_xla_supported_devices())


def resolve_device(spec: DeviceLike) -> torch.device:
    """``"cpu"``, ``"cuda:1"``, ``"xla:0"`` or a ``torch.device`` -> a checked ``torch.device``.

    A device type without an index means index 0 (``"cuda"`` is ``cuda:0``). Raises
    ``ValueError`` for strings that name no device and ``RuntimeError`` for a device that this
    machine does not have, naming it and how to fix the call.
    """
    if isinstance(spec, torch.device):
        device = spec
    elif isinstance(spec, str):
        try:
            device = torch.device(spec)
        except RuntimeError as e:
            raise ValueError(
                f"unknown device {spec!r}: use 'cpu', 'cuda:i', 'xla:i' or a torch.device"
            ) from e
    else:
        raise TypeError(f"a device must be a string or a torch.device, got {type(spec).__name__}")
    if device.type == "cpu":
        return torch.device("cpu")
    index = 0 if device.index is None else device.index
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise RuntimeError(
                f"device cuda:{index} is not available: this machine has {count} CUDA "
                f"device(s); pass devices that exist (e.g. available_devices()) or 'cpu'"
            )
        return torch.device("cuda", index)
    if device.type == "xla":
        count = xla_device_count()
        if count == 0:
            raise RuntimeError(f"device xla:{index} is not available: {_XLA_HINT}")
        if index >= count:
            raise RuntimeError(
                f"device xla:{index} is not available: this process sees {count} XLA "
                f"device(s) (xla:0..xla:{count - 1}); pass devices that exist, or raise "
                "CPU_NUM_DEVICES for virtual CPU devices"
            )
        return torch.device("xla", index)
    raise ValueError(
        f"unsupported device {spec!r} (type {device.type!r}): use 'cpu', 'cuda:i' or 'xla:i'"
    )


def available_devices() -> list[torch.device]:
    """All XLA devices if torch_xla sees any, else all CUDA devices, else ``[cpu]``."""
    count = xla_device_count()
    if count:
        return [torch.device("xla", i) for i in range(count)]
    if torch.cuda.is_available() and torch.cuda.device_count():
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    return [torch.device("cpu")]


def sync_devices(devices: list[DeviceLike]) -> None:
    """End the step on XLA devices: run and cut the lazy graphs (a no-op for cpu and cuda).

    torch_xla records operations lazily; params updated in place by an optimiser carry the
    whole history of updates until a sync, so each step would get slower. Call this after
    every optimiser step (e.g. after ``svi.step(...)``) when any param lives on XLA.
    """
    if not any(torch.device(d).type == "xla" for d in devices):
        return
    import torch_xla

    sync = getattr(torch_xla, "sync", None)
    if sync is not None:
        sync()
    else:
        import torch_xla.core.xla_model as xm

        xm.mark_step()
