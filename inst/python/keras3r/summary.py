"""What keras3r's R print() and format() show of an optimizer or a schedule.

The objects stay plain Keras objects: nothing here changes them or their
Python repr.  `summarize()` reads one and returns plain data (its class, its
name, its learning rate and the settings that differ from the defaults) that
the R side words in R's spelling.  Defaults are those of the keras3r function
that builds the class (keras3 R's, such as `name = "adamw"`); for a Keras class
that no keras3r function builds, those of the Keras class itself.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

from keras3r import compat
from keras3r.spec import SPECS

# A nested Keras object (a schedule as learning rate, a wrapped optimizer) is
# summarized once more, to this depth; deeper ones by their class name alone.
_MAX_DEPTH = 2


def _spec_for(cls: type) -> Any:
    """The spec of the keras3r function that builds exactly `cls`, or None."""
    from keras3r.build import keras_class

    for spec in SPECS.values():
        try:
            if keras_class(spec) is cls:
                return spec
        except (ImportError, AttributeError):
            continue  # a class that this version of Keras lacks
    return None


def _keras_defaults(cls: type) -> tuple[dict[str, Any], list[str]]:
    """Defaults and required arguments of `cls.__init__` and the bases it forwards to."""
    defaults: dict[str, Any] = {}
    required: list[str] = []
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for param in parameters:
            if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if param.default is param.empty:
                required.append(param.name)
                defaults.pop(param.name, None)
            else:
                defaults[param.name] = param.default
                if param.name in required:
                    required.remove(param.name)
    return defaults, required


def defaults_of(cls: type) -> tuple[dict[str, Any], list[str]]:
    """(defaults by argument name, names of required arguments) for `cls`."""
    spec = _spec_for(cls)
    if spec is None:
        return _keras_defaults(cls)
    defaults = {a.name: a.default for a in spec.args if not a.required}
    return defaults, [a.name for a in spec.args if a.required]


def _same(value: Any, default: Any) -> bool:
    if default is None and isinstance(value, (list, tuple, dict)) and not value:
        return True  # Keras keeps "none" of a sequence setting as an empty list
    if isinstance(value, bool) or isinstance(default, bool) or value is None or default is None:
        return value is default or (value is None and default is None) or value == default
    if isinstance(value, (int, float)) and isinstance(default, (int, float)):
        return math.isclose(value, default, rel_tol=1e-6, abs_tol=0.0)
    try:
        return bool(value == default)
    except Exception:  # noqa: BLE001 - an uncomparable value differs
        return False


def _value(value: Any, depth: int) -> Any:
    """A setting as plain data: Keras objects summarized, the rest as it is."""
    from keras.optimizers import Optimizer
    from keras.optimizers.schedules import LearningRateSchedule

    if isinstance(value, (Optimizer, LearningRateSchedule)):
        return summarize(value, depth + 1)
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        # A serialized Keras object inside a config.
        return {"kind": "object", "class_name": value["class_name"]}
    if callable(value):
        return {"kind": "function"}
    if isinstance(value, (list, tuple)):
        # Keras's tracked lists are list subclasses that R would not convert.
        return [_value(item, depth) for item in value]
    return value


def _learning_rate(obj: Any, depth: int) -> Any:
    from keras.optimizers.schedules import LearningRateSchedule

    # A wrapper (the loss-scale optimizer) steps with its inner optimizer's rate.
    holder = getattr(obj, "inner_optimizer", obj)
    held = compat.learning_rate_object(holder)
    if held is None:
        return None
    if isinstance(held, LearningRateSchedule):
        return summarize(held, depth + 1)
    if callable(held) and not hasattr(held, "numpy") and not hasattr(held, "value"):
        return {"kind": "function"}
    try:
        return float(holder.learning_rate)
    except Exception:  # noqa: BLE001 - a rate that cannot be read now
        return None


def summarize(obj: Any, depth: int = 0) -> dict[str, Any]:
    """Class, name, learning rate and non-default settings of `obj`.

    Returns ``{"kind": "optimizer" | "schedule" | "object", "class_name", "name",
    "learning_rate", "settings": [[argument, value], ...]}``; a schedule has no
    learning rate of its own, and its required settings are always listed.
    """
    from keras.optimizers import Optimizer
    from keras.optimizers.schedules import LearningRateSchedule

    cls = type(obj)
    if isinstance(obj, Optimizer):
        kind = "optimizer"
    elif isinstance(obj, LearningRateSchedule):
        kind = "schedule"
    else:
        kind = "object"  # an OptimizerMap: neither, shown by its class
    out: dict[str, Any] = {
        "kind": kind,
        "class_name": cls.__name__,
        "name": getattr(obj, "name", None),
        "learning_rate": None,
        "settings": [],
    }
    if depth > _MAX_DEPTH:
        return out
    try:
        with warnings.catch_warnings():
            # Keras warns, when it serializes a lambda as learning rate, that a
            # saved model could not reload it: a printout saves nothing.
            warnings.simplefilter("ignore")
            config = obj.get_config()
    except Exception:  # noqa: BLE001 - an object that cannot say its config
        config = {}
    defaults, required = defaults_of(cls)
    if kind == "optimizer":
        out["learning_rate"] = _learning_rate(obj, depth)
    settings = []
    for key, value in config.items():
        if key in ("name", "learning_rate"):
            continue
        if key in required:
            # A required object (a wrapped optimizer) is shown as the object.
            settings.append([key, _value(getattr(obj, key, value), depth)])
        elif key not in defaults or not _same(value, defaults[key]):
            settings.append([key, _value(value, depth)])
    # In the order of the function's arguments, as R users read its signature.
    order = {key: i for i, key in enumerate([*required, *defaults])}
    out["settings"] = sorted(settings, key=lambda pair: order.get(pair[0], len(order)))
    return out
