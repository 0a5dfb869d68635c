"""The summary table shows diagnostics()'s numbers in Pyro's layout; to_arviz's guard."""

import sys

import pytest
import torch

from pyrolite.infer.mcmc.summary import print_summary, summary_table, to_arviz
from pyrolite.infer.mcmc.util import diagnostics

COLUMNS = ["mean", "std", "median", "5.0%", "95.0%", "n_eff", "r_hat"]


def draws():
    g = torch.Generator().manual_seed(0)
    return {
        "mu": torch.randn(4, 100, generator=g) + 3.0,
        "theta": torch.randn(4, 100, 2, 3, generator=g) * 2.0,
    }


def parse(table: str) -> tuple[list[str], dict[str, list[float]]]:
    lines = table.splitlines()
    header = lines[1].split()
    rows = {}
    for line in lines[2:]:
        if not line.strip():
            break
        name, *values = line.split()
        rows[name] = [float(v) for v in values]
    return header, rows


def test_table_shows_diagnostics_numbers():
    samples = draws()
    table = summary_table(samples, num_divergences=3)
    header, rows = parse(table)
    assert header == COLUMNS
    assert list(rows) == ["mu"] + [f"theta[{i},{j}]" for i in range(2) for j in range(3)]
    stats = diagnostics(samples)
    for col_index, col in enumerate(COLUMNS):
        assert rows["mu"][col_index] == pytest.approx(stats["mu"][col].item(), abs=0.005 + 1e-9)
        assert rows["theta[1,2]"][col_index] == pytest.approx(
            stats["theta"][col][1, 2].item(), abs=0.005 + 1e-9
        )
    assert table.rstrip().endswith("Number of divergences: 3")


def test_table_alignment_and_options():
    table = summary_table({"a_long_site_name": torch.zeros(2, 10) + torch.arange(10.0)}, prob=0.5)
    lines = table.splitlines()
    assert lines[0] == ""
    assert lines[1].split()[3:5] == ["25.0%", "75.0%"]
    assert len(lines[1]) == len(lines[2]) == len("a_long_site_name") + 7 * 10
    assert "divergences" not in table
    assert summary_table({}) == ""


def test_print_summary_prints_the_table(capsys):
    samples = draws()
    print_summary(samples, 0, prob=0.8)
    assert capsys.readouterr().out == summary_table(samples, 0, prob=0.8)


def test_to_arviz_without_arviz_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)
    with pytest.raises(ImportError, match="pip install arviz"):
        to_arviz(draws())


def test_to_arviz_groups():
    az = pytest.importorskip("arviz")
    samples = draws()
    data = to_arviz(samples, {"diverging": torch.zeros(4, 100, dtype=torch.bool)})
    assert isinstance(data, az.InferenceData)
    assert data.posterior["theta"].shape == (4, 100, 2, 3)
    assert data.sample_stats["diverging"].shape == (4, 100)
