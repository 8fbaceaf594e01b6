"""Keras on JAX in this pytest process (`KERAS_BACKEND=jax pytest tests/python`, or
`pytest tests/python/with_jax` alone): tests/python/backend_process.py says why the
process is claimed here, and tests/python/process_plan.py which other modules run on
JAX too.

`xla_compiles` counts XLA compilations with JAX's own event listener
(jax.monitoring), which sees every program JAX compiles in this process:
a test about tracing asserts on what a stretch of its code compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from backend_process import claim_backend

claim_backend("jax", "tests/python/with_jax")

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
