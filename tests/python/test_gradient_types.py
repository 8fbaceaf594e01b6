"""Every kind of gradient Keras accepts gives the same result with keras3r as with stock Keras.

keras3r's compiled eager update takes dense gradients; everything else
(sparse gradients: `tf.IndexedSlices`, JAX's BCOO; missing ones; a list that
does not pair with the variables) must reach Keras's own path and end exactly
as stock Keras ends, whether that is an update or an error. The scenarios run
in a fresh process per backend (gradient_types_driver.py), each driven on a
keras3r optimizer and a stock twin built from the same config.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from driver_reports import run_driver
from gradient_types_driver import (
    DENSE_KINDS,
    OPTIMIZERS,
    OTHER_KINDS,
    SPARSE_KINDS,
    STEPS,
)

BACKENDS = ["tensorflow", "jax", "torch"]
_REPORTS: dict[str, dict[str, Any]] = {}


def report_for(backend: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The driver's report for `backend`, run once per test session."""
    if backend not in _REPORTS:
        pytest.importorskip(backend)
        out_dir = tmp_path_factory.mktemp(f"gradients_{backend}")
        _REPORTS[backend] = run_driver("gradient_types_driver.py", backend, out_dir)
    return _REPORTS[backend]


def runs(backend: str, kinds: list[str]) -> list[tuple[str, str, str]]:
    return [(backend, kind, name) for kind in kinds for name in OPTIMIZERS]


EVERY_RUN = [
    run
    for backend in BACKENDS
    for run in runs(backend, DENSE_KINDS + OTHER_KINDS + SPARSE_KINDS[backend])
]


@pytest.mark.parametrize(("backend", "kind", "optimizer"), EVERY_RUN)
def test_same_outcome_as_stock_keras(tmp_path_factory, backend, kind, optimizer):
    run = report_for(backend, tmp_path_factory)["runs"][f"{kind}/{optimizer}"]
    # The same error (type and first line), or none on both sides.
    assert run["ours_error"] == run["stock_error"]
    assert not run["stock_patched"], "the stock twin must be plain Keras"
    assert len(run["ours"]) == len(run["stock"])
    # Compiled eagerly, or nested as an XLA function in the user's tf.function.
    compiled = run["stats"]["compiled_calls"] > 0 or run["stats"]["traces"] > 0
    for ours, stock in zip(run["ours"], run["stock"]):
        a, b = np.asarray(ours), np.asarray(stock)
        if compiled:
            # XLA fuses the element-wise ops: a few float32 ulps of the largest value.
            scale = float(np.max(np.abs(b), initial=0.0))
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * scale)
        else:  # Keras's own path, op for op: exactly stock's numbers
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("backend", "kind", "optimizer"),
    runs("tensorflow", DENSE_KINDS + ["tf_variable"])
    + runs("jax", DENSE_KINDS + ["weak_typed_scalar"]),
)
def test_dense_gradients_run_the_compiled_update(tmp_path_factory, backend, kind, optimizer):
    run = report_for(backend, tmp_path_factory)["runs"][f"{kind}/{optimizer}"]
    assert run["ours_error"] is None
    assert run["stats"]["compiled_calls"] == STEPS
    assert run["stats"]["keras_calls"] == 0


@pytest.mark.parametrize(
    ("backend", "kind", "optimizer"),
    runs("tensorflow", OTHER_KINDS + ["indexed_slices", "sparse_tensor"])
    + runs("jax", OTHER_KINDS + ["bcoo", "bcsr"]),
)
def test_sparse_or_missing_gradients_take_keras_path(tmp_path_factory, backend, kind, optimizer):
    run = report_for(backend, tmp_path_factory)["runs"][f"{kind}/{optimizer}"]
    assert run["stats"]["compiled_calls"] == 0
    assert run["stats"]["traces"] == 0
    assert run["stats"]["keras_calls"] >= 1


@pytest.mark.parametrize(
    ("backend", "kind", "optimizer"),
    runs("tensorflow", ["indexed_slices_then_dense"]) + runs("jax", ["bcoo_then_dense"]),
)
def test_sparse_and_dense_steps_alternate(tmp_path_factory, backend, kind, optimizer):
    # Sparse steps 0 and 2 on Keras's path, the dense step 1 compiled, one state throughout.
    run = report_for(backend, tmp_path_factory)["runs"][f"{kind}/{optimizer}"]
    assert run["ours_error"] is None
    assert run["stats"]["compiled_calls"] == 1
    assert run["stats"]["keras_calls"] == 2


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_inside_a_tf_function_sparse_gradients_stay_on_keras_path(tmp_path_factory, optimizer):
    # One trace of the user's function each: dense gradients nest keras3r's
    # XLA update in it, IndexedSlices leave Keras's own graph ops there.
    runs_ = report_for("tensorflow", tmp_path_factory)["runs"]
    dense = runs_[f"tf_function_dense/{optimizer}"]["stats"]
    sparse = runs_[f"tf_function_indexed_slices/{optimizer}"]["stats"]
    assert (dense["traces"], dense["keras_calls"]) == (1, 0)
    assert (sparse["traces"], sparse["keras_calls"]) == (0, 1)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_torch_optimizers_are_left_to_keras(tmp_path_factory, optimizer):
    # keras3r compiles nothing on torch: every kind ends exactly as stock (checked above).
    report = report_for("torch", tmp_path_factory)
    for kind in DENSE_KINDS + OTHER_KINDS + SPARSE_KINDS["torch"]:
        stats = report["runs"][f"{kind}/{optimizer}"]["stats"]
        assert stats["compiled_calls"] == stats["traces"] == 0, kind
