"""The hand-written ELBO tutorial: its loss curve equals Trace_ELBO's."""

import os

from tutorial_loader import load_tutorial


def test_custom_elbo_matches_trace_elbo(tmp_path):
    gap = load_tutorial("custom_elbo").main(["--smoke", "--out", str(tmp_path)])
    # same seed, same batches, same arithmetic: equal to float rounding
    assert gap < 1e-4
    assert os.path.getsize(tmp_path / "custom_vs_trace_elbo.png") > 1000
