"""Every kind of gradient Keras accepts on TensorFlow: the result of stock Keras, on the right path.

Dense gradients (backend tensors, NumPy arrays of several dtypes, Python
lists and numbers, Keras and tf.Variables) run keras3r's compiled update;
tf.IndexedSlices, tf.SparseTensor and missing gradients leave the step to
Keras; inside the user's own tf.function dense gradients nest the update as
one XLA function and IndexedSlices keep Keras's graph ops. Whatever the
path, keras3r ends as its stock twin ends (gradient_kinds.py drives both).
The same checks run on JAX and torch in with_jax/ and with_torch/.

Which path ran is read from keras3r.adapt.eager_apply.stats(): the choice is
keras3r's own, and no TensorFlow counter records it.
"""

from __future__ import annotations

import pytest

from gradient_kinds import DENSE_KINDS, OPTIMIZERS, OTHER_KINDS, check

PATHS = {
    **dict.fromkeys(DENSE_KINDS + ["tf_variable"], "compiled"),
    **dict.fromkeys(OTHER_KINDS + ["indexed_slices", "sparse_tensor"], "keras"),
    "indexed_slices_then_dense": "alternating",
    "tf_function_dense": "nested",
    "tf_function_indexed_slices": "nested_keras",
}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", list(PATHS))
def test_same_outcome_as_stock_keras_on_its_path(kind, optimizer):
    check(kind, optimizer, PATHS[kind])
