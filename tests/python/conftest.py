"""Shared set-up for the pytest suite.

The tests that embed R with rpy2 live in tests/python/with_r, and the tests
of Keras on JAX and on torch in with_jax and with_torch: process_plan.py says
which of them one pytest process runs (plain `pytest` runs TensorFlow's, and
reports the others as skipped with the command that runs them).

Tests that measure something write it as JSON to the `figures` directory:
KERAS3R_FIGURES if set, else a temporary directory of pytest's, so that a
test run leaves the checkout as it found it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import process_plan

# The shared helpers' asserts are the tests' checks: show their values in a
# failure, as in a test module.
pytest.register_assert_rewrite("harness", "gradient_kinds")

ROOT = Path(__file__).resolve().parents[2]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Hypothesis keeps its example database and caches in a .hypothesis folder
# of the working directory unless told otherwise: a temporary one instead,
# removed at exit, so that a test run leaves the checkout as it found it.
if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    _hypothesis_home = tempfile.mkdtemp(prefix="keras3r-hypothesis-")
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = _hypothesis_home
    atexit.register(shutil.rmtree, _hypothesis_home, ignore_errors=True)
# The R side must find the Python of this very process.
os.environ.setdefault("RETICULATE_PYTHON", sys.executable)
sys.path.insert(0, str(ROOT / "tools"))


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    reason = process_plan.folder_reason(path, parent.config)
    if reason is None:
        return None
    return process_plan.NotRunHere.from_parent(parent, path=path, reason=reason)


def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Collector | None:
    reason = process_plan.module_reason(module_path, parent.config)
    if reason is None:
        return None
    return process_plan.NotRunHere.from_parent(parent, path=module_path, reason=reason)


@pytest.fixture(scope="session")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests write their measurements (JSON files)."""
    chosen = os.environ.get("KERAS3R_FIGURES")
    if not chosen:
        return tmp_path_factory.mktemp("figures")
    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session", autouse=True)
def compile_from_the_first_call() -> Iterator[None]:
    """Tests of keras3r's compiled update check it from an optimizer's first step.

    keras3r runs a new structure's first steps on Keras's path before it
    compiles (keras3r.adapt.eager_apply.KERAS_CALLS_BEFORE_COMPILING), which
    tests/python/test_long_sessions.py checks with the released value.
    Session-wide, so that module fixtures which drive optimizers see it too.
    """
    from keras3r.adapt import eager_apply

    released = eager_apply.KERAS_CALLS_BEFORE_COMPILING
    eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0
    yield
    eager_apply.KERAS_CALLS_BEFORE_COMPILING = released
