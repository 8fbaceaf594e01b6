"""Keras on torch in this pytest process.

Keras picks its backend once per process, when it is first imported, so the
tests of keras3r on torch run in a pytest process of their own
(`pytest tests/python/with_torch`, a line of the Makefile's test-python):
KERAS_BACKEND is set to torch here, before any test module imports Keras. The
Makefile names on that line the modules that hold on every backend
(EVERY_BACKEND_TESTS: test_reference_updates.py, test_schedule_free_weights.py),
which run here under torch too: a pytest command line that names
tests/python/with_torch runs every module it names on torch.
"""

from __future__ import annotations

import os
import sys

import pytest

if "keras" in sys.modules and sys.modules["keras"].backend.backend() != "torch":
    raise pytest.UsageError(
        "tests/python/with_torch needs a pytest process of its own: Keras is already "
        "running on another backend here (run `pytest tests/python/with_torch`)"
    )
os.environ["KERAS_BACKEND"] = "torch"
