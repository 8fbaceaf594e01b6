"""float16 and bfloat16 variables: keras3r's eager apply is Keras's own, bit for bit.

Shared by the TensorFlow and the JAX test modules of the compiled apply.
"""

from __future__ import annotations

import keras
import numpy as np

import keras3r
from keras3r.adapt.eager_apply import stats

BUILDERS = {
    "adam": lambda: keras3r.optimizer_adam(learning_rate=0.01),
    "sgd": lambda: keras3r.optimizer_sgd(learning_rate=0.01, momentum=0.9),
    "adagrad": lambda: keras3r.optimizer_adagrad(learning_rate=0.01),
}


def check_half_precision_matches_stock(name: str, dtype: str) -> None:
    ours = BUILDERS[name]()
    stock = type(ours).from_config(ours.get_config())
    rng = np.random.default_rng(1)
    start = rng.normal(size=(3, 4)).astype("float32")
    ours_vars = [keras.Variable(start, dtype=dtype)]
    stock_vars = [keras.Variable(start, dtype=dtype)]
    for _ in range(6):
        grad = rng.normal(size=(3, 4)).astype("float32")
        ours.apply([keras.ops.cast(grad, dtype)], ours_vars)
        stock.apply([keras.ops.cast(grad, dtype)], stock_vars)
    assert stats(ours)["compiled_calls"] == 0
    got = keras.ops.convert_to_numpy(keras.ops.cast(ours_vars[0], "float32"))
    want = keras.ops.convert_to_numpy(keras.ops.cast(stock_vars[0], "float32"))
    np.testing.assert_array_equal(got, want)
