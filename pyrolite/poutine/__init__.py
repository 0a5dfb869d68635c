"""Effect handlers: composable program transformations driven by messages.

See :mod:`pyrolite.poutine.runtime` for how a message travels through the handler stack.
"""

from pyrolite.distributions.validation import enable_validation, is_validation_enabled
from pyrolite.poutine.block_messenger import BlockMessenger
from pyrolite.poutine.broadcast_messenger import BroadcastMessenger
from pyrolite.poutine.condition_messenger import ConditionMessenger
from pyrolite.poutine.do_messenger import DoMessenger
from pyrolite.poutine.escape_messenger import EscapeMessenger
from pyrolite.poutine.handlers import (
    block,
    broadcast,
    condition,
    do,
    escape,
    infer_config,
    lift,
    mask,
    replay,
    scale,
    seed,
    substitute,
    trace,
    uncondition,
)
from pyrolite.poutine.infer_config_messenger import InferConfigMessenger
from pyrolite.poutine.lift_messenger import LiftMessenger
from pyrolite.poutine.mask_messenger import MaskMessenger
from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.plate_messenger import CondIndepStackFrame, PlateMessenger
from pyrolite.poutine.replay_messenger import ReplayMessenger
from pyrolite.poutine.runtime import (
    Message,
    NonlocalExit,
    apply_stack,
    effectful,
    get_mask,
    get_plates,
)
from pyrolite.poutine.scale_messenger import ScaleMessenger
from pyrolite.poutine.seed_messenger import SeedMessenger
from pyrolite.poutine.substitute_messenger import SubstituteMessenger
from pyrolite.poutine.trace_messenger import TraceHandler, TraceMessenger
from pyrolite.poutine.trace_struct import ScoreParts, Trace, scale_and_mask
from pyrolite.poutine.uncondition_messenger import UnconditionMessenger

__all__ = [
    "BlockMessenger",
    "BroadcastMessenger",
    "CondIndepStackFrame",
    "ConditionMessenger",
    "DoMessenger",
    "EscapeMessenger",
    "InferConfigMessenger",
    "LiftMessenger",
    "MaskMessenger",
    "Message",
    "Messenger",
    "NonlocalExit",
    "PlateMessenger",
    "ReplayMessenger",
    "ScaleMessenger",
    "ScoreParts",
    "SeedMessenger",
    "SubstituteMessenger",
    "Trace",
    "TraceHandler",
    "TraceMessenger",
    "UnconditionMessenger",
    "apply_stack",
    "block",
    "broadcast",
    "condition",
    "do",
    "effectful",
    "enable_validation",
    "escape",
    "get_mask",
    "get_plates",
    "infer_config",
    "is_validation_enabled",
    "lift",
    "mask",
    "replay",
    "scale",
    "scale_and_mask",
    "seed",
    "substitute",
    "trace",
    "uncondition",
]
