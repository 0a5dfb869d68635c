"""The benchmark smoke tests import the scripts of benchmarks/ as top-level modules (the
scripts import each other, e.g. ``harness``, the same way)."""

import os
import sys

BENCH = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks")
sys.path.insert(0, os.path.abspath(BENCH))
