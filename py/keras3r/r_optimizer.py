"""The Python side of optimizers written in R (R's `Optimizer()`).

R's `Optimizer()` makes a Python class whose methods are R functions.  Its
bases are `RWrittenOptimizer` and then the Keras optimizer class it extends:
this mixin checks the base-class arguments that the R `initialize` passes on,
as keras3r's own optimizers do, and gives the R methods a 1-based
`variable_index()`.
"""

from __future__ import annotations

import inspect
from typing import Any

from keras3r import compat
from keras3r.build import check_optimizer_arguments
from keras3r.checks import Refusal

__all__ = [
    "RWrittenOptimizer",
    "check_base_arguments",
    "declare_init_signature",
    "defines_update_step",
]

def _base_parameters() -> list[str]:
    params = inspect.signature(compat.base_optimizer_class().__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD]


def check_base_arguments(given: dict[str, Any]) -> dict[str, Any]:
    """`given` with its Keras base-optimizer arguments checked and coerced.

    Other names (an extended Keras class's own, such as Adam's `beta_1`) pass
    through unchanged.  Raises a `Refusal` naming the argument.  The checks are
    `keras3r.check_optimizer_arguments()`'s, the ones every optimizer gets.
    """
    base = set(_base_parameters())
    mine = {name: value for name, value in given.items() if name in base}
    checked = check_optimizer_arguments("Optimizer", **mine) if mine else {}
    return {name: checked.get(name, value) if name in mine else value
            for name, value in given.items()}


def defines_update_step(cls: type) -> bool:
    """Whether `cls` has an `update_step` of its own, not the base class's stub."""
    return getattr(cls, "update_step", None) is not compat.base_optimizer_class().update_step


# The default of an argument whose R default is an expression, not a value.
R_EXPRESSION = object()


def declare_init_signature(
    cls: type, positional: list[str], keyword_only: list[str], defaults: dict[str, Any]
) -> None:
    """Give `cls.__init__` the signature of the R `initialize` that it runs.

    reticulate's method takes `*args, **kwargs`; with the R argument names
    and defaults, `print()` leaves out the settings still at their default
    (keras3r.summary reads the signature), and a class extending this one
    names positional arguments as R does.  `positional` are the R arguments
    before `...`, `keyword_only` those after it; an argument missing from
    `defaults` has none.
    """
    init = cls.__dict__.get("__init__")
    if init is None:
        return
    kind = inspect.Parameter
    params = [kind("self", kind.POSITIONAL_OR_KEYWORD)]
    for names, how in ((positional, kind.POSITIONAL_OR_KEYWORD), (keyword_only, kind.KEYWORD_ONLY)):
        params += [kind(n, how, default=defaults.get(n, kind.empty)) for n in names]
    params.append(kind("kwargs", kind.VAR_KEYWORD))
    try:
        init.__signature__ = inspect.Signature(params)
    except (AttributeError, TypeError, ValueError):
        pass  # a method that takes no attribute, or names Python refuses


class RWrittenOptimizer:
    """Mixin for an optimizer class written in R, before the Keras class it extends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        named = _by_name(_init_signature(type(self)), args, kwargs)
        if named is not None:
            try:
                named = check_base_arguments(named)
            except Refusal as error:
                raise error.for_function(type(self).__name__) from None
            args, kwargs = (), named
        super().__init__(*args, **kwargs)

    def variable_index(self, variable: Any) -> int:
        """The 1-based index of `variable` among those the optimizer was built for."""
        return compat.variable_index(self, variable) + 1


def _init_signature(cls: type) -> inspect.Signature:
    """The signature of the first `__init__` after this mixin in `cls`'s MRO that names arguments.

    An `__init__(*args, **kwargs)` passes them on (TensorFlow's optimizer
    base does), and would name none of them: `super$initialize(0.01)` would
    then escape the checks.  `self` is left out.
    """
    mro = cls.__mro__
    for klass in mro[mro.index(RWrittenOptimizer) + 1:]:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        signature = inspect.signature(init)
        params = [p for p in signature.parameters.values() if p.name != "self"]
        if any(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            return signature.replace(parameters=params)
    return inspect.Signature([])


def _by_name(function: Any, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments of a call of `function`, all by name, or None where that cannot be.

    Positional arguments are named as `function` names them, so that
    `initialize(0.01)` is checked like `learning_rate = 0.01`.  A call that
    does not fit is left to `function`, which reports it in its own words.
    """
    signature = function if isinstance(function, inspect.Signature) else inspect.signature(function)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return None
    named: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                return None
        else:
            named[name] = value
    return named
