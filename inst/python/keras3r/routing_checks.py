"""Checks of what a multi optimizer routes variables by, at the call.

Keras's MultiOptimizer takes an OptimizerMap (patterns of variable paths, each
naming an optimizer) or a function of a variable.  A pattern that does not
compile, or an optimizer that Keras cannot route variables to, would fail only
at the first training step; a function trains but cannot be saved.  These
checks say so when the argument is given.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from keras3r.checks import Check
from keras3r.refusals import ArgumentError, ArgumentTypeError, describe, literal, refuse


class UnsavableOptimizerWarning(UserWarning):
    """An optimizer that trains but that a saved model cannot bring back."""


def _quoted(pattern: str) -> str:
    """A pattern in double quotes, as both R and Python write a string, for a template."""
    import json

    return literal(json.dumps(pattern))


def _routing_target(opt: Any, name: str, where: str | None) -> Any:
    """An optimizer that MultiOptimizer may route variables to, or a refusal."""
    from keras.optimizers import LossScaleOptimizer, MultiOptimizer, Optimizer

    if not isinstance(opt, Optimizer):
        if where is None:  # the argument itself: each language spells the value
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be a Keras optimizer, such as optimizer_adam(), not {value}.",
                name,
                opt,
            )
        raise refuse(
            ArgumentTypeError,
            f"`{{arg}}`: {where} must be a Keras optimizer, such as optimizer_adam(), "
            f"not {literal(describe(opt))}.",
            name,
        )
    where = where or "the optimizer"
    # Keras refuses these only once a variable reaches them (at the first
    # training step); they are refused here, at the call.
    if isinstance(opt, LossScaleOptimizer):
        raise refuse(
            ArgumentError,
            f"`{{arg}}`: {where} is a loss-scale optimizer, which Keras cannot route "
            "variables to; give the optimizer it wraps, and set `loss_scale_factor` "
            "on optimizer_multi().",
            name,
        )
    if isinstance(opt, MultiOptimizer):
        raise refuse(
            ArgumentError,
            f"`{{arg}}`: {where} is itself a multi optimizer, which Keras cannot route "
            "variables to; put its patterns in this map instead.",
            name,
        )
    return opt


@dataclass(frozen=True)
class RoutableOptimizer(Check):
    """A Keras optimizer that a MultiOptimizer can hand variables to."""

    base_type = "keras.optimizers.Optimizer"

    def coerce_present(self, value: Any, name: str) -> Any:
        return _routing_target(value, name, None)


@dataclass(frozen=True)
class OptimizerPatterns(Check):
    """Variable-path patterns, each naming the optimizer of the variables it matches.

    A dict in Python, a named list in R (reticulate hands it over as a dict).
    Keras compares each pattern with a variable's whole path (`re.fullmatch`)
    at the first training step; a pattern that does not compile, or an
    optimizer that Keras cannot route to, would fail only there.
    """

    base_type = "dict[str, keras.optimizers.Optimizer]"
    r_mapping = True

    def coerce_present(self, value: Any, name: str) -> Any:
        from collections.abc import Mapping

        if not isinstance(value, Mapping):
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be a named list (a dict in Python) of optimizers, named "
                "by the variable-path patterns they take, not {value}.",
                name,
                value,
            )
        patterns: dict[str, Any] = {}
        for pattern, opt in value.items():
            if not isinstance(pattern, str) or not pattern:
                raise refuse(
                    ArgumentTypeError,
                    "`{arg}`: every element must be named by a pattern of variable "
                    f"paths (a non-empty string), not {literal(describe(pattern))}.",
                    name,
                )
            try:
                re.compile(pattern)
            except re.error as error:
                raise refuse(
                    ArgumentError,
                    f"`{{arg}}`: the pattern {_quoted(pattern)} is not a valid regular "
                    f"expression ({literal(str(error))}).",
                    name,
                ) from None
            patterns[pattern] = _routing_target(
                opt, name, f"the element for pattern {_quoted(pattern)}"
            )
        return patterns


@dataclass(frozen=True)
class OptimizerRouting(Check):
    """What MultiOptimizer routes by: an OptimizerMap, or a function of a variable.

    A function is accepted, but Keras cannot save it in a model file: the user
    is told so here, when it is given, rather than when the model is saved or,
    worse, loaded.
    """

    base_type = "keras.optimizers.OptimizerMap | Callable[[Any], keras.optimizers.Optimizer]"
    r_function_of_one = True

    def coerce_present(self, value: Any, name: str) -> Any:
        import warnings
        from collections.abc import Mapping

        from keras.optimizers import Optimizer, OptimizerMap

        if isinstance(value, OptimizerMap):
            for pattern, opt in value.items():
                _routing_target(opt, name, f"the optimizer for pattern {_quoted(pattern)}")
            _routing_target(value.default_optimizer, name, "the default optimizer")
            return value
        if isinstance(value, Mapping):
            raise refuse(
                ArgumentTypeError,
                "`{arg}` must be made by optimizer_map(default_optimizer, optimizer_map), "
                "which also names the optimizer for the variables that no pattern matches; "
                "not a bare list of patterns.",
                name,
            )
        # Keras's own callables (a schedule, a layer) are never a routing function.
        keras_object = type(value).__module__.startswith("keras")
        if callable(value) and not isinstance(value, (type, Optimizer)) and not keras_object:
            if _takes_one_argument(value) is False:
                raise refuse(
                    ArgumentTypeError,
                    "`{arg}` must be a function of one argument (a variable) that returns "
                    "its optimizer, not {value}.",
                    name,
                    value,
                )
            warnings.warn(
                f"`{name}` is a function: it routes variables for training, but a model "
                "compiled with this optimizer cannot be saved and loaded again (Keras "
                "cannot write a function into a model file). Use optimizer_map() with "
                "patterns of variable paths for a model that you will save.",
                UnsavableOptimizerWarning,
                stacklevel=_stacklevel_outside_keras3r(),
            )
            return value
        raise refuse(
            ArgumentTypeError,
            "`{arg}` must be made by optimizer_map(), or be a function of a variable "
            "that returns its optimizer, not {value}.",
            name,
            value,
        )


def _takes_one_argument(value: Any) -> bool | None:
    """False for a callable that surely cannot be called with one argument."""
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(object())
    except TypeError:
        return False
    return True


def _stacklevel_outside_keras3r() -> int:
    """The `stacklevel` that points a warning at the first caller outside keras3r."""
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = inspect.currentframe(), 0
    try:
        while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
            frame, level = frame.f_back, level + 1
        return level  # counted from the caller of this function, as warn() counts
    finally:
        del frame
