"""Giving one optimizer instance a method of its own, invisibly to Keras.

keras3r must return the genuine Keras class with Keras's `get_config()`, so
that a saved model is a plain Keras file. Its extra behaviours are therefore
methods bound on the instance (`types.MethodType`), written straight into the
instance dict: `type()`, `get_config()`, Keras's and TF's variable tracking and
the saved file never see them, and a reloaded optimizer is stock Keras.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


def keras_optimizer_backend(obj: Any) -> str | None:
    """The Keras backend's name when `obj` is a Keras optimizer, else None."""
    import keras

    if not isinstance(obj, keras.optimizers.Optimizer):
        return None
    return str(keras.backend.backend())


def is_tensorflow_optimizer(obj: Any) -> bool:
    """A Keras optimizer on the TensorFlow backend: what most of these behaviours adapt."""
    return keras_optimizer_backend(obj) == "tensorflow"


def method_in_force(obj: Any, name: str) -> Callable[..., Any]:
    """`obj.<name>` as a function of (self, ...), so that wrappers compose.

    Another keras3r behaviour may already have bound its own method on the
    instance; calling that one (through `self`) keeps it.
    """
    method = getattr(obj, name)
    if isinstance(method, types.MethodType) and method.__self__ is obj:
        return method.__func__
    return lambda _self, *args: method(*args)


def bind(obj: Any, name: str, function: Callable[..., Any]) -> None:
    """Make `function(obj, ...)` the instance's own `obj.<name>`."""
    vars(obj)[name] = types.MethodType(function, obj)
