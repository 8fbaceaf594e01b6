"""A learning rate given as a function: called on every step, or refused.

Keras calls a callable learning rate whenever it needs the rate. In an eager
step that is every step. In a compiled step (fit()'s default tf.function with
XLA, a custom tf.function step, jax.jit) Keras calls it once, while tracing:
a function that returns a plain number then trains with its first value for
ever, without a word. Such a function cannot be called on every compiled step
either: from a compiled TensorFlow step it would run on one of TensorFlow's
threads, and an R function (reticulate) must never run off R's main thread.

So keras3r lets the function through unchanged where it works (eager steps;
functions that return a tensor or a Keras variable, which stay live when
traced) and raises a clear error where Keras would freeze the rate.
"""

from __future__ import annotations

import functools
import numbers
import sys
from collections.abc import Callable
from typing import Any

from keras3r import compat

FROZEN_RATE_MESSAGE = (
    "`learning_rate` is a function that returns a plain number, and it was called "
    "while a compiled training step was being traced: the step would keep that first "
    "value for ever. Use a learning-rate schedule (learning_rate_schedule_*()), a "
    "function that returns a Keras variable, or run the steps eagerly "
    "(compile(run_eagerly = TRUE) in R, run_eagerly=True in Python), where the function "
    "is called on every step."
)


def _tracing() -> bool:
    """True while a TensorFlow graph or a JAX computation is being traced."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and not tf.executing_eagerly():
        return True
    if jax_tracing():
        return True
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.compiler.is_compiling())


def jax_tracing() -> bool:
    """True while a JAX computation is being traced (False where JAX was never imported).

    Where a JAX release no longer lets this be told (keras3r.compat), False:
    the check for a frozen rate then stays silent rather than refuse eager
    steps; the compiled update asks compat itself and takes the safe side.
    """
    return compat.jax_trace_state_clean() is False


def _plain_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) or type(value).__module__ == "numpy"


def guard_rate_function(function: Callable[[], Any]) -> Callable[[], Any]:
    """`function`, refusing to be frozen into a compiled step."""

    @functools.wraps(function)
    def rate() -> Any:
        value = function()
        if _plain_number(value) and _tracing():
            raise RuntimeError(FROZEN_RATE_MESSAGE)
        return value

    rate.__wrapped_rate__ = function  # type: ignore[attr-defined]
    return rate


def attach(optimizer: Any) -> Any:
    """`optimizer`, its learning-rate function (if it has one) guarded; returns it.

    A number or a schedule is left as it is: Keras keeps those live in a
    compiled step. keras3r.plain() puts the user's own function back.
    """
    import keras

    rate = compat.learning_rate_object(optimizer)
    live = (keras.optimizers.schedules.LearningRateSchedule, keras.Variable)
    if callable(rate) and not isinstance(rate, live) and not hasattr(rate, "__wrapped_rate__"):
        compat.replace_learning_rate_function(optimizer, guard_rate_function(rate))
    return optimizer
