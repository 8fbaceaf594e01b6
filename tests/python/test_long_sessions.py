"""Long sessions: dropped optimizers give their memory back, and one structure compiles once.

An R user keeps one session for hours and builds model after model in it.
Checked here:
  * on TensorFlow, JAX and torch (a process each, long_session_driver.py),
    that what a dropped keras3r optimizer leaves behind is no more than what
    a dropped stock one does, and that the optimizer, its variables and the
    state keras3r gave it are all collected;
  * on TensorFlow (this process), that optimizers of one structure run one
    traced function, counted by TF's own tracing counter; that different
    settings or schedules never share; and that sharing optimizers compute
    what stock eager Keras does. tests/python/with_jax/test_shared_updates.py
    checks the same on JAX.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import pytest

import keras3r
from harness import (
    arrays,
    assert_same_state,
    drive,
    drive_a_new_structure_past_compiling,
    fresh_variables,
    gradient_steps,
    state,
    variables,
)
from keras3r.adapt import eager_apply
from keras3r.adapt.eager_apply import compiled_functions, stats

# The released value (read when this module is imported, before conftest's
# session fixture sets 0 for the other tests).
RELEASED_KERAS_CALLS = eager_apply.KERAS_CALLS_BEFORE_COMPILING

DRIVER = Path(__file__).with_name("long_session_driver.py")

# Resident memory kept per dropped optimizer, beyond stock Keras's: resident
# memory moves by whole pages, and malloc and TF's allocator grow their arenas
# in steps of up to about 1 MB, so over the driver's 24 rounds one such step
# reads 0.04 MB per optimizer. 0.1 MB allows two; a compiled update kept per
# optimizer measured 4 MB each on TensorFlow.
RESIDENT_MARGIN_MB = 0.1
# Python heap kept per dropped optimizer, beyond stock's (tracemalloc): Keras's
# own bookkeeping of each new model (unique layer names) differs by some
# hundreds of bytes between two runs; a tf.function kept with its graph is
# over 100 KB, a JAX executable's Python objects some KB.
PYTHON_MARGIN_BYTES = 2048


def _run_driver(backend: str, *mode: str) -> dict[str, Any]:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, str(DRIVER), backend, *mode],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_dropped_optimizers_keep_no_more_than_stock(backend: str) -> None:
    # On TensorFlow and JAX every optimizer runs the compiled update (as a
    # sweep of longer trainings would); torch has none.
    result = _run_driver(backend, *(() if backend == "torch" else ("at-once",)))
    assert result["watched"] > 0
    assert result["alive"] == 0, result
    # One structure in the whole sweep: one shared update (none on torch); on
    # JAX one per pattern of donated buffers at most (see keras3r.adapt.jax).
    most = {"torch": 0, "tensorflow": 1, "jax": 4}[backend]
    assert min(most, 1) <= result["shared"] <= most, result
    assert result["ours_mb"] <= result["stock_mb"] + RESIDENT_MARGIN_MB, result
    assert result["ours_python_bytes"] <= result["stock_python_bytes"] + PYTHON_MARGIN_BYTES, (
        result
    )


def _functions(optimizer: Any) -> list[Any]:
    found = compiled_functions(optimizer)
    assert len(found) == 1
    return found


def test_one_structure_is_traced_once_and_computes_what_stock_keras_does() -> None:
    steps = gradient_steps(3)
    first, second = keras3r.optimizer_adam_w(beta_1=0.85), keras3r.optimizer_adam_w(beta_1=0.85)
    first_vars, second_vars = fresh_variables(), fresh_variables()
    drive(first, first_vars, steps)
    drive(second, second_vars, steps)
    (function,) = _functions(first)
    assert _functions(second) == [function]
    assert function.experimental_get_tracing_count() == 1
    assert stats(second)["traces"] == 0 and stats(second)["compiled_calls"] == 3
    stock = keras.optimizers.AdamW(beta_1=0.85)
    stock_vars = fresh_variables()
    drive(stock, stock_vars, steps)
    assert_same_state(state(first, first_vars), state(stock, stock_vars))
    assert_same_state(state(second, second_vars), state(stock, stock_vars))


def test_sharing_optimizers_keep_their_own_state() -> None:
    # Interleaved steps: each optimizer writes its own variables and slots.
    a, b = keras3r.optimizer_adam_w(), keras3r.optimizer_adam_w()
    a_vars, b_vars = fresh_variables(), fresh_variables()
    stock_a, stock_b = keras.optimizers.AdamW(), keras.optimizers.AdamW()
    stock_a_vars, stock_b_vars = fresh_variables(), fresh_variables()
    for t, grads in enumerate(gradient_steps(4)):
        drive(a, a_vars, [grads])
        drive(stock_a, stock_a_vars, [grads])
        if t % 2:
            drive(b, b_vars, [grads])
            drive(stock_b, stock_b_vars, [grads])
    assert _functions(a) == _functions(b)
    assert_same_state(state(a, a_vars), state(stock_a, stock_a_vars))
    assert_same_state(state(b, b_vars), state(stock_b, stock_b_vars))


def _cosine(steps: int) -> Any:
    return keras3r.learning_rate_schedule_cosine_decay(1e-2, steps)


@pytest.mark.parametrize(
    ("make_other", "stock_other"),
    [
        (lambda: keras3r.optimizer_adam_w(beta_1=0.8), lambda: keras.optimizers.AdamW(beta_1=0.8)),
        (
            lambda: keras3r.optimizer_adam_w(learning_rate=_cosine(20)),
            lambda: keras.optimizers.AdamW(
                learning_rate=keras.optimizers.schedules.CosineDecay(1e-2, 20)
            ),
        ),
    ],
    ids=["beta_1", "schedule"],
)
def test_different_settings_never_share(make_other: Any, stock_other: Any) -> None:
    steps = gradient_steps(2)
    base = keras3r.optimizer_adam_w(learning_rate=_cosine(10))
    base_vars = fresh_variables()
    drive(base, base_vars, steps)
    other, other_vars = make_other(), fresh_variables()
    drive(other, other_vars, steps)
    assert _functions(other) != _functions(base)
    assert _functions(other)[0].experimental_get_tracing_count() == 1
    stock, stock_vars = stock_other(), fresh_variables()
    drive(stock, stock_vars, steps)
    assert_same_state(state(other, other_vars), state(stock, stock_vars))


def test_same_schedule_settings_share() -> None:
    first, second = (keras3r.optimizer_adam_w(learning_rate=_cosine(30)) for _ in range(2))
    drive(first, fresh_variables(), gradient_steps(1))
    drive(second, fresh_variables(), gradient_steps(1))
    assert _functions(first) == _functions(second)


def test_differently_named_variables_do_not_share_a_weight_decay_exclusion() -> None:
    # Keras matches the exclusion patterns against each variable's name while
    # tracing: variables named otherwise must get their own trace.
    shapes = [(3, 2), (2,)]
    grads = gradient_steps(2, shapes)


    def run(names: list[str]) -> tuple[Any, list[Any]]:
        optimizer = keras3r.optimizer_adam_w(weight_decay=0.5)
        optimizer.exclude_from_weight_decay(var_names=["bias"])
        targets = variables(arrays(shapes), names)
        drive(optimizer, targets, grads)
        return optimizer, targets

    kernel_bias, kb_vars = run(["kernel", "bias"])
    two_kernels, kk_vars = run(["kernel", "kernel_2"])
    assert _functions(kernel_bias) != _functions(two_kernels)
    for names, optimizer, targets in (
        (["kernel", "bias"], kernel_bias, kb_vars),
        (["kernel", "kernel_2"], two_kernels, kk_vars),
    ):
        stock = keras.optimizers.AdamW(weight_decay=0.5)
        stock.exclude_from_weight_decay(var_names=["bias"])
        stock_vars = variables(arrays(shapes), names)
        drive(stock, stock_vars, grads)
        assert_same_state(state(optimizer, targets), state(stock, stock_vars))


# Shapes no other test of this module uses: a structure no optimizer compiled.
NEW_SHAPES = [(9, 4), (4,), (2, 3, 3)]


def test_a_new_structure_runs_keras_path_until_compiling_can_pay(monkeypatch) -> None:
    monkeypatch.setattr(eager_apply, "KERAS_CALLS_BEFORE_COMPILING", RELEASED_KERAS_CALLS)
    assert RELEASED_KERAS_CALLS >= 2  # a new optimizer's first two steps cost what stock's do
    ours, steps = drive_a_new_structure_past_compiling(NEW_SHAPES, RELEASED_KERAS_CALLS)
    (function,) = _functions(ours)
    assert function.experimental_get_tracing_count() == 1

    # The structure is compiled now: the next optimizer of it uses that from its first call.
    again, again_vars = keras3r.optimizer_adam_w(), fresh_variables(NEW_SHAPES)
    drive(again, again_vars, steps[:1])
    assert _functions(again) == [function]
    assert stats(again) == {
        "traces": 0,
        "compiled_calls": 1,
        "keras_calls": 0,
        "entries": 1,
        "nested": 0,
    }
