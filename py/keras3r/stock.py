"""The way back to stock Keras: `plain(optimizer)`.

Every behaviour keras3r adds to an optimizer it builds lives on that one
instance (see keras3r.runtime): methods bound in the instance dict by
`keras3r.instance_methods.bind`, keras3r's state and marks under instance-dict
keys that begin with `_keras3r`, and a learning-rate function wrapped so that
a compiled step cannot freeze it (keras3r.host_rate). Removing exactly these
leaves the object that Keras itself would have built from the same config:
the class methods are in force again, Keras reads the user's own function.
For a user who wants to see whether keras3r is involved in what they observe.
"""

from __future__ import annotations

import types
from typing import Any

from keras3r import compat

# Instance-dict keys of keras3r's state and marks all begin so.
_KERAS3R_KEYS = "_keras3r"


def _is_keras3r_method(obj: Any, value: Any) -> bool:
    """A method that keras3r bound on this very instance (instance_methods.bind)."""
    return (
        isinstance(value, types.MethodType)
        and value.__self__ is obj
        and str(getattr(value.__func__, "__module__", "")).startswith("keras3r.")
    )


def keras3r_additions(optimizer: Any) -> list[str]:
    """The instance-dict keys of `optimizer` that keras3r added, sorted."""
    return sorted(
        key
        for key, value in vars(optimizer).items()
        if key.startswith(_KERAS3R_KEYS) or _is_keras3r_method(optimizer, value)
    )


def inner_optimizers(optimizer: Any) -> list[Any]:
    """Optimizers that `optimizer` steps through: a loss-scale wrapper's, a multi optimizer's."""
    inner = getattr(optimizer, "inner_optimizer", None)
    found = [inner] if inner is not None else []
    found += list(getattr(optimizer, "optimizers", None) or [])
    return found


def plain(optimizer: Any) -> Any:
    """Remove keras3r's behaviour from `optimizer`, in place; return it.

    Afterwards the optimizer is exactly what Keras builds from the same config:
    no method of keras3r's is left on the instance (an eager `apply()` runs
    Keras's own op-by-op path again, clipping is stock under `tf.distribute`),
    a learning-rate function is the user's own again (a compiled step freezes
    it as stock Keras does), and `get_config()` is unchanged. Optimizers it
    wraps (a loss-scale optimizer's inner optimizer, a multi optimizer's
    optimizers) are made plain too. An optimizer that keras3r did not build
    is returned as it is.

    Raises:
        TypeError: `optimizer` is not a Keras optimizer.
        RuntimeError: schedule-free AdamW holds its averaged weights in the
            model; swap the training weights back first.
    """
    import keras

    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            f"plain(): `optimizer` must be a Keras optimizer, not {type(optimizer).__name__}."
        )
    if keras3r_additions(optimizer) and _holds_averaged_weights(optimizer):
        # The training weights are kept aside in keras3r's state: dropping it
        # would lose them.
        raise RuntimeError(
            "plain(): the model holds schedule-free AdamW's averaged weights, which keras3r "
            "swapped in; put the training weights back first with "
            "swap_schedule_free_weights(optimizer, \"training\")."
        )
    for key in keras3r_additions(optimizer):
        del vars(optimizer)[key]
    rate = compat.learning_rate_object(optimizer)
    original = getattr(rate, "__wrapped_rate__", None)
    if original is not None:
        optimizer.learning_rate = original
    for inner in inner_optimizers(optimizer):
        plain(inner)
    return optimizer


def _holds_averaged_weights(optimizer: Any) -> bool:
    from keras3r import schedule_free

    try:
        return schedule_free.schedule_free_weights_in_model(optimizer) == "averaged"
    except Exception:  # not schedule-free AdamW: nothing swapped
        return False
