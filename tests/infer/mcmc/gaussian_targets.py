"""Shared by the kernel tests: Gaussian and skewed targets, a driver that samples them, and
their moment checks by Monte Carlo standard error."""

import collections

import torch

MEAN = torch.tensor([1.0, -2.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 1.6], [1.6, 4.0]], dtype=torch.float64)  # correlation 0.8


def gaussian(mean: torch.Tensor, cov: torch.Tensor):
    """The potential ``z (C, D) -> (C,)`` of N(mean, cov), up to a constant."""
    precision = torch.linalg.inv(cov)

    def potential(z):
        d = z - mean
        return 0.5 * ((d @ precision) * d).sum(-1)

    return potential


# z = log x with x ~ Gamma(2, 1), per coordinate: a skewed target; E[z] = digamma(2) and
# Var[z] = trigamma(2), the coordinates independent.
def log_gamma2(z):
    return (z.exp() - 2 * z).sum(-1)


LOG_GAMMA2_MEAN = float(torch.special.digamma(torch.tensor(2.0)))
LOG_GAMMA2_VAR = float(torch.special.polygamma(1, torch.tensor(2.0)))


def run(kernel, num_chains, dim, warmup, samples, seed=0):
    """Run ``kernel`` (HMC or NUTS) from zeros; returns the last state, the draws
    ``(C, samples, D)`` and each draw's ``accept_prob``, ``num_steps``, ``tree_depth`` and
    ``diverging``, each ``(C, samples)``."""
    state = kernel.init(torch.zeros(num_chains, dim, dtype=torch.float64), None, warmup, seed)
    draws, infos = [], collections.defaultdict(list)
    for i in range(warmup + samples):
        state = kernel.sample(state)
        if i >= warmup:
            draws.append(state.z)
            for name in ("accept_prob", "num_steps", "tree_depth", "diverging"):
                infos[name].append(getattr(state, name))
    return state, torch.stack(draws, 1), {k: torch.stack(v, 1) for k, v in infos.items()}


def mcse(values, num_batches=20):
    """Monte Carlo standard error of the mean over (chains, draws) by batch means per chain."""
    chains, draws = values.shape
    means = values[:, : draws // num_batches * num_batches].reshape(chains, num_batches, -1)
    per_chain = means.mean(-1).std(-1) / num_batches**0.5
    return (per_chain**2).sum().sqrt() / chains


def assert_moments(x, mean, cov, k=4.5):
    """Means and second moments about the true mean of draws ``x (C, n, D)``, each within
    ``k`` Monte Carlo standard errors (batch means, 20 batches per chain)."""
    d = x - mean
    for i in range(x.shape[-1]):
        assert abs(float(d[..., i].mean())) < k * float(mcse(d[..., i])), f"mean {i}"
        for j in range(i + 1):
            product = d[..., i] * d[..., j]
            err = abs(float(product.mean()) - float(cov[i, j]))
            assert err < k * float(mcse(product)), (i, j, float(product.mean()))
