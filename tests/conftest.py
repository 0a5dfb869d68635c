import pytest

import pyrolite as pyro
from pyrolite.poutine.dim_allocator import DIM_ALLOCATOR
from pyrolite.poutine.runtime import _STACK


@pytest.fixture(autouse=True)
def fresh_state():
    """Every test starts with an empty param store, a seed, and no active handler."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    pyro.enable_validation(True)
    yield
    validation_left_on = pyro.is_validation_enabled()
    pyro.enable_validation(True)
    leaked = list(_STACK)
    _STACK.clear()
    held = DIM_ALLOCATOR.active()
    assert not leaked, f"handlers left on the stack: {leaked}"
    assert not held, f"plate dims left allocated: {held}"
    assert validation_left_on, "the test switched distribution validation off and left it off"
