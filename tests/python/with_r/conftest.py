"""R inside this Python process, through rpy2.

These tests run in a pytest process of their own, for two reasons:
- R must start before TensorFlow does: once TensorFlow's threads are up in a
  process, starting the embedded R there can abort it;
- at interpreter exit rpy2's shutdown hook aborts the process (a finalizer
  clash of rpy2 < 3.6 with R 4.2), which would turn a green run red. So, once
  pytest has printed its summary, the process leaves with os._exit and
  pytest's own exit status.
"""

from __future__ import annotations

import os
import sys

import pytest
import rpy2.robjects  # noqa: F401  (starts R now, before any test imports TensorFlow)

_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
