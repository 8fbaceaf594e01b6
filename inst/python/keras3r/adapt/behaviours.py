"""What keras3r attaches to an optimizer, declared once: the table, attach and detach.

Each behaviour replaces named seams of Keras's optimizer on one instance
(methods bound in its instance dict, keras3r.adapt.instance) for the
backends and classes it is declared for; `BEHAVIOURS` lists them in the
order they are attached, which is the order their wrappers compose in.
Nothing else in keras3r binds methods on an optimizer.

The class stays the Keras class and `get_config()` stays Keras's, so a saved
file is a plain Keras config that loads without keras3r, and an optimizer
that Keras rebuilds from a config is stock. `copy.deepcopy()` goes through
the config too (Keras optimizers copy that way) and is caught: every
optimizer keras3r attaches to carries an instance-level `__deepcopy__`
(copy.deepcopy looks it up on the instance) that adapts the copy.
`keras.saving.load_model()` and `from_config()` build from the config alone,
which cannot say that keras3r built the optimizer (Keras's deserializer
refuses a `registered_name` on its built-in classes, so a marked file would
not load in plain Keras), and catching them would mean changing Keras's
classes for every user of the process; `adapt_optimizer()` is offered for
them, and the help pages say so. `copy.copy()` and `pickle` go through
Keras's saving too (`KerasSaveable.__reduce__`), and are left so: a pickled
optimizer must unpickle where keras3r is not installed.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keras3r import compat
from keras3r.adapt import jax as jax_adapter
from keras3r.adapt import (
    muon_split,
    rate_guard,
    routing,
    schedule_free_step,
    tensorflow_distribute,
)
from keras3r.adapt import tensorflow as tensorflow_adapter
from keras3r.adapt import torch as torch_adapter
from keras3r.adapt.instance import (
    bind,
    inner_optimizers,
    keras3r_additions,
    new_state,
    state_of,
)


@dataclass(frozen=True)
class Behaviour:
    """One thing keras3r does to an optimizer, and the Keras seams it replaces."""

    name: str
    # Keras methods (or attributes) of the optimizer that it replaces.
    seams: tuple[str, ...]
    # Keras backends it applies on; None: every backend.
    backends: tuple[str, ...] | None
    # The Keras class (by its keras.optimizers name) it applies to; None: every
    # optimizer but a multi optimizer, which does no maths of its own.
    keras_class: str | None
    attach: Callable[[Any], Any]
    why: str


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "routing_check", ("build",), None, "MultiOptimizer", routing.attach,
        "a multi optimizer checks, when built, that its routing survives saving and loading",
    ),
    Behaviour(
        "rate_guard", (compat.LEARNING_RATE,), None, None, rate_guard.attach,
        "a learning-rate function is called on every step, or refused where a compiled "
        "step would keep its first value for ever",
    ),
    Behaviour(
        "clip_after_cross_replica_sum",
        (compat.CLIP_GRADIENTS, compat.ALL_REDUCE_SUM_GRADIENTS),
        ("tensorflow",), None, tensorflow_distribute.attach,
        "under tf.distribute, the summed gradient is clipped, not each replica's share",
    ),
    Behaviour(
        "muon_split_check", ("build",), None, "Muon", muon_split.attach,
        "Muon checks, when built, that its split between its own step and AdamW "
        "survives a reload",
    ),
    Behaviour(
        "schedule_free_step", ("update_step",), None, "ScheduleFreeAdamW",
        schedule_free_step.attach,
        "schedule-free AdamW takes the paper's step on TensorFlow and torch too, as on JAX",
    ),
    Behaviour(
        "compiled_apply", ("apply",), ("tensorflow",), None, tensorflow_adapter.attach,
        "an eager apply() runs one cached XLA-compiled update",
    ),
    Behaviour(
        "compiled_apply", ("apply",), ("jax",), None, jax_adapter.attach,
        "an eager apply() runs one cached jit-compiled update",
    ),
    Behaviour(
        "fused_update",
        (compat.BACKEND_UPDATE_STEP, compat.APPLY_WEIGHT_DECAY),
        ("torch",), None, torch_adapter.attach,
        "Keras's update runs through torch's fused multi-tensor kernels",
    ),
)

# Every optimizer keras3r attaches to keeps its behaviour on a deep copy.
DEEPCOPY_SEAM = "__deepcopy__"


@functools.cache
def behaviours_for(backend: str) -> tuple[Behaviour, ...]:
    """The behaviours of `BEHAVIOURS` that apply on `backend`, in order (chosen once)."""
    return tuple(b for b in BEHAVIOURS if b.backends is None or backend in b.backends)


def _is_optimizer(obj: Any) -> bool:
    import keras

    return isinstance(obj, keras.optimizers.Optimizer)


def _applies(behaviour: Behaviour, optimizer: Any) -> bool:
    import keras

    multi = isinstance(optimizer, keras.optimizers.MultiOptimizer)
    if behaviour.keras_class is None:
        return not multi
    return isinstance(optimizer, getattr(keras.optimizers, behaviour.keras_class))


def attach(obj: Any) -> Any:
    """Attach keras3r's behaviours to the Keras optimizer `obj`, once; return it.

    Called by keras3r.build on every object it builds: anything that is not
    a Keras optimizer (a schedule) is returned as it is. Optimizers `obj`
    wraps are left as they are (see `adapt_optimizer`).
    """
    if not _is_optimizer(obj):
        return obj
    import keras

    state = new_state(obj)
    for behaviour in behaviours_for(keras.backend.backend()):
        if behaviour.name not in state.attached and _applies(behaviour, obj):
            behaviour.attach(obj)
            state.attached.append(behaviour.name)
    if DEEPCOPY_SEAM not in vars(obj):
        bind(obj, DEEPCOPY_SEAM, _deepcopy_with_keras3r)
    return obj


def _deepcopy_with_keras3r(self: Any, memo: dict[int, Any]) -> Any:
    # Keras's own copy, made while this hook is out of the way, then adapted.
    hook = vars(self).pop(DEEPCOPY_SEAM)
    try:
        copied = copy.deepcopy(self, memo)
    finally:
        vars(self)[DEEPCOPY_SEAM] = hook
    return adapt_optimizer(copied)


def _check_optimizer(fun: str, optimizer: Any) -> None:
    if not _is_optimizer(optimizer):
        raise TypeError(
            f"{fun}(): `optimizer` must be a Keras optimizer, not {type(optimizer).__name__}."
        )


def adapt_optimizer(optimizer: Any) -> Any:
    """Give `optimizer` keras3r's behaviour, in place; return it.

    For an optimizer that Keras made (`keras.saving.load_model()`,
    `from_config()`, `copy.copy()`, `pickle.loads()`,
    `keras.optimizers.AdamW(...)`): afterwards it behaves as
    the one the keras3r function of its class builds from the same config,
    keeping its variables and state. Optimizers it wraps (a loss-scale
    optimizer's inner optimizer, a multi optimizer's optimizers) are adapted
    too; an optimizer that already has keras3r's behaviour is left as it is.
    The reverse of `plain()`.

    Raises:
        TypeError: `optimizer` is not a Keras optimizer.
    """
    _check_optimizer("adapt_optimizer", optimizer)
    for inner in inner_optimizers(optimizer):
        adapt_optimizer(inner)
    return attach(optimizer)


def plain(optimizer: Any) -> Any:
    """Remove keras3r's behaviour from `optimizer`, in place; return it.

    Afterwards the optimizer is exactly what Keras builds from the same config:
    no method of keras3r's is left on the instance (an eager `apply()` runs
    Keras's own op-by-op path again, clipping is stock under `tf.distribute`),
    a learning-rate function is the user's own again (a compiled step freezes
    it as stock Keras does), and `get_config()` is unchanged. Optimizers it
    wraps (a loss-scale optimizer's inner optimizer, a multi optimizer's
    optimizers) are made plain too. An optimizer that keras3r did not build
    is returned as it is.

    Raises:
        TypeError: `optimizer` is not a Keras optimizer.
        RuntimeError: schedule-free AdamW holds its averaged weights in the
            model; swap the training weights back first.
    """
    _check_optimizer("plain", optimizer)
    state = state_of(optimizer)
    if state is not None and state.schedule_free_training_weights is not None:
        # The training weights are kept aside in keras3r's state: dropping it
        # would lose them.
        raise RuntimeError(
            "plain(): the model holds schedule-free AdamW's averaged weights, which keras3r "
            "swapped in; put the training weights back first with "
            "swap_schedule_free_weights(optimizer, \"training\")."
        )
    for key in keras3r_additions(optimizer):
        del vars(optimizer)[key]
    rate = compat.learning_rate_object(optimizer)
    original = getattr(rate, "__wrapped_rate__", None)
    if original is not None:
        optimizer.learning_rate = original
    for inner in inner_optimizers(optimizer):
        plain(inner)
    return optimizer
