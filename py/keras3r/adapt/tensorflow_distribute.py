"""Gradient clipping after the cross-replica sum, under tf.distribute.

Why: in Keras 3's TensorFlow backend, `BaseOptimizer._backend_apply_gradients`
clips the gradients (`_clip_gradients`) while each replica still holds only
its own share of the global batch, and only afterwards does
`TFOptimizer._backend_update_step` sum the replicas' gradients
(`_all_reduce_sum_gradients`).  So with `clipnorm`, `global_clipnorm` or
`clipvalue`, a model trained on two devices is not the model trained on one
device with the same global batch: each half is clipped on its own and the
clipped halves are added.  On one device the whole gradient is clipped once.

keras3r moves clipping to where the gradient is whole.  When the optimizer runs
in a replica context with more than one replica in sync, `_clip_gradients`
hands the gradients on untouched, and `_all_reduce_sum_gradients` clips the sum
(with the optimizer's own, unchanged clipping code) before `update_step` sees
it.  Weight decay does not read the gradients, so it may still run in between.
Gradient accumulation keeps working: it too clips just before
`_backend_update_step`, which is where the sum and now the clipping happen.

Why per-instance methods: keras3r must return the genuine Keras class, with
Keras's `get_config()`, so that a saved `.keras` file is a plain optimizer that
loads without keras3r.  Methods bound on the instance (`types.MethodType`) are
invisible to `type()`, `get_config()`, the saved file and `from_config()`: a
reloaded optimizer is stock Keras.  With one replica, or with no strategy at
all, both methods call straight through to the ones they replace, so
single-device training is exactly stock Keras.  On JAX and torch there is no
`tf.distribute` and nothing is changed.
"""

from __future__ import annotations

from typing import Any

from keras3r import compat
from keras3r.adapt.instance import bind, method_in_force


def _replicas_in_sync() -> int:
    """Replicas summed by `_all_reduce_sum_gradients` here, or 1 outside a replica context."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:  # Cross-replica context: Keras neither sums nor needs to.
        return 1
    return int(context.num_replicas_in_sync)


def attach(optimizer: Any) -> Any:
    """Make a TensorFlow optimizer clip gradients after, not before, the replicas' sum.

    Returns `optimizer` itself, with the same class and the same config.
    """
    if not compat.has_clip_hooks(optimizer):
        # A future Keras that reorganises this flow: leave stock behaviour
        # rather than guess.
        return optimizer

    # The methods in force now (possibly already bound on the instance by
    # another keras3r feature), so that wrappers compose instead of replace.
    clip = method_in_force(optimizer, compat.CLIP_GRADIENTS)
    all_reduce_sum = method_in_force(optimizer, compat.ALL_REDUCE_SUM_GRADIENTS)

    def _clip_gradients(self: Any, grads: list[Any]) -> list[Any]:
        # Per-replica gradients are parts of the whole: clipping them here
        # is the bug. Leave them to be clipped after the sum below.
        if _replicas_in_sync() > 1:
            return grads
        return clip(self, grads)

    def _all_reduce_sum_gradients(self: Any, grads_and_vars: Any) -> list[Any]:
        # Same test as in `_clip_gradients`, evaluated in the same replica
        # context, so the gradients are clipped exactly once.
        deferred = _replicas_in_sync() > 1
        reduced = all_reduce_sum(self, grads_and_vars)
        if not deferred:
            return reduced
        reduced = list(reduced)
        present = [i for i, (grad, _) in enumerate(reduced) if grad is not None]
        clipped = clip(self, [reduced[i][0] for i in present])
        for i, grad in zip(present, clipped):
            reduced[i] = (grad, reduced[i][1])
        return reduced

    bind(optimizer, compat.CLIP_GRADIENTS, _clip_gradients)
    bind(optimizer, compat.ALL_REDUCE_SUM_GRADIENTS, _all_reduce_sum_gradients)
    return optimizer
