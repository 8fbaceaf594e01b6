"""Every kind of gradient Keras accepts on JAX: the result of stock Keras, on the right path.

Dense gradients (backend arrays, NumPy arrays of several dtypes, Python lists
and numbers, Keras variables, a weakly typed scalar) run keras3r's
jit-compiled update; JAX's sparse BCOO and BCSR arrays and missing gradients
leave the step to Keras. Whatever the path, keras3r ends as its stock twin
ends (gradient_kinds.py drives both).

Which path ran is read from keras3r.adapt.eager_apply.stats(): the choice is
keras3r's own, and no JAX counter records it.
"""

from __future__ import annotations

import pytest

from gradient_kinds import DENSE_KINDS, OPTIMIZERS, OTHER_KINDS, check

PATHS = {
    **dict.fromkeys(DENSE_KINDS + ["weak_typed_scalar"], "compiled"),
    **dict.fromkeys(OTHER_KINDS + ["bcoo", "bcsr"], "keras"),
    "bcoo_then_dense": "alternating",
}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", list(PATHS))
def test_same_outcome_as_stock_keras_on_its_path(kind, optimizer):
    check(kind, optimizer, PATHS[kind])
