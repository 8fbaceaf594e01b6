"""Claiming a pytest process for one Keras backend, before Keras is imported.

Keras picks its backend once per process, when it is first imported: the
conftest of with_jax/ and with_torch/ claims its backend here, and a pytest
process that already runs Keras on another backend stops with a usage error
instead of testing the wrong backend. Imports nothing of Keras.
"""

from __future__ import annotations

import os
import sys

import pytest


def claim_backend(backend: str, folder: str) -> None:
    """Set KERAS_BACKEND to `backend`, or stop if Keras already runs another one."""
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != backend:
        raise pytest.UsageError(
            f"{folder} needs a pytest process of its own: Keras is already "
            f"running on another backend here (run `pytest {folder}`)"
        )
    os.environ["KERAS_BACKEND"] = backend
