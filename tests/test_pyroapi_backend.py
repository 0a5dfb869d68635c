"""The generic test suite of ``pyroapi`` (the one Pyro, minipyro and NumPyro run), on pyrolite.

Its ``JitTrace_ELBO`` variants run pyrolite's compiled step (``torch.compile``).
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
