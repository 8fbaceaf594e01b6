"""Shared set-up for the pytest suite.

rpy2 embeds R in this process. At interpreter exit its shutdown hook aborts
the process (an R/Python finalizer clash that rpy2 < 3.6 has on R 4.2), which
would turn a green run red. So once pytest has printed its summary, a run that
imported rpy2 leaves with os._exit and pytest's own exit status.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "tests" / "spec"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The R side must find the Python of this very process (reticulate inside rpy2).
os.environ.setdefault("RETICULATE_PYTHON", sys.executable)
sys.path.insert(0, str(ROOT / "tools"))

_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    if "rpy2" in sys.modules and _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
