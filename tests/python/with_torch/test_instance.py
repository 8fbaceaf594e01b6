"""What keras3r adds to an optimizer on torch: neither the compiled apply nor the clipping fix.

keras3r's compiled eager apply (keras3r.adapt.eager_apply) serves TensorFlow and
JAX, and its cross-replica clipping (keras3r.adapt.tensorflow_distribute) serves
TensorFlow's distribution strategies: an optimizer built on torch carries
neither, keeps the class Keras builds on torch, and updates on Keras's
`apply`.
"""

from __future__ import annotations

import keras
import numpy as np

import keras3r
from harness import NOTHING_COMPILED
from keras3r.adapt.eager_apply import stats


def test_no_compiled_apply_and_no_cross_replica_clipping():
    opt = keras3r.optimizer_adam_w(clipnorm=0.05)
    # Keras on torch builds a backend subclass of AdamW, stock or not.
    assert type(opt) is type(keras.optimizers.AdamW(clipnorm=0.05))
    variable = keras.Variable(np.ones((4,), "float32"))
    opt.apply([keras.ops.ones((4,))], [variable])
    added = set(vars(opt))
    assert not added & {"apply", "_clip_gradients", "_all_reduce_sum_gradients"}
    assert stats(opt) == NOTHING_COMPILED
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 1
    assert not np.array_equal(keras.ops.convert_to_numpy(variable), np.ones(4))
