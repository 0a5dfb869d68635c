"""Markov chain Monte Carlo: HMC and NUTS with chains batched on one device."""
