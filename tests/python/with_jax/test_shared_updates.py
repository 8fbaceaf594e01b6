"""On JAX, optimizers of one structure share one compiled update; others never do.

A long R session builds model after model: the second optimizer of a
structure (class, settings, learning rate, variables' dtypes and shapes)
must compile nothing, counted with JAX's own compile events (the
`xla_compiles` fixture), and compute what stock eager Keras does; an
optimizer whose settings or schedule differ must compile its own update.
tests/python/test_long_sessions.py checks the same on TensorFlow, and
memory kept by dropped optimizers on every backend.
"""

from __future__ import annotations

from typing import Any

import keras

import keras3r
from harness import (
    assert_same_state,
    drive,
    drive_a_new_structure_past_compiling,
    fresh_variables,
    gradient_steps,
    state,
)
from keras3r.adapt import eager_apply
from keras3r.adapt.eager_apply import compiled_functions, stats

# The released value (read at import, before conftest's session fixture sets 0).
RELEASED_KERAS_CALLS = eager_apply.KERAS_CALLS_BEFORE_COMPILING

# Shapes no other test of this process uses, so that the first optimizer of
# each test compiles its structure here and not in an earlier test.
SHAPES = [(11, 13), (13,), (5, 2, 3)]


def _drive(optimizer: Any, steps: list[Any]) -> list[Any]:
    targets = fresh_variables(SHAPES)
    drive(optimizer, targets, steps)
    return targets


def test_second_optimizer_of_a_structure_compiles_nothing(xla_compiles: Any) -> None:
    steps = gradient_steps(3, SHAPES)
    first = keras3r.optimizer_adam_w(beta_1=0.85, weight_decay=0.01)
    first_vars = _drive(first, steps)
    second = keras3r.optimizer_adam_w(beta_1=0.85, weight_decay=0.01)
    holder: list[Any] = []
    assert xla_compiles.during(lambda: holder.append(_drive(second, steps))) == 0
    assert set(map(id, compiled_functions(second))) <= set(map(id, compiled_functions(first)))
    stock = keras.optimizers.AdamW(beta_1=0.85, weight_decay=0.01)
    stock_vars = fresh_variables(SHAPES)
    drive(stock, stock_vars, steps)
    assert_same_state(state(first, first_vars), state(stock, stock_vars))
    assert_same_state(state(second, holder[0]), state(stock, stock_vars))


def _cosine(steps: int) -> Any:
    return keras3r.learning_rate_schedule_cosine_decay(1e-2, steps)


def test_different_settings_or_schedules_compile_their_own(xla_compiles: Any) -> None:
    steps = gradient_steps(2, SHAPES)
    base = keras3r.optimizer_adam_w(beta_1=0.7, learning_rate=_cosine(10))
    _drive(base, steps)
    cases = [
        (
            keras3r.optimizer_adam_w(beta_1=0.75, learning_rate=_cosine(10)),
            keras.optimizers.AdamW(
                beta_1=0.75, learning_rate=keras.optimizers.schedules.CosineDecay(1e-2, 10)
            ),
        ),
        (
            keras3r.optimizer_adam_w(beta_1=0.7, learning_rate=_cosine(20)),
            keras.optimizers.AdamW(
                beta_1=0.7, learning_rate=keras.optimizers.schedules.CosineDecay(1e-2, 20)
            ),
        ),
    ]
    for ours, stock in cases:
        holder: list[Any] = []
        run = lambda o=ours, h=holder: h.append(_drive(o, steps))  # noqa: E731
        assert xla_compiles.during(run) >= 1
        assert not set(map(id, compiled_functions(ours))) & set(
            map(id, compiled_functions(base))
        )
        stock_vars = fresh_variables(SHAPES)
        drive(stock, stock_vars, steps)
        assert_same_state(state(ours, holder[0]), state(stock, stock_vars))


def test_a_new_structure_runs_keras_path_until_compiling_can_pay(monkeypatch: Any) -> None:
    monkeypatch.setattr(eager_apply, "KERAS_CALLS_BEFORE_COMPILING", RELEASED_KERAS_CALLS)
    shapes = [(6, 7), (7,)]  # a structure no other test compiles
    ours, steps = drive_a_new_structure_past_compiling(shapes, RELEASED_KERAS_CALLS)
    assert stats(ours)["traces"] >= 1
    again, again_vars = keras3r.optimizer_adam_w(), fresh_variables(shapes)
    drive(again, again_vars, steps[:1])
    assert stats(again)["keras_calls"] == 0 and stats(again)["compiled_calls"] == 1
