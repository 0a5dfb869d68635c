"""Parallelism: flow stages placed across devices, data-parallel SVI over torch.distributed."""

from pyrolite.parallel.devices import available_devices, resolve_device, sync_devices
from pyrolite.parallel.distributed_flow import DistributedFlow, place_stages
from pyrolite.parallel.distributed_svi import DistributedSVI

__all__ = [
    "DistributedFlow",
    "DistributedSVI",
    "available_devices",
    "place_stages",
    "resolve_device",
    "sync_devices",
]
