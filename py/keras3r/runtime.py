"""Behaviour keras3r gives each optimizer it builds, beyond plain Keras.

Everything here acts on the one instance that a keras3r function returns: the
class stays the Keras class and `get_config()` stays Keras's, so a model saved
with a keras3r optimizer loads in plain Keras without keras3r.
"""

from __future__ import annotations

from typing import Any

from keras3r.compiled_apply import compile_eager_apply
from keras3r.cross_replica import clip_after_cross_replica_sum


def prepare(obj: Any) -> Any:
    """Called by keras3r.build on every object it builds; returns the object."""
    # tf.distribute: clip the summed gradient, not each replica's share (issue 4).
    obj = clip_after_cross_replica_sum(obj)
    # Speed: an eager apply() runs one cached XLA-compiled update (issue 5).
    obj = compile_eager_apply(obj)
    return obj
