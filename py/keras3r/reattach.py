"""keras3r's behaviour on copies of an optimizer: adapt_optimizer() and a deepcopy hook.

keras3r's behaviour lives on the instance it built (keras3r.runtime), and the
saved file is a plain Keras config; so a copy that Keras makes from the config
is stock Keras. `copy.deepcopy()` goes that way too (Keras optimizers copy
through their config), and is caught here: every optimizer keras3r prepares
carries an instance-level `__deepcopy__` (copy.deepcopy looks it up on the
instance) that makes Keras's copy and gives it keras3r's behaviour again.
`keras.saving.load_model()` and `from_config()` cannot be caught without
changing Keras's classes for every user, so `adapt_optimizer()` is offered
for them.
"""

from __future__ import annotations

import copy
from typing import Any

from keras3r.instance_methods import bind


def _is_optimizer(obj: Any) -> bool:
    import keras

    return isinstance(obj, keras.optimizers.Optimizer)


def adapt_optimizer(optimizer: Any) -> Any:
    """Give `optimizer` keras3r's behaviour, in place; return it.

    For an optimizer that Keras made (`keras.saving.load_model()`,
    `from_config()`, `keras.optimizers.AdamW(...)`): afterwards it behaves as
    the one the keras3r function of its class builds from the same config,
    keeping its variables and state. Optimizers it wraps (a loss-scale
    optimizer's inner optimizer, a multi optimizer's optimizers) are adapted
    too; an optimizer that already has keras3r's behaviour is left as it is.
    The reverse of `plain()`.

    Raises:
        TypeError: `optimizer` is not a Keras optimizer.
    """
    from keras3r import runtime
    from keras3r.stock import inner_optimizers, keras3r_additions

    if not _is_optimizer(optimizer):
        raise TypeError(
            "adapt_optimizer(): `optimizer` must be a Keras optimizer, "
            f"not {type(optimizer).__name__}."
        )
    for inner in inner_optimizers(optimizer):
        adapt_optimizer(inner)
    if not keras3r_additions(optimizer):
        runtime.prepare(optimizer)
    return optimizer


def _deepcopy_with_keras3r(self: Any, memo: dict[int, Any]) -> Any:
    # Keras's own copy, made while this hook is out of the way, then adapted.
    hook = vars(self).pop("__deepcopy__")
    try:
        copied = copy.deepcopy(self, memo)
    finally:
        vars(self)["__deepcopy__"] = hook
    return adapt_optimizer(copied)


def keep_on_copies(obj: Any) -> Any:
    """Make `copy.deepcopy(obj)` of an optimizer keep keras3r's behaviour; return `obj`."""
    if _is_optimizer(obj):
        bind(obj, "__deepcopy__", _deepcopy_with_keras3r)
    return obj
