"""Shared set-up for the pytest suite.

The tests that embed R with rpy2 live in tests/python/with_r and run in a
pytest process of their own (see the Makefile and with_r/conftest.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The report helper's asserts check the driver's outcome for the test: show
# their values in a failure, as in a test module.
pytest.register_assert_rewrite("driver_reports")

ROOT = Path(__file__).resolve().parents[2]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The R side must find the Python of this very process.
os.environ.setdefault("RETICULATE_PYTHON", sys.executable)
sys.path.insert(0, str(ROOT / "tools"))
