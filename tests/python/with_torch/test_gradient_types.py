"""Every kind of gradient Keras accepts on torch: the result of stock Keras.

keras3r compiles no update on torch (keras3r.adapt.eager_apply leaves torch
alone): with dense gradients of every kind, a sparse COO tensor or missing
gradients, keras3r ends as its stock twin ends (gradient_kinds.py drives
both). Where keras3r's update runs torch's fused kernels
(keras3r.adapt.torch), they order a few operations differently from Keras's
ops: the states agree to a few float32 ulps.
"""

from __future__ import annotations

import pytest

from gradient_kinds import DENSE_KINDS, OPTIMIZERS, OTHER_KINDS, check


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", DENSE_KINDS + OTHER_KINDS + ["torch_sparse_coo"])
def test_same_outcome_as_stock_keras_untouched(kind, optimizer):
    check(kind, optimizer, "untouched", exact=False)
