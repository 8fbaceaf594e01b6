"""Eager apply() of a keras3r optimizer on JAX runs one cached jit-compiled update.

The scenarios run in a fresh process under KERAS_BACKEND=jax
(jax_apply_driver.py); each is driven on a keras3r optimizer and on a stock
Keras twin built from the same config, and the states are compared here.
Checked: the eager path compiles once and never retraces, every optimizer of
the family agrees with stock Keras, Keras keeps its own path inside a JAX
trace (the user's jax.jit, fit()), with a learning-rate function, a subset of
the variables or a missing gradient; settings changed after a step take
effect; buffers still referenced elsewhere are not donated; a saved model
holds a plain AdamW.  No timings: bench/ measures those.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from driver_reports import run_driver

pytest.importorskip("jax")

STEPS = 8  # jax_apply_driver.STEPS
# Traces of one update, never one per step: a second where the first step
# could not donate a buffer that was still read elsewhere (stock_like()'s
# get_config() reads the learning rate through NumPy; see test_donation_jax.py).
MOST_DONATION_PATTERNS = 2


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_driver("jax_apply_driver.py", "jax", tmp_path_factory.mktemp("jax_apply"))


def assert_same_state(run: dict[str, Any], exact: bool = False) -> None:
    """keras3r's weights and optimizer variables against stock Keras's.

    XLA fuses the element-wise ops of the compiled update, so it rounds
    differently from Keras's op-by-op eager path: a few float32 ulps of each
    array's largest value.
    """
    assert len(run["ours"]) == len(run["stock"])
    for ours, stock in zip(run["ours"], run["stock"]):
        a, b = np.asarray(ours), np.asarray(stock)
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            scale = float(np.max(np.abs(b), initial=0.0))
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("name", ["defaults", "everything", "global_clipnorm", "schedule"])
def test_eager_apply_compiles_once_and_matches_stock(report, name):
    run = report[name if name == "schedule" else f"eager/{name}"]
    stats = run["stats"]
    assert stats["compiled_calls"] == STEPS and stats["keras_calls"] == 0
    assert stats["traces"] == stats["entries"] <= MOST_DONATION_PATTERNS
    assert_same_state(run)


def test_numpy_gradients_through_apply_gradients(report):
    # What an R loop hands over: float64 arrays, via apply_gradients(zip(...)).
    run = report["numpy_apply_gradients"]
    assert run["stats"]["compiled_calls"] == STEPS
    assert run["stats"]["traces"] <= MOST_DONATION_PATTERNS
    assert_same_state(run)


def test_every_optimizer_of_the_family_compiles_and_matches_stock(report):
    family = {k: v for k, v in report.items() if k.startswith("family/")}
    # Every optimizer keras3r exports that updates variables itself (the
    # multi optimizer hands them to others).
    import keras3r

    exported = {
        f"family/{fn}" for fn in keras3r.__all__
        if fn.startswith("optimizer_") and fn not in ("optimizer_multi", "optimizer_map")
    }
    assert set(family) == exported
    assert {"family/optimizer_muon", "family/optimizer_lamb"} <= set(family)
    for name, run in family.items():
        assert run["stats"]["compiled_calls"] == 3, name
        assert run["stats"]["keras_calls"] == 0, name
        assert_same_state(run)


@pytest.mark.parametrize("name", ["user_jit", "fit"])
def test_inside_a_jax_trace_keras_keeps_its_path(report, name):
    run = report[name]
    assert run["stats"]["compiled_calls"] == 0
    assert run["stats"]["traces"] == 0
    assert_same_state(run, exact=True)


def test_learning_rate_function_is_called_every_eager_step(report):
    run = report["rate_function"]
    assert run["stats"]["compiled_calls"] == 0
    assert run["stats"]["keras_calls"] == STEPS
    ours_calls, stock_calls = run["rate_calls"]
    assert ours_calls == stock_calls >= STEPS
    assert_same_state(run, exact=True)


@pytest.mark.parametrize("name", ["subset", "missing_gradient"])
def test_calls_stateless_apply_cannot_map_take_keras_path(report, name):
    run = report[name]
    assert run["stats"]["compiled_calls"] == 0
    assert run["stats"]["keras_calls"] > 0
    assert_same_state(run, exact=True)


def test_changed_settings_compile_a_new_update(report):
    run = report["changed_settings"]
    assert 2 <= run["stats"]["traces"] <= 2 + MOST_DONATION_PATTERNS - 1
    assert run["stats"]["compiled_calls"] == 6
    assert_same_state(run)


def test_buffers_referenced_elsewhere_are_not_donated(report):
    held = report["held"]
    assert held["deleted"] == [False, False]
    assert held["unchanged"] == [True, True]
    assert held["weight_moved"]
    assert held["stats"]["keras_calls"] == 0


def test_variables_sharing_one_buffer_both_update(report):
    run = report["shared_buffer"]
    assert run["stats"]["keras_calls"] == 0
    assert_same_state(run)


def test_saved_model_holds_a_plain_adamw(report):
    saved = report["saved"]
    assert saved == {"class": "AdamW", "same_config": True, "patched_after_load": False}


def test_compiled_update_hlo_is_readable(report):
    assert report["hlo"] and all(text.startswith("HloModule") for text in report["hlo"])
