"""Schedule-free AdamW's update step, on every backend as on JAX.

Keras 3.15's ScheduleFreeAdamW.update_step keeps `momentum.value` as "z before
the step" and then moves z with assign_sub. On TensorFlow and torch `.value`
is the live variable, so the x it then recovers from y uses the new z: x gains
(1 - beta_1) / beta_1 times the z step at every update, and the model drifts
from the paper's method (on JAX `.value` is an immutable array, and the
method is the paper's). keras3r's instances read z before moving it.
"""

from __future__ import annotations

from typing import Any

from keras3r import compat
from keras3r.adapt.instance import bind


def _update_step(self: Any, gradient: Any, variable: Any, learning_rate: Any) -> None:
    import keras

    ops = keras.ops
    dtype = variable.dtype
    lr = ops.cast(learning_rate, dtype)
    gradient = ops.cast(gradient, dtype)
    t = ops.cast(self.iterations + 1, dtype)
    b1 = ops.cast(self.beta_1, dtype)
    b2 = ops.cast(self.beta_2, dtype)
    epsilon = ops.cast(self.epsilon, dtype)
    if self.warmup_steps > 0:
        lr = lr * ops.minimum(t / ops.cast(self.warmup_steps, dtype), 1.0)

    index = compat.variable_index(self, variable)
    z = compat.momentums(self)[index]
    v = compat.velocities(self)[index]
    # x from y and the z of the previous step, computed before z moves.
    x = ops.divide(ops.subtract(variable, ops.multiply(1.0 - b1, z)), b1)

    self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - b2))
    denominator = ops.add(ops.sqrt(ops.divide(v, 1.0 - ops.power(b2, t))), epsilon)
    self.assign_sub(z, ops.divide(ops.multiply(lr, gradient), denominator))

    weight = 1.0 / t  # x is the plain average of the z's
    x = ops.add(ops.multiply(1.0 - weight, x), ops.multiply(weight, z))
    self.assign(variable, ops.add(ops.multiply(1.0 - b1, z), ops.multiply(b1, x)))


def attach(optimizer: Any) -> Any:
    """Give a ScheduleFreeAdamW the update above; return it."""
    bind(optimizer, "update_step", _update_step)
    return optimizer
