"""The generic test suite of ``pyroapi`` (the one Pyro, minipyro and NumPyro run), on pyrolite.

The ``JitTrace_ELBO`` variants are deselected in ``conftest.py`` until the compiled step
exists; every other test of the suite runs here.
"""

import pytest

pyroapi = pytest.importorskip("pyroapi")

from pyroapi import pyro_backend  # noqa: E402
from pyroapi.tests import *  # noqa: E402,F401,F403

from pyrolite.pyroapi_backend import register  # noqa: E402

register()


@pytest.fixture
def backend():
    with pyro_backend("pyrolite"):
        yield
