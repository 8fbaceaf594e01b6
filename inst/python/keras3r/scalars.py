"""The number a value holds, wherever Keras takes a number.

A Python number, a NumPy scalar, a 0-d array, a scalar tensor of any
backend's type, or a Keras variable: `scalar()` reads each as the number it
holds, so that the checks of `keras3r.checks` apply one rule to all of them,
and refuses what holds several values or no real number.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

from keras3r.refusals import ArgumentError, ArgumentTypeError, refuse

# Keras computes in float32 (its default floatx) and counts steps in int64.  A
# number beyond these limits is taken by Keras without a word and turns into inf
# (a learning rate of 1e39 is stored as inf) or fails at the first training step
# ("out-of-range integer"), so the checks refuse it at the call.
FLOAT32_MAX = 3.4028234663852886e38
INT64_MAX = 2**63 - 1


def is_bool(value: Any) -> bool:
    # numpy.bool_ is not a subclass of bool, but R logicals can arrive as one.
    return isinstance(value, bool) or type(value).__name__ == "bool_"


# The packages whose tensors and arrays stand for a number where Keras takes
# one: Keras itself (its variables), NumPy, and each backend's tensor type,
# whichever backend runs (a TensorFlow constant trains on JAX too).
_TENSOR_PACKAGES = frozenset({"numpy", "keras", "tensorflow", "jax", "torch"})


def _tensor_package(value: Any) -> str | None:
    """Which of `_TENSOR_PACKAGES` made `value`, or None."""
    package = type(value).__module__.partition(".")[0]
    if package in _TENSOR_PACKAGES:
        return package
    # A concrete JAX array's class lives in JAX's compiled extension, whose
    # module name is not `jax`: ask JAX's public type instead, where JAX is loaded.
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(value, jax.Array):
        return "jax"
    return None


def array_value(value: Any) -> Any:
    """The NumPy array of a tensor, Keras variable or NumPy array; None for anything else."""
    package = _tensor_package(value) if hasattr(value, "shape") else None
    if package is None:
        return None
    import numpy as np

    try:
        if package == "keras":
            value = value.value  # a Keras variable holds its backend's tensor
        if _tensor_package(value) == "torch":
            value = value.detach().cpu()  # NumPy reads no tensor that tracks gradients
        return np.asarray(value)
    except Exception:  # a symbolic tensor, being traced, has no value to read
        return None


def is_keras_variable(value: Any) -> bool:
    if isinstance(value, numbers.Number):
        return False
    import keras

    return isinstance(value, keras.Variable)


def is_tensor(value: Any) -> bool:
    """True for a tensor, Keras variable or NumPy array (not a NumPy scalar)."""
    return not isinstance(value, numbers.Number) and array_value(value) is not None


def python_number(value: Any) -> Any:
    """The Python int or float that a checked scalar of any kind holds."""
    array = array_value(value)
    return (array[()] if array is not None else value).item()


def scalar(value: Any, name: str, what: str) -> Any:
    """`value`, or the one number that a tensor, variable or 0-d array holds.

    Keras takes these wherever it takes a number (its docs say "a float value
    or a constant float tensor"), so each is checked by the number it holds.
    """
    if isinstance(value, numbers.Number) or is_bool(value):
        return value
    array = array_value(value)
    if array is None:
        return value
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        # Several values, a shape other than a scalar's (an R matrix arrives
        # as a 2-d array), booleans, complex numbers and strings: refused as
        # before tensors were taken, in the same words.
        raise refuse(ArgumentTypeError, f"`{{arg}}` must be {what}, not {{value}}.", name, value)
    return array[()]  # a NumPy scalar, which the number rules below read


def as_real(value: Any, name: str, what: str) -> float:
    """A real number from any numeric scalar (not a bool, not a string)."""
    number = scalar(value, name, what)
    if is_bool(number) or not isinstance(number, numbers.Real):
        raise refuse(ArgumentTypeError, f"`{{arg}}` must be {what}, not {{value}}.", name, value)
    try:
        return float(number)
    except OverflowError:
        # A Python int (or Fraction) beyond the range of a double, such as
        # 10**400: float() raises OverflowError, which names no argument.
        raise refuse(
            ArgumentError, f"`{{arg}}` must be {what}, not {{value}} (too large).", name, value
        ) from None
