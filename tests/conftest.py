import os

import pytest

import pyrolite as pyro
from pyrolite.poutine.dim_allocator import DIM_ALLOCATOR
from pyrolite.poutine.runtime import _STACK

# The seed of every statistical test; `tests/run_seed_sweep.py` varies it to check that each
# such test passes for many seeds, not just the one CI uses.
SEED_VARIABLE = "PYROLITE_TEST_SEED"
DEFAULT_SEED = 0


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "statistical: a Monte Carlo test whose tolerance claims a family-wise false-alarm "
        "probability of at most 0.01 (see tests/tolerances.py); it takes its seed from the "
        f"`seed` fixture, which {SEED_VARIABLE} sets",
    )


def statistical_seed() -> int:
    """The seed statistical tests use: ``PYROLITE_TEST_SEED`` if set, else 0."""
    return int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))


@pytest.fixture
def seed() -> int:
    """The seed of a statistical test; the global RNGs are already seeded with it."""
    return statistical_seed()


@pytest.fixture(autouse=True)
def fresh_state(request):
    """Every test starts with an empty param store, a seed, and no active handler.

    Statistical tests are seeded from ``PYROLITE_TEST_SEED`` (the ``seed`` fixture's value),
    every other test with 0."""
    statistical = request.node.get_closest_marker("statistical") is not None
    if statistical and "seed" not in request.fixturenames:
        pytest.fail("a test marked statistical must take its seed from the `seed` fixture")
    pyro.clear_param_store()
    pyro.set_rng_seed(statistical_seed() if statistical else 0)
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
