"""How the tutorial tests load a tutorial: tutorials/ is no package, so each is executed from
its path as a fresh module, with tutorials/ on ``sys.path`` meanwhile (several import
``vae``)."""

import importlib.util
import os
import sys
from types import ModuleType

TUTORIALS = os.path.abspath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "tutorials")
)


def load_tutorial(name: str) -> ModuleType:
    """``tutorials/{name}.py`` executed as the module ``{name}_tutorial``."""
    spec = importlib.util.spec_from_file_location(
        f"{name}_tutorial", os.path.join(TUTORIALS, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, TUTORIALS)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(TUTORIALS)
    return module
