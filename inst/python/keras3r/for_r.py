"""What keras3r's R package calls in Python, beside keras3r's public functions.

The R wrappers reach Python through these functions and the ones `keras3r`
exports (`plain`, `adapt_optimizer`, the schedule-free helpers), nothing
else: what R relies on is named here and nowhere else.
"""

from __future__ import annotations

import warnings
from typing import Any

from keras3r import compat
from keras3r.refusals import Refusal

__all__ = ["build", "check_optimizer_arguments", "init_optimizer", "multi_optimizer_routes"]

Outcome = tuple[Any, "dict[str, Any] | None", "list[tuple[str, str]]"]


def build(function_name: str, /, **given: Any) -> Outcome:
    """keras3r's `function_name` called with `given`, as R needs the outcome.

    One call from R does the whole job, so that R crosses into Python once:
    the result is `(object, None, warnings)`, or `(None, refusal, warnings)`
    where the function refused an argument. reticulate turns the tuple into an
    R list. The refusal is a dict of what R's condition holds (the argument,
    the value, the message in R's spelling cut where the value goes, which R
    writes as the user wrote it). `warnings` holds keras3r's own warnings, as
    (category name, message) pairs, for R to signal as R warnings (Python's,
    printed from inside R, could not be caught or muffled there); other
    warnings, Keras's among them, are shown by Python as usual. Every error
    that is not a refusal, Keras's own included, is raised as it is.
    """
    import keras3r.family

    return _outcome(function_name, getattr(keras3r.family, function_name), given)


def check_optimizer_arguments(function_name: str, /, **given: Any) -> Outcome:
    """`keras3r.check_optimizer_arguments()` for an optimizer written in R, as `build()` answers.

    The result is the dict of checked values (a named list in R).
    """
    from keras3r.build import check_optimizer_arguments as check

    return _outcome(function_name, lambda **values: check(function_name, **values), given)


def init_optimizer(init: Any, /, *args: Any, **kwargs: Any) -> Outcome:
    """`init(*args, **kwargs)` for R's `super$initialize(...)`, as `build()` answers.

    `init` is the parent's `__init__` that the R `initialize` of an optimizer
    written in R calls.  The `RWrittenOptimizer` mixin on its way refuses a
    bad base argument (naming the class of the optimizer); returned here as
    data, the refusal becomes R's `keras3r_argument_error` in R, where the R
    code called it, with the value as R writes it.  The result is None.
    """
    owner = getattr(init, "__self__", None)
    name = type(owner).__name__ if owner is not None else "Optimizer"
    return _outcome(name, lambda: init(*args, **kwargs), {})


def _outcome(function_name: str, function: Any, given: dict[str, Any]) -> Outcome:
    result, refusal = None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = function(**given)
        except Refusal as error:
            refusal = _refusal_for_r(error if error.function else error.for_function(function_name))
    ours = []
    for record in caught:
        if record.category.__module__.startswith("keras3r"):
            ours.append((record.category.__name__, str(record.message)))
        else:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    return result, refusal, ours


def _refusal_for_r(error: Refusal) -> dict[str, Any]:
    return {
        "message_parts": error.message_in_r_parts(),
        "arguments": list(error.arguments),
        "index": error.index,
        "has_value": error.has_value,
        "value": error.value,
    }


def multi_optimizer_routes(optimizer: Any) -> Any:
    """What a multi optimizer routes variables by: its OptimizerMap, a function, or None."""
    return compat.multi_optimizer_routes(optimizer)
