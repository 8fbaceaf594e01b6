"""What keras3r's R package calls in Python, beside keras3r's public functions.

The R wrappers reach Python through these functions and the ones `keras3r`
exports (`plain`, `adapt_optimizer`, the schedule-free helpers), nothing
else: what R relies on is named here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from keras3r import compat
from keras3r.checks import Refusal

__all__ = ["call_for_r", "multi_optimizer_routes"]


def call_for_r(function_name: str, /, **given: Any) -> Any:
    """The object that keras3r's `function_name` builds from `given`, or its refusal.

    A refusal is returned, not raised, so that R receives its fields (the
    argument, the value) and its message in R's spelling
    (`Refusal.message_in_r`), whatever the version of reticulate; every
    other error, Keras's own included, is raised as usual.
    """
    import keras3r.family

    try:
        return getattr(keras3r.family, function_name)(**given)
    except Refusal as error:
        return error if error.function else error.for_function(function_name)


def multi_optimizer_routes(optimizer: Any) -> Any:
    """What a multi optimizer routes variables by: its OptimizerMap, a function, or None."""
    return compat.multi_optimizer_routes(optimizer)
