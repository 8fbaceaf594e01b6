"""The size rule for nesting a compiled update inside a plain tf.function.

Where the variables hold fewer than MIN_PARAMETERS_TO_NEST parameters on
average, the nested XLA function costs more than it saves, so Keras's path
stays; from there on the update is nested. The threshold itself is a tuning
figure, chosen from bench/bench_nesting.py: the cases here are written
around whatever it is, so that they test the rule (the average decides, at
trace time, from the call's variables), not the number. Each case drives
`apply()` inside a user's tf.function and reads which path the trace took.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras3r
from keras3r.adapt.eager_apply import stats
from keras3r.adapt.tensorflow import MIN_PARAMETERS_TO_NEST, _graph_compilable_call

N = MIN_PARAMETERS_TO_NEST


def _path_in_a_step(sizes: list[int], jit_compile: bool = False) -> dict[str, int]:
    """Two steps of a tf.function calling apply() on variables of `sizes`; keras3r's counts."""
    opt = keras3r.optimizer_adam_w()
    variables = [keras.Variable(np.zeros(n, "float32")) for n in sizes]
    grads = [tf.ones((n,)) for n in sizes]

    @tf.function(jit_compile=jit_compile)
    def step(grads: list[tf.Tensor]) -> None:
        opt.apply(grads, variables)

    step(grads)
    step(grads)
    # A step that ran on either path moved every variable.
    assert all(float(v.numpy()[0]) < 0 for v in variables)
    return stats(opt)


@pytest.mark.parametrize(
    ("sizes", "nested"),
    [
        ([N - 1], False),
        ([N], True),
        ([N + N // 2, N // 2], True),  # N on average
        ([N + N // 2, N // 2 - 1], False),
        ([N // 10] * 20, False),  # 2 N in total, small on average
        ([5 * N] * 4, True),
        ([10] * 40, False),  # many variables, few parameters
    ],
)
def test_small_updates_keep_keras_path_inside_a_plain_tf_function(
    sizes: list[int], nested: bool
) -> None:
    counts = _path_in_a_step(sizes)
    assert (counts["nested"] > 0) is nested
    assert (counts["keras_calls"] > 0) is not nested
    assert counts["compiled_calls"] == 0  # never the eager cache inside a trace


def test_inside_xla_keras_path_is_kept_whatever_the_size() -> None:
    counts = _path_in_a_step([2 * N], jit_compile=True)
    assert counts["nested"] == 0 and counts["keras_calls"] > 0


def test_an_eager_call_is_not_a_graph_call() -> None:
    assert _graph_compilable_call(keras3r.optimizer_adam_w()) is False
