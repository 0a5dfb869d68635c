"""Registration of pyrolite as a backend of the ``pyro-api`` package (``pyroapi``).

``pyroapi`` lets code written against a generic Pyro interface run on any registered
backend; after :func:`register`, ``with pyroapi.pyro_backend("pyrolite"): ...`` runs it on
pyrolite. Importing this module does not import ``pyroapi``; calling ``register`` does.
"""

from __future__ import annotations

BACKEND_MODULES = {
    "distributions": "pyrolite.distributions",
    "handlers": "pyrolite.poutine",
    "infer": "pyrolite.infer",
    "ops": "torch",
    "optim": "pyrolite.optim",
    "pyro": "pyrolite",
}


def register(alias: str = "pyrolite") -> None:
    """Register pyrolite with ``pyroapi`` under ``alias`` (needs ``pip install pyro-api``)."""
    try:
        import pyroapi
    except ImportError as err:
        raise ImportError("pyroapi is not installed: pip install pyro-api") from err
    pyroapi.register_backend(alias, dict(BACKEND_MODULES))
