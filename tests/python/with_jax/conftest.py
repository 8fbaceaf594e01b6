"""Keras on JAX in this pytest process.

Keras picks its backend once per process, when it is first imported, so the
tests of keras3r on JAX run in a pytest process of their own
(`pytest tests/python/with_jax`, a line of the Makefile's test-python):
KERAS_BACKEND is set to jax here, before any test module imports Keras. The
Makefile names on that line the modules that hold on every backend
(EVERY_BACKEND_TESTS: test_reference_updates.py, test_schedule_free_weights.py),
which run here under JAX too: a pytest command line that names
tests/python/with_jax runs every module it names on JAX.

`xla_compiles` counts XLA compilations with JAX's own event listener
(jax.monitoring), which sees every program JAX compiles in this process:
a test about tracing asserts on what a stretch of its code compiled.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

if "keras" in sys.modules and sys.modules["keras"].backend.backend() != "jax":
    raise pytest.UsageError(
        "tests/python/with_jax needs a pytest process of its own: Keras is already "
        "running on another backend here (run `pytest tests/python/with_jax`)"
    )
os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


class XlaCompiles:
    """How many programs XLA has compiled in this process so far."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs: Any) -> None:
        if event == _BACKEND_COMPILE:
            self.count += 1

    def during(self, run: Callable[[], Any]) -> int:
        """The number of XLA compilations while `run()` runs."""
        before = self.count
        run()
        return self.count - before


_COMPILES = XlaCompiles()
jax.monitoring.register_event_duration_secs_listener(_COMPILES)


@pytest.fixture
def xla_compiles() -> XlaCompiles:
    return _COMPILES
