"""Diagnostics against hand-written numpy formulas, against Pyro/NumPyro, and against known
answers for iid and AR(1) chains."""

import math
import statistics

import numpy as np
import pytest
import torch

from pyrolite.infer.mcmc.util import (
    autocorrelation,
    autocovariance,
    bulk_effective_sample_size,
    diagnostics,
    effective_sample_size,
    gelman_rubin,
    hpdi,
    quantile,
    rank_normalize,
    split_gelman_rubin,
)

# ---------------------------------------------------------------- independent references


def ref_autocov(x, bias=True):
    """Direct O(N^2) lag sums of one series."""
    c = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(c)
    sums = np.array([np.sum(c[: n - k] * c[k:]) for k in range(n)])
    return sums / n if bias else sums / np.arange(n, 0, -1)


def ref_rhat(x):
    """Gelman-Rubin from the textbook formula, x (chains, draws) numpy."""
    m, n = x.shape
    w = np.mean([np.var(chain, ddof=1) for chain in x])
    b_over_n = np.var(x.mean(axis=1), ddof=1)
    return math.sqrt(((n - 1) / n * w + b_over_n) / w)


def ref_ess(x):
    """Stan's ESS of x (chains, draws), a plain loop: truncate at the first negative pair,
    then make the pairs non-increasing."""
    m, n = x.shape
    w = np.mean([np.var(chain, ddof=1) for chain in x])
    var_plus = (n - 1) / n * w + (np.var(x.mean(axis=1), ddof=1) if m > 1 else 0.0)
    if m == 1:
        w = var_plus
    gamma = np.mean([ref_autocov(chain) for chain in x], axis=0)
    rho = 1 - (w - gamma) / var_plus
    rho[0] = 1.0
    pairs = [rho[2 * t] + rho[2 * t + 1] for t in range(n // 2)]
    kept = [pairs[0]]
    for p in pairs[1:]:
        if p < 0:
            break
        kept.append(min(p, kept[-1]) if len(kept) > 1 else p)
    tau = -1 + 2 * sum(kept)
    return m * n / tau


def ref_rank_normalize(x):
    """Average ranks over all chains by counting, then the normal quantile from the stdlib."""
    flat = x.ravel()
    s = flat.size
    normal = statistics.NormalDist()
    out = []
    for v in flat:
        below, equal = np.sum(flat < v), np.sum(flat == v)
        rank = below + (equal + 1) / 2
        out.append(normal.inv_cdf((rank - 0.375) / (s + 0.25)))
    return np.array(out).reshape(x.shape)


def ar1(rng, rho, chains, draws):
    """Stationary AR(1) chains with unit marginal variance."""
    x = np.empty((chains, draws))
    x[:, 0] = rng.randn(chains)
    noise = rng.randn(chains, draws) * math.sqrt(1 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


RNG = np.random.RandomState(0)
SMALL = RNG.randn(3, 9, 2).cumsum(axis=1)  # odd draw count, correlated, two coordinates


# --------------------------------------------------------------- values against references


def test_autocovariance_by_hand():
    x = [1.0, 2.0, 3.0, 4.0]
    # centred: -1.5, -0.5, 0.5, 1.5; lag sums 5, 1.25, -1.5, -2.25
    expected = np.array([5.0, 1.25, -1.5, -2.25])
    assert autocovariance(x).numpy() == pytest.approx(expected / 4)
    assert autocovariance(x, bias=False).numpy() == pytest.approx(expected / [4, 3, 2, 1])
    assert autocorrelation(x).numpy() == pytest.approx(expected / 5)


@pytest.mark.parametrize("bias", [True, False])
def test_autocovariance_along_a_middle_dim(bias):
    got = autocovariance(torch.tensor(SMALL), dim=1, bias=bias)
    assert got.shape == SMALL.shape
    for c in range(3):
        for j in range(2):
            assert got[c, :, j].numpy() == pytest.approx(ref_autocov(SMALL[c, :, j], bias))


def test_autocorrelation_of_constant_series_is_one():
    assert torch.equal(autocorrelation(torch.ones(5)), torch.ones(5))


def test_gelman_rubin_by_hand():
    x = np.array([[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0]])
    # W = 5/3, B/N = var(1.5, 3.5) = 2, var+ = 3/4 * 5/3 + 2 = 13/4
    assert gelman_rubin(x).item() == pytest.approx(math.sqrt(13 / 4 / (5 / 3)))
    assert gelman_rubin(SMALL)[1].item() == pytest.approx(ref_rhat(SMALL[:, :, 1]))


def test_split_gelman_rubin_drops_the_middle_draw():
    halves = np.concatenate([SMALL[:, :4], SMALL[:, -4:]], axis=0)
    for j in range(2):
        assert split_gelman_rubin(SMALL)[j].item() == pytest.approx(ref_rhat(halves[:, :, j]))


@pytest.mark.parametrize("chains, draws", [(1, 7), (1, 30), (3, 9), (4, 50)])
def test_effective_sample_size_matches_loop_formula(chains, draws):
    x = np.random.RandomState(draws).randn(chains, draws).cumsum(axis=1) * 0.2
    x += np.random.RandomState(1).randn(chains, draws)
    assert effective_sample_size(x).item() == pytest.approx(ref_ess(x), rel=1e-10)


def test_effective_sample_size_keeps_shape_and_dtype():
    x = torch.randn(2, 20, 3, 4)
    ess = effective_sample_size(x)
    assert ess.shape == (3, 4) and ess.dtype == torch.float32
    assert ess[1, 2].item() == pytest.approx(ref_ess(x[:, :, 1, 2].double().numpy()), rel=1e-5)


def test_rank_normalize_with_ties():
    x = np.array([[1.0, 2.0, 2.0], [3.0, 0.0, 2.0]])
    got = rank_normalize(x).numpy()
    assert got == pytest.approx(ref_rank_normalize(x), abs=1e-12)
    # ranks 2, 4, 4, 6, 1, 4 over S = 6: the three tied 2.0s share rank 4
    assert got[0, 1] == got[0, 2] == got[1, 2]
    assert got[1, 0] == pytest.approx(statistics.NormalDist().inv_cdf((6 - 0.375) / 6.25))


def test_bulk_ess_matches_independent_implementation():
    x = ar1(np.random.RandomState(3), 0.6, 3, 40) ** 3  # heavy tails, where ranks matter
    expected = ref_ess(ref_rank_normalize(x))
    assert bulk_effective_sample_size(x).item() == pytest.approx(expected, rel=1e-9)
    assert bulk_effective_sample_size(x).item() != pytest.approx(ref_ess(x), rel=1e-3)


def test_quantile_matches_numpy_linear():
    x = RNG.randn(11, 3)
    assert quantile(x, [0.05, 0.5, 0.95]).numpy() == pytest.approx(
        np.quantile(x, [0.05, 0.5, 0.95], axis=0)
    )
    assert quantile(x.T, 0.3, dim=1).numpy() == pytest.approx(np.quantile(x, 0.3, axis=0))
    assert quantile(x, [0.0, 1.0]).numpy() == pytest.approx(np.stack([x.min(0), x.max(0)]))
    with pytest.raises(ValueError, match="probs must lie in"):
        quantile(x, [0.5, 95.0])


def test_hpdi_picks_the_narrowest_window():
    x = np.array([0.0, 10.0, 10.5, 11.0, 11.2, 30.0, 1.0, 2.0])
    # sorted: 0 1 2 10 10.5 11 11.2 30; prob 0.5 -> windows of int(4)+1 = 5 order statistics:
    # [0, 10.5], [1, 11], [2, 11.2], [10, 30]: the narrowest is [2, 11.2]
    assert hpdi(x, 0.5).tolist() == [2.0, 11.2]
    # -x sorted: -30 -11.2 -11 -10.5 -10 -2 -1 0: widths 20, 9.2, 10, 10.5
    x2 = torch.tensor(np.stack([x, -x], axis=1))
    assert hpdi(x2, 0.5, dim=0).tolist() == [[2.0, -11.2], [11.2, -2.0]]
    with pytest.raises(ValueError, match="prob must lie in"):
        hpdi(x, 1.5)


def test_short_input_error_names_shape_and_fix():
    with pytest.raises(ValueError, match=r"split_gelman_rubin .* got shape \(2, 3\).*x\[None\]"):
        split_gelman_rubin(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="at least 2 chain"):
        gelman_rubin(torch.zeros(1, 10))


# --------------------------------------------------------------------- against Pyro/NumPyro


def test_against_pyro_ops_stats():
    stats = pytest.importorskip("pyro.ops.stats")
    x = torch.tensor(ar1(np.random.RandomState(5), 0.7, 4, 101))[..., None].repeat(1, 1, 2)
    x[..., 1] = x[..., 1] ** 2
    # Pyro divides the lag-k sum by N - k (bias=False here).
    assert torch.allclose(
        effective_sample_size(x, bias=False), stats.effective_sample_size(x), rtol=1e-10
    )
    assert torch.allclose(split_gelman_rubin(x), stats.split_gelman_rubin(x), rtol=1e-12)
    assert torch.allclose(gelman_rubin(x), stats.gelman_rubin(x), rtol=1e-12)
    assert torch.allclose(
        autocorrelation(x, dim=1, bias=False), stats.autocorrelation(x, dim=1), atol=1e-12
    )
    flat = x.reshape(-1, 2)
    assert torch.equal(hpdi(flat, 0.9), stats.hpdi(flat, 0.9))
    assert torch.allclose(quantile(flat, [0.1, 0.9]), stats.quantile(flat, [0.1, 0.9]))


def test_against_numpyro_diagnostics():
    nd = pytest.importorskip("numpyro.diagnostics")
    x = ar1(np.random.RandomState(6), 0.4, 4, 64)[..., None] * [1.0, 3.0]
    assert effective_sample_size(x).numpy() == pytest.approx(nd.effective_sample_size(x))
    assert split_gelman_rubin(x).numpy() == pytest.approx(nd.split_gelman_rubin(x))
    assert autocorrelation(x, dim=1).numpy() == pytest.approx(nd.autocorrelation(x, axis=1))
    flat = x.reshape(-1, 2)
    assert hpdi(flat, 0.9).numpy() == pytest.approx(nd.hpdi(flat, 0.9))


# ---------------------------------------------------------------------- known answers


def test_iid_normal_has_ess_n_and_rhat_one():
    x = np.random.RandomState(7).randn(4, 1000)
    s = x.size
    # For iid draws each estimated rho_k has sd about 1/sqrt(S) = 0.016 (S = 4000), and Geyer's
    # sum keeps a few lags: tau - 1 has sd about 2 * sqrt(3) * 0.016 = 0.055, so 0.2 is ~4 sd.
    assert effective_sample_size(x).item() / s == pytest.approx(1.0, abs=0.2)
    assert bulk_effective_sample_size(x).item() / s == pytest.approx(1.0, abs=0.2)
    # Split R-hat^2 - 1 ~ (chi2_7 / 7 - 1) / 500 for 8 half-chains of 500 iid draws:
    # sd about 0.53 / 500 / 2 = 5e-4 for R-hat; 0.01 is > 10 sd.
    assert split_gelman_rubin(x).item() == pytest.approx(1.0, abs=0.01)


def test_ar1_ess_matches_theory():
    rho = 0.5
    x = ar1(np.random.RandomState(8), rho, 4, 5000)
    expected = x.size * (1 - rho) / (1 + rho)
    # The estimate sums about L = 10 autocorrelations (rho^k > 1e-3); a rectangular lag window
    # of half-width L gives var(tau_hat) / tau^2 about 4 L / S = 40 / 20000: relative sd 0.045,
    # so 0.2 is over 4 sd.
    assert effective_sample_size(x).item() == pytest.approx(expected, rel=0.2)
    assert bulk_effective_sample_size(x).item() == pytest.approx(expected, rel=0.2)


def test_shifted_chains_have_large_rhat():
    x = np.random.RandomState(9).randn(4, 500)
    x[3] += 3.0
    # Between-chain variance of the means (0, 0, 0, 3) is 2.25 against unit within-chain
    # variance: R-hat near sqrt(1 + 2.25) = 1.8 (split: about 1.7); noise is O(0.05).
    assert gelman_rubin(x).item() > 1.5
    assert split_gelman_rubin(x).item() > 1.5


# ------------------------------------------------------------------------ diagnostics()


def test_diagnostics_columns_and_values():
    x = torch.tensor(ar1(np.random.RandomState(10), 0.3, 2, 50))[..., None] * torch.tensor([1.0, 2])
    stats = diagnostics({"theta": x, "mu": x[..., 0]})
    theta = stats["theta"]
    assert list(theta) == ["mean", "std", "median", "5.0%", "95.0%", "n_eff", "r_hat"]
    flat = x.reshape(100, 2).numpy()
    assert theta["mean"].numpy() == pytest.approx(flat.mean(0))
    assert theta["std"].numpy() == pytest.approx(flat.std(0, ddof=1))
    assert theta["median"].numpy() == pytest.approx(np.median(flat, 0))
    assert torch.equal(torch.stack([theta["5.0%"], theta["95.0%"]]), hpdi(x.reshape(100, 2)))
    assert torch.equal(theta["n_eff"], bulk_effective_sample_size(x))
    assert torch.equal(theta["r_hat"], split_gelman_rubin(x))
    assert stats["mu"]["mean"].shape == ()
    assert list(diagnostics({"mu": x[..., 0]}, prob=0.5)["mu"])[3:5] == ["25.0%", "75.0%"]


def test_diagnostics_short_runs_give_nan_and_bad_shapes_name_the_site():
    stats = diagnostics({"a": torch.randn(2, 3)})["a"]
    assert torch.isnan(stats["r_hat"]) and not torch.isnan(stats["n_eff"])
    with pytest.raises(ValueError, match="site 'b' has shape \\(5,\\).*group_by_chain=True"):
        diagnostics({"b": torch.randn(5)})
