"""Tensor algorithms and checks without effects (Pyro's ``pyro.ops``)."""
