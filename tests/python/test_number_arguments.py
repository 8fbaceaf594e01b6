"""A tensor, Keras variable, NumPy scalar or 0-d array wherever Keras takes a number.

Keras's pages say "a float value or a constant float tensor", and stock Keras
trains with one. keras3r checks the number it holds by the rule for a number
and hands it on: the number for a constant (the same update on every backend),
the variable itself for a Keras variable (Keras reads it at every step). A
tensor of several values, or of a shape other than a scalar's, is refused with
the argument named, and a value that is not finite is refused as such.

Runs in every backend's process, with that backend's own tensor type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from keras3r import (
    learning_rate_schedule_cosine_decay,
    learning_rate_schedule_piecewise_constant_decay,
    optimizer_adam_w,
    optimizer_sgd,
)
from keras3r.refusals import ArgumentError, ArgumentTypeError


def _backend_tensor() -> Callable[[Any], Any]:
    """The constructor of this process's backend's own tensors."""
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        return tf.constant
    if name == "jax":
        import jax.numpy as jnp

        return jnp.asarray
    import torch

    return torch.tensor


TENSOR = _backend_tensor()
SCALARS: dict[str, Callable[[float], Any]] = {
    "backend tensor": lambda x: TENSOR(x),
    "float32 backend tensor": lambda x: TENSOR(np.float32(x)),
    "0-d array": np.array,
    "NumPy scalar": np.float32,
    "Keras variable": lambda x: keras.Variable(x, trainable=False),
}


def _step(opt: keras.optimizers.Optimizer) -> np.ndarray:
    """The weights after two steps of `opt` from fixed weights and gradients."""
    w = keras.Variable(np.array([[0.5, -1.0], [2.0, 0.25]], "float32"))
    grad = keras.ops.convert_to_tensor(np.array([[0.1, -0.2], [0.3, 0.05]], "float32"))
    for _ in range(2):
        opt.apply([grad], [w])
    return keras.ops.convert_to_numpy(w)


@pytest.mark.parametrize("kind", list(SCALARS))
def test_a_scalar_trains_as_its_number_does(kind: str) -> None:
    make = SCALARS[kind]
    given = {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "weight_decay": 0.01}
    opt = optimizer_adam_w(learning_rate=make(0.01), **{k: make(v) for k, v in given.items()})
    # float32 values compared as float32: a float32 tensor holds 0.8 as 0.800000011920929.
    plain = {k: float(np.float32(v)) for k, v in given.items()}
    stock = optimizer_adam_w(learning_rate=0.01, **plain)
    np.testing.assert_allclose(_step(opt), _step(stock), rtol=1e-6)
    # The rate goes into Keras's own variable, as a number does.
    assert float(opt.learning_rate) == pytest.approx(0.01, rel=1e-6)
    if kind == "Keras variable":
        # Kept as given: Keras reads it at every step.
        assert isinstance(opt.beta_1, keras.Variable)
    else:
        assert type(opt.beta_1) is float and opt.beta_1 == pytest.approx(0.8, rel=1e-6)
        assert type(opt.get_config()["epsilon"]) is float


def test_a_keras_variable_stays_live() -> None:
    beta_1 = keras.Variable(0.9, trainable=False)
    opt = optimizer_adam_w(beta_1=beta_1)
    assert opt.beta_1 is beta_1
    beta_1.assign(0.5)
    np.testing.assert_allclose(_step(opt), _step(optimizer_adam_w(beta_1=0.5)), rtol=1e-6)


@pytest.mark.parametrize("kind", list(SCALARS))
def test_schedules_take_scalars(kind: str) -> None:
    make = SCALARS[kind]
    schedule = learning_rate_schedule_cosine_decay(make(0.1), make(100.0))
    config = schedule.get_config()
    initial = keras.ops.convert_to_numpy(config["initial_learning_rate"])
    assert float(initial) == pytest.approx(0.1, rel=1e-6)
    # A whole-number argument gets the int that the tensor holds.
    assert type(config["decay_steps"]) is int and config["decay_steps"] == 100
    piecewise = learning_rate_schedule_piecewise_constant_decay(
        [make(10.0), make(20.0)], [0.1, make(0.01), 0.001]
    )
    assert float(piecewise(15)) == pytest.approx(0.01, rel=1e-6)


def test_whole_number_arguments_take_the_int_a_tensor_holds() -> None:
    opt = optimizer_sgd(gradient_accumulation_steps=TENSOR(3))
    assert opt.gradient_accumulation_steps == 3
    with pytest.raises(ArgumentError, match=r"`gradient_accumulation_steps` must be a whole"):
        optimizer_sgd(gradient_accumulation_steps=TENSOR(2.5))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (TENSOR([0.9, 0.8]), r"([Tt]ensor|[Aa]rray)"),
        (np.array([0.9, 0.8]), r"array\(\[0\.9, 0\.8\]\)"),
        (np.array([0.9]), r"array\(\[0\.9\]\)"),
        (np.array([[0.9]]), r"array\(\[\[0\.9\]\]\)"),
        (TENSOR(True), r"True"),
        (np.array("0.9"), r"array\('0\.9'"),
    ],
)
def test_more_than_a_scalar_is_refused_by_name(value: Any, text: str) -> None:
    start = r"optimizer_adam_w\(\): `beta_1` must be a number in \[0, 1\), not .*"
    with pytest.raises(ArgumentTypeError, match=start + text):
        optimizer_adam_w(beta_1=value)


@pytest.mark.parametrize("kind", list(SCALARS))
def test_a_scalar_out_of_range_is_refused_as_its_number_is(kind: str) -> None:
    value = SCALARS[kind](1.5)
    with pytest.raises(ArgumentError, match=r"`beta_1` must be a number in \[0, 1\), not "):
        optimizer_adam_w(beta_1=value)
    with pytest.raises(ArgumentError, match=r"`initial_learning_rate` must be a finite number"):
        learning_rate_schedule_cosine_decay(SCALARS[kind](math.inf), 10)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_value_that_is_not_finite_is_refused_as_not_finite(value: float) -> None:
    for given in (value, np.array(value), TENSOR(value)):
        with pytest.raises(ArgumentError, match=r"`learning_rate` must be a finite number >= 0"):
            optimizer_adam_w(learning_rate=given)
        with pytest.raises(ArgumentError, match=r"`beta_2` must be a finite number in \[0, 1\)"):
            optimizer_adam_w(beta_2=given)
