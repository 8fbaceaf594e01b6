"""What a compiled update depends on: the settings a trace bakes in, and the sharing key.

Two keys, both built for every call that looks its update up:
  * `trace_settings`: the optimizer's plain Python attributes (beta_1,
    weight_decay, clipnorm, ...), which a trace bakes in as constants. They
    are part of every cache key, so changing one compiles a new update
    instead of silently using the old value.
  * `sharing_key`: everything a compiled update of an optimizer for some
    variables depends on, such that two optimizers with equal keys trace the
    same computation from their own variables. Optimizers of one key share
    one compiled update (keras3r.adapt.shared_updates). None where something
    else could reach the trace, so that the optimizer compiles for itself.
"""

from __future__ import annotations

import re
import types
from collections.abc import Sequence
from typing import Any

from keras3r import compat
from keras3r.adapt.instance import AdapterState, keras_optimizer_backend

# The name trace_settings gives the learning-rate object's identity.
_RATE = "learning rate object"

_SCALARS = (bool, int, float, complex, str, bytes, type(None), re.Pattern)

# What trace_settings does with an attribute, by its type: decided once per
# type (isinstance against several classes, per attribute and per call, was
# most of the cost of building a cache key).
_SCALAR, _SET, _SEQUENCE, _OTHER = range(4)
_KIND_OF_TYPE: dict[type, int] = {}


def _kind_of(kind: type) -> int:
    found = _KIND_OF_TYPE.get(kind)
    if found is None:
        if issubclass(kind, _SCALARS):
            found = _SCALAR
        elif issubclass(kind, (set, frozenset)):
            found = _SET
        elif issubclass(kind, (list, tuple)):
            found = _SEQUENCE
        else:
            found = _OTHER
        _KIND_OF_TYPE[kind] = found
    return found


def trace_settings(optimizer: Any) -> tuple[Any, ...]:
    """The optimizer's plain Python attributes: what a trace bakes in as constants."""
    items = []
    for name, value in vars(optimizer).items():
        kind = _kind_of(type(value))
        if kind == _SCALAR:
            items.append((name, value))
        elif kind == _SET:
            if all(isinstance(x, _SCALARS) for x in value):
                items.append((name, frozenset(value)))
        elif kind == _SEQUENCE:
            if all(isinstance(x, _SCALARS) for x in value):
                items.append((name, tuple(value)))
    # The learning rate is an object (a variable or a schedule) that the trace
    # captured; assigning a schedule in its place must not go unnoticed.
    items.append((_RATE, id(compat.learning_rate_object(optimizer))))
    return tuple(items)


class _Unshareable(Exception):
    """The trace may depend on more than the optimizer's structure: compile for it alone."""


# Attributes of an optimizer that hold bookkeeping only (variable tracking,
# the default distribution strategy, caches keyed by variable): by type name,
# since these classes are private to Keras and TF.  Any other object in the
# instance dict may change what the trace computes, so an optimizer holding
# one is compiled for itself alone.
_BOOKKEEPING = frozenset({
    "list", "dict", "ListWrapper", "TrackedList", "TrackedDict", "TrackedSet", "Tracker",
    "_DefaultDistributionStrategy",
})


