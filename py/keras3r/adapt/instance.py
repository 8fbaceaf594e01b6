"""One optimizer instance's keras3r state, and its own methods, invisibly to Keras.

keras3r must return the genuine Keras class with Keras's `get_config()`, so
that a saved model is a plain Keras file. Its behaviours are therefore
methods bound on the instance (`types.MethodType`), written straight into the
instance dict, and one state object under the key `_keras3r` beside them:
`type()`, `get_config()`, Keras's and TF's variable tracking and the saved
file never see them, and an optimizer that Keras rebuilds from its config is
stock Keras.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # For the annotations alone: both modules import this one.
    from keras3r.adapt.eager_apply import CompiledApply
    from keras3r.adapt.torch import FusedUpdate

# The instance-dict key of an optimizer's AdapterState.
STATE_KEY = "_keras3r"


@dataclass
class AdapterState:
    """Everything keras3r keeps on one optimizer instance.

    `attached` names the behaviours attached (keras3r.adapt.behaviours.BEHAVIOURS),
    in the order they were; the other fields belong to one behaviour each and
    stay None where it is not attached.
    """

    attached: list[str] = field(default_factory=list)
    # The compiled eager apply() (TensorFlow, JAX).
    compiled_apply: CompiledApply | None = None
    # torch's fused update.
    fused_update: FusedUpdate | None = None
    # Schedule-free AdamW's training weights, kept while its averaged weights
    # are in the model (keras3r.schedule_free); None otherwise.
    schedule_free_training_weights: list[Any] | None = None


def state_of(obj: Any) -> AdapterState | None:
    """The keras3r state of `obj`, or None where keras3r attached nothing."""
    found = vars(obj).get(STATE_KEY)
    return found if isinstance(found, AdapterState) else None


def new_state(obj: Any) -> AdapterState:
    """The keras3r state of `obj`, made empty where there is none yet."""
    found = state_of(obj)
    if found is None:
        found = vars(obj)[STATE_KEY] = AdapterState()
    return found


def keras_optimizer_backend(obj: Any) -> str | None:
    """The Keras backend's name when `obj` is a Keras optimizer, else None."""
    import keras

    if not isinstance(obj, keras.optimizers.Optimizer):
        return None
    return str(keras.backend.backend())


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


def _is_keras3r_method(obj: Any, value: Any) -> bool:
    """A method that keras3r bound on this very instance (`bind`)."""
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
        if key == STATE_KEY or _is_keras3r_method(optimizer, value)
    )


def inner_optimizers(optimizer: Any) -> list[Any]:
    """Optimizers that `optimizer` steps through: a loss-scale wrapper's, a multi optimizer's."""
    inner = getattr(optimizer, "inner_optimizer", None)
    found = [inner] if inner is not None else []
    found += list(getattr(optimizer, "optimizers", None) or [])
    return found
