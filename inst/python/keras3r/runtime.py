"""Behaviour keras3r gives each optimizer it builds, beyond plain Keras.

Everything here acts on the one instance that a keras3r function returns: the
class stays the Keras class and `get_config()` stays Keras's, so a model saved
with a keras3r optimizer loads in plain Keras without keras3r.
"""

from __future__ import annotations

from typing import Any

from keras3r.compiled_apply import compile_eager_apply
from keras3r.cross_replica import clip_after_cross_replica_sum
from keras3r.fused_torch import fuse_torch_update
from keras3r.host_rate import guard_learning_rate
from keras3r.multi_routing import check_routing_on_build, is_multi_optimizer
from keras3r.muon_split import check_split_on_build
from keras3r.reattach import keep_on_copies
from keras3r.schedule_free import prepare as schedule_free_update


def prepare(obj: Any) -> Any:
    """Called by keras3r.build on every object it builds; returns the object."""
    # A deep copy (which Keras makes from the config) gets all of this again.
    return keep_on_copies(_prepare(obj))


def _prepare(obj: Any) -> Any:
    if is_multi_optimizer(obj):
        # It does no maths of its own: each optimizer of its map carries its
        # own keras3r behaviours. It gets the check that its routing survives
        # saving and loading.
        return check_routing_on_build(obj)
    # A learning-rate function: called on every step, or refused where a
    # compiled step would keep its first value for ever.
    obj = guard_learning_rate(obj)
    # tf.distribute: clip the summed gradient, not each replica's share.
    obj = clip_after_cross_replica_sum(obj)
    # Muon: its split between its own step and AdamW must survive a reload.
    obj = check_split_on_build(obj)
    # ScheduleFreeAdamW: the paper's update on TensorFlow and torch too, as on JAX.
    obj = schedule_free_update(obj)
    # Speed: an eager apply() runs one cached XLA-compiled update.
    obj = compile_eager_apply(obj)
    # torch: Keras's update through torch's fused multi-tensor kernels.
    obj = fuse_torch_update(obj)
    return obj