def _frozen(value: Any) -> Any:
    """A hashable copy of a config made of scalars, lists and dicts; raises if not one."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(x) for x in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    raise _Unshareable(type(value).__name__)


def _keras_object(value: Any) -> tuple[Any, ...]:
    """A Keras schedule or constraint as its class and config.

    Only Keras's own classes: their calls use nothing but what their config
    holds. A class of the user's (an R schedule included) may compute from
    anything, so it is not shared.
    """
    kind = type(value)
    if not kind.__module__.startswith("keras.") or not hasattr(value, "get_config"):
        raise _Unshareable(kind.__name__)
    return (kind, _frozen(value.get_config()))


def _rate_structure(rate: Any) -> Any:
    import keras

    if isinstance(rate, keras.Variable):
        return "variable"  # its value is read from the variable at each step
    return _keras_object(rate)


def _variable_structure(variable: Any, by_name: bool) -> tuple[Any, ...]:
    """What Keras's update reads from a model variable besides its value.

    The name where `by_name`: weight-decay exclusion matches a pattern
    against it. The constraint, which Keras applies after the update, and
    the flag that makes Keras overwrite a variable with its gradient.
    """
    constraint = variable.constraint
    return (
        variable.dtype,
        tuple(variable.shape),
        variable.name if by_name else None,
        variable.trainable,
        variable.overwrite_with_gradient,
        None if constraint is None else _keras_object(constraint),
    )


def _closure_fingerprint(function: Any) -> Any:
    """A function as what it does: its code and what its closure holds.

    keras3r binds closures made per optimizer (a wrapper around the method
    that was in force); two of them behave alike when they run the same code
    over alike cells. A cell holding anything but a scalar or such a function
    (a bound method of one instance, an object) makes the optimizer
    unshareable.
    """
    code = getattr(function, "__code__", None)
    if code is None:
        raise _Unshareable(repr(function))
    cells = []
    for cell in function.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:
            raise _Unshareable(code.co_name) from None
        cells.append(value if isinstance(value, _SCALARS) else _closure_fingerprint(value))
    return (code, tuple(cells), _frozen(function.__defaults__), _frozen(function.__kwdefaults__))


def _optimizer_structure(optimizer: Any, settings: tuple[Any, ...]) -> tuple[Any, ...]:
    """Class, plain settings (the rate object's identity left out) and methods bound on it."""
    import keras

    items: list[Any] = [type(optimizer)]
    items.extend(item for item in settings if item[0] != _RATE)
    items.append(_rate_structure(compat.learning_rate_object(optimizer)))
    for name, value in vars(optimizer).items():
        kind = type(value)
        if _kind_of(kind) != _OTHER or name == compat.LEARNING_RATE:
            continue
        if isinstance(value, types.MethodType):
            items.append((name, _closure_fingerprint(value.__func__)))
        elif isinstance(value, AdapterState):
            # keras3r's own state: of it, only the apply() that the compiled
            # update runs reaches a trace.
            if value.compiled_apply is not None:
                items.append((name, _closure_fingerprint(value.compiled_apply.previous_apply)))
        elif isinstance(value, keras.optimizers.Optimizer):  # LossScaleOptimizer's inner
            items.append((name, _optimizer_structure(value, trace_settings(value))))
        elif isinstance(value, keras.Variable) or kind.__name__ in _BOOKKEEPING:
            continue  # variables: their layout is part of the key (`sharing_key`)
        else:
            raise _Unshareable(name)
    return tuple(items)


def sharing_key(
    optimizer: Any,
    settings: tuple[Any, ...],
    variables: Sequence[Any],
    gradients: tuple[Any, ...],
) -> tuple[Any, ...] | None:
    """What a compiled update of `optimizer` for `variables` depends on, or None if unknown.

    Two optimizers with equal keys trace the same computation from their own
    variables: the class, plain settings and methods of the optimizer, its
    learning rate (a variable, or a Keras schedule's class and config), the
    gradients' dtypes and shapes, what Keras reads from each model variable
    (`_variable_structure`), the variables the optimizer was built with, the
    dtypes and shapes of its own variables in order (its slot layout), the
    slot index of each variable passed, and the choices Keras makes per
    variable from its path (Muon's) or name (a weight-decay exclusion
    pattern). None (compile for this optimizer alone) where anything else
    could reach the trace: an object of unknown kind on the optimizer, a
    schedule or constraint of the user's own.
    """
    # Names matter only to a pattern (Keras compiles its weight-decay
    # exclusion into one); unnamed variables get a new name each.
    by_name = any(isinstance(value, re.Pattern) for _, value in settings)
    try:
        built = compat.built_variables(optimizer) or ()
        return (
            keras_optimizer_backend(optimizer),
            _optimizer_structure(optimizer, settings),
            gradients,
            tuple(_variable_structure(v, by_name) for v in variables),
            tuple(_variable_structure(v, by_name) for v in built),
            tuple((v.dtype, tuple(v.shape)) for v in optimizer.variables),
            tuple(compat.variable_index(optimizer, v) for v in variables),
            compat.per_variable_choices(optimizer, variables),
        )
    except (_Unshareable, AttributeError, KeyError, TypeError, ValueError):
        return None
