"""The hand-written ELBO tutorial: its loss curve equals Trace_ELBO's."""

import importlib.util
import os
import sys

HERE = os.path.dirname(__file__)
TUTORIALS = os.path.abspath(os.path.join(HERE, os.pardir, os.pardir, "tutorials"))


def test_custom_elbo_matches_trace_elbo(tmp_path):
    sys.path.insert(0, TUTORIALS)
    try:
        path = os.path.join(TUTORIALS, "custom_elbo.py")
        spec = importlib.util.spec_from_file_location("custom_elbo_tutorial", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        gap = module.main(["--smoke", "--out", str(tmp_path)])
    finally:
        sys.path.remove(TUTORIALS)
    # same seed, same batches, same arithmetic: equal to float rounding
    assert gap < 1e-4
    assert os.path.getsize(tmp_path / "custom_vs_trace_elbo.png") > 1000
