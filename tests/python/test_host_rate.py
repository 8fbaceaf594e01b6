"""A function as learning rate: live in eager steps, refused where Keras would freeze it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras3r


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])


def test_eager_fit_calls_the_function_on_every_step() -> None:
    rates = iter(np.linspace(0.1, 0.0, 1000))
    seen: list[float] = []

    def rate() -> float:
        seen.append(float(next(rates)))
        return seen[-1]

    model = _model()
    model.compile(optimizer=keras3r.optimizer_sgd(learning_rate=rate), loss="mse", run_eagerly=True)
    model.fit(*_data(), epochs=1, batch_size=8, verbose=0)
    assert len(seen) >= 8  # 8 steps
    assert len(set(seen)) == len(seen)  # a new value each time: nothing frozen


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compiled_fit_refuses_a_rate_it_would_freeze(jit_compile: bool) -> None:
    model = _model()
    model.compile(optimizer=keras3r.optimizer_adam_w(learning_rate=lambda: 0.01), loss="mse",
                  jit_compile=jit_compile)
    with pytest.raises(RuntimeError, match="`learning_rate` is a function"):
        model.fit(*_data(), epochs=1, batch_size=16, verbose=0)


def test_stock_keras_freezes_it_silently() -> None:
    """What the refusal prevents: stock Keras reads the function once per trace."""
    calls = []

    def rate() -> float:
        calls.append(1)
        return 0.01

    model = _model()
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=rate), loss="mse")
    model.fit(*_data(), epochs=1, batch_size=8, verbose=0)
    assert 0 < len(calls) < 8


def test_a_function_returning_a_variable_stays_live_when_compiled() -> None:
    rate = keras.Variable(0.0)
    model = _model()
    model.compile(optimizer=keras3r.optimizer_sgd(learning_rate=lambda: rate), loss="mse")
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(*_data(), epochs=1, batch_size=16, verbose=0)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    rate.assign(0.1)
    model.fit(*_data(), epochs=1, batch_size=16, verbose=0)
    assert not all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))


def test_custom_tf_function_step_is_refused_too() -> None:
    opt = keras3r.optimizer_sgd(learning_rate=lambda: 0.1)
    w = keras.Variable(np.zeros(2, "float32"))
    opt.build([w])

    @tf.function
    def step() -> None:
        opt.apply([tf.ones(2)], [w])

    with pytest.raises(RuntimeError, match="`learning_rate`"):
        step()


def test_the_wrapper_keeps_the_function_identity_for_keras_serialization() -> None:
    def my_rate() -> float:
        return 0.01

    opt = keras3r.optimizer_adam_w(learning_rate=my_rate)
    assert opt._learning_rate.__name__ == "my_rate"
    assert opt._learning_rate.__wrapped_rate__ is my_rate
