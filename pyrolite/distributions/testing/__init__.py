"""Helpers for testing distributions and inference: fakes, goodness-of-fit tests.

At Pyro's path ``pyro.distributions.testing``; import the submodules explicitly
(``from pyrolite.distributions.testing import fakes, gof``).
"""
