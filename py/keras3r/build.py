"""From checked arguments to a Keras object.

Every generated function in `keras3r.family` hands its arguments here.  Keras
is imported on the first call, not when keras3r is imported, so that
`KERAS_BACKEND` may still be chosen after `import keras3r` (and R's
`library(keras3r)` stays instant).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

from keras3r.adapt import attach
from keras3r.refusals import ArgumentTypeError, Refusal, refuse
from keras3r.spec import SPECS, FunctionSpec

# Names that older Keras code (and keras 2 R code) still uses.
_OLD_NAMES = {"lr": "learning_rate", "decay": "a learning-rate schedule as learning_rate"}


def keras_class(spec: FunctionSpec) -> type:
    """The Keras class that `spec` builds, e.g. keras.optimizers.AdamW."""
    module_path, _, class_name = f"keras.{spec.keras_class}".rpartition(".")
    return getattr(importlib.import_module(module_path), class_name)


def _keras_parameters(cls: type) -> set[str]:
    """Named parameters of cls.__init__ and of the Keras base classes it forwards to."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        for param in params:
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                names.add(param.name)
        if not any(param.kind is param.VAR_KEYWORD for param in params):
            # This __init__ forwards nothing else to its base classes (as
            # MultiOptimizer's, which sets the base's learning rate itself).
            break
    names.discard("self")
    return names


def _forwarded(spec: FunctionSpec, cls: type, extra: dict[str, Any]) -> dict[str, Any]:
    """What R's `...` (Python's **kwargs) may pass on: only names Keras knows.

    keras3r's signature already names every Keras argument of today; `...`
    exists for arguments that a newer Keras adds.  Anything else is a typo or
    an old habit, and is refused with the nearest real name.
    """
    ours = [a.name for a in spec.args]
    allowed = _keras_parameters(cls) - set(ours)
    for key in extra:
        if key not in allowed:
            raise _unknown(key, ours)
    return extra


def check_arguments(spec: FunctionSpec, given: dict[str, Any]) -> dict[str, Any]:
    """Every argument checked and coerced, then the cross-argument rules."""
    values = {arg.name: arg.check.coerce(given[arg.name], arg.name) for arg in spec.args}
    for rule in spec.rules:
        rule(values)
    if spec.pass_after_dots_only_when_given:
        for arg in spec.after_dots:
            if values[arg.name] is None:
                del values[arg.name]
    return values


def check_optimizer_arguments(function: str = "Optimizer", /, **given: Any) -> dict[str, Any]:
    """The arguments of Keras's base optimizer in `given`, checked as keras3r checks them.

    For optimizers that are not keras3r's (a subclass of
    `keras.optimizers.Optimizer` written by the user, in Python or in R): the
    same rules as every keras3r optimizer (`clipnorm=-1`, a NaN rate, two
    clipping modes, an unknown name, all refused naming the argument, with
    `function` in the message). Returns the values as Keras must get them
    (`5.0` steps become `5`); arguments not given stay out.
    """
    from keras3r.spec import shared

    base = {arg.name: arg for arg in [shared.learning_rate("0.001"), *shared.optimizer_tail("")]}
    try:
        values = {}
        for key, value in given.items():
            if key not in base:
                raise _unknown(key, list(base))
            values[key] = base[key].check.coerce(value, key)
        for rule in shared.OPTIMIZER_RULES:
            rule(values)
    except Refusal as error:
        raise error.for_function(function) from None
    return values


def _unknown(key: str, names: list[str]) -> Refusal:
    """The refusal of an argument `key` that is none of `names`, with the nearest one."""
    hint = _OLD_NAMES.get(key)
    if hint is None:
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = close[0] if close else None
    suggestion = f"; did you mean `{hint}`?" if hint else "."
    return refuse(ArgumentTypeError, f"Unknown argument `{{arg}}`{suggestion}", key)


def build(function_name: str, given: dict[str, Any]) -> Any:
    """Build the Keras object for `function_name` from its call's locals()."""
    spec = SPECS[function_name]
    extra = dict(given.get("kwargs") or {})
    try:
        values = check_arguments(spec, given)
        cls = keras_class(spec)
        values.update(_forwarded(spec, cls, extra))
    except Refusal as error:
        # Name the function too: from R, the traceback does not show it.
        raise error.for_function(function_name) from None
    return attach(cls(**values))
