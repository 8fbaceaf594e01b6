"""What every backend's compiled eager `apply()` shares: its state, the cache and the wait.

The contract: an eager `opt.apply(grads, variables)` (and so
`apply_gradients`, which calls it) of an optimizer keras3r built runs Keras's
own update, compiled once and cached (keras3r.adapt.tensorflow: a
`tf.function` with `jit_compile=True`; keras3r.adapt.jax: `jax.jit` of
Keras's `stateless_apply`). The maths is Keras's, so clipping, weight decay,
EMA, gradient accumulation, loss scaling, constraints and the iteration
counter behave as in stock Keras, and values differ from Keras's eager ops by
float rounding only. Keras's own path is kept, unchanged, wherever a compiled
update could behave differently: each backend's module says where.

This module holds what both backends use:
  * `CompiledApply`, one optimizer's state: the `apply` that was in force and
    its compiled updates, at most _MAX_ENTRIES, keyed by (variables by
    identity, gradient shapes and dtypes, the optimizer's plain Python
    settings). Settings (beta_1, weight_decay, clipnorm, ...) are baked into
    a trace, so changing one compiles a new update instead of silently
    using the old value (`trace_settings`).
  * The process-wide cache of updates shared between optimizers of one
    structure (`structure`: class, settings, learning rate, what Keras reads
    from each variable, slot layout): a new optimizer like one seen before
    (a sweep, cross-validation folds) compiles nothing. It holds at most
    _MAX_SHARED entries and no optimizer or variable.
  * The wait: a structure compiled by no optimizer yet runs its first
    KERAS_CALLS_BEFORE_COMPILING calls on Keras's path, since compiling pays
    for itself only after several steps (bench/README.md).
  * float16 and bfloat16 variables always take Keras's path: Keras computes
    their update in their own precision op by op, which a fused update would
    round differently.

The state sits in the optimizer's keras3r state (keras3r.adapt.instance),
outside Keras and TF tracking, and goes with the optimizer; a saved file is a
plain optimizer.
"""

from __future__ import annotations

import re
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from keras3r import compat
from keras3r.adapt.instance import (
    AdapterState,
    bind,
    keras_optimizer_backend,
    method_in_force,
    new_state,
    state_of,
)

# Compiled updates kept per optimizer, oldest dropped first.  One is the
# usual case (the same variables every step); a few more cover a loop that
# alternates subsets of variables.
_MAX_ENTRIES = 8

# Cache value for a key whose update could not be compiled: run Keras's path.
_KERAS_PATH = object()

# Compiled updates shared between optimizers of one structure (see
# `structure`), process-wide, the least recently used dropped first.  A sweep
# of models of one shape (cross-validation folds, a grid of learning rates)
# then compiles once, and TensorFlow's XLA cache, which keeps every function
# it compiled for the life of the process, gets one executable per structure
# instead of one per optimizer.  Each entry holds compiled code and, on
# TensorFlow, the traced graph; the optimizer it was traced with is not
# kept (its closure is emptied after tracing), so an entry pins no optimizer
# and no variable's memory.  At most _MAX_SHARED structures are kept.
_MAX_SHARED = 16
_SHARED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

# Compiling pays for itself only after some steps (a first trace and compile
# costs several of Keras's eager steps: bench/bench_sweep.py measures how
# many, bench/README.md records it). So an optimizer whose structure has no
# compiled update yet runs its first calls on Keras's path, and one used for
# a few steps costs what stock Keras costs. A structure compiled already (by
# another optimizer) is used from the first call: that costs nothing more.
KERAS_CALLS_BEFORE_COMPILING = 4

# The name trace_settings gives the learning-rate object's identity.
_RATE = "learning rate object"

_SCALARS = (bool, int, float, complex, str, bytes, type(None), re.Pattern)


class CompiledApply:
    """Per-optimizer state: the `apply` that was in force, and the compiled updates."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        # Counters for tests and benchmarks (cheap integer increments).
        self.traces = 0
        self.compiled_calls = 0
        self.keras_calls = 0
        # Traces of a user's plain tf.function that nested the compiled update.
        self.graph_traces = 0
        # True while keras3r traces its own update (JAX: stateless_apply calls
        # apply again, which must take Keras's path without counting as such).
        self.own_trace = False
        # Calls run on Keras's path while no compiled update of this
        # structure existed (see KERAS_CALLS_BEFORE_COMPILING).
        self.deferred = 0

    def remember(self, key: tuple[Any, ...], entry: Any) -> None:
        """Cache `entry` under `key`, dropping the oldest beyond _MAX_ENTRIES."""
        self.entries[key] = entry
        while len(self.entries) > _MAX_ENTRIES:
            self.entries.popitem(last=False)

    def keras_path_instead(
        self,
        key: tuple[Any, ...],
        keras_path: Callable[[], Any],
        error: Exception,
        stacklevel: int = 4,
    ) -> Any:
        """Run a call that failed to trace or compile on Keras's path, and remember that.

        If Keras fails too, the error was the call's (an unknown variable, a
        shape mismatch): Keras's own exception propagates, without a warning.
        Only a call that Keras runs fine is reported as not compilable.
        `stacklevel` points the warning at the caller of `apply`.
        """
        result = keras_path()
        self.remember(key, _KERAS_PATH)
        warnings.warn(
            "keras3r: this optimizer update could not be XLA-compiled "
            f"({type(error).__name__}: {error}); Keras's eager path runs it instead.",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return result


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


def shared_get(key: tuple[Any, ...]) -> Any:
    """The shared compiled update for this structure, or None (marks it recently used)."""
    entry = _SHARED.get(key)
    if entry is not None:
        _SHARED.move_to_end(key)
    return entry


def shared_put(key: tuple[Any, ...], entry: Any) -> None:
    """Share `entry` for this structure, dropping the least recently used beyond _MAX_SHARED."""
    _SHARED[key] = entry
    while len(_SHARED) > _MAX_SHARED:
        _SHARED.popitem(last=False)


def shared_drop(key: tuple[Any, ...]) -> None:
    """Forget a shared update whose first call failed."""
    _SHARED.pop(key, None)


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


def _behaviour(function: Any) -> Any:
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
        cells.append(value if isinstance(value, _SCALARS) else _behaviour(value))
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
            items.append((name, _behaviour(value.__func__)))
        elif isinstance(value, AdapterState):
            # keras3r's own state: of it, only the apply() that the compiled
            # update runs reaches a trace.
            if value.compiled_apply is not None:
                items.append((name, _behaviour(value.compiled_apply.inner)))
        elif isinstance(value, keras.optimizers.Optimizer):  # LossScaleOptimizer's inner
            items.append((name, _optimizer_structure(value, trace_settings(value))))
        elif isinstance(value, keras.Variable) or kind.__name__ in _BOOKKEEPING:
            continue  # variables: their layout is part of the key (`structure`)
        else:
            raise _Unshareable(name)
    return tuple(items)


def structure(
    optimizer: Any,
    settings: tuple[Any, ...],
    variables: Sequence[Any],
    gradients: tuple[Any, ...],
) -> tuple[Any, ...] | None:
    """What a compiled update of `optimizer` for `variables` depends on, or None if unknown.

    Two optimizers with equal structures trace the same computation from
    their own variables: the class, plain settings and methods of the
    optimizer, its learning rate (a variable, or a Keras schedule's class and
    config), the gradients' dtypes and shapes, what Keras reads from each
    model variable (`_variable_structure`), the variables the optimizer was
    built with, the dtypes and shapes of its own variables in order (its slot
    layout), the slot index of each variable passed, and the choices Keras
    makes per variable from its path (Muon's) or name (a weight-decay
    exclusion pattern). None (compile for this
    optimizer alone) where anything else could reach the trace: an object
    of unknown kind on the optimizer, a schedule or constraint of the
    user's own.
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


def rate_is_plain_function(optimizer: Any) -> bool:
    """A learning rate given as a function: Keras calls it every eager step."""
    import keras

    rate = compat.learning_rate_object(optimizer)
    schedule = keras.optimizers.schedules.LearningRateSchedule
    return callable(rate) and not isinstance(rate, (schedule, keras.Variable))


def wait_before_compiling(state: CompiledApply) -> bool:
    """Whether this call, which would compile a new structure, runs on Keras's path instead.

    True for an optimizer's first KERAS_CALLS_BEFORE_COMPILING such calls
    (counted, as Keras-path calls too).
    """
    if state.deferred >= KERAS_CALLS_BEFORE_COMPILING:
        return False
    state.deferred += 1
    return True


def build_eagerly(optimizer: Any, variables: list[Any]) -> None:
    """What Keras's `apply` does on its first call, done outside any trace."""
    import keras

    with keras.name_scope(optimizer.name, caller=optimizer):
        optimizer.build(variables)
    optimizer.built = True


def _listed(
    optimizer: Any, grads: Sequence[Any], trainable_variables: Sequence[Any] | None
) -> tuple[list[Any], list[Any] | None, list[Any] | None]:
    """`apply`'s arguments as lists, and the variables a compiled update would write.

    Lists, once: the arguments may be iterators (apply_gradients passes a
    zip's halves), and Keras's path may still need them after this.  The
    variables are None where only Keras's path will do: an unbuilt optimizer
    called without variables (Keras raises its own error), or gradients that
    do not pair one to one with the variables.
    """
    grads = list(grads)
    if trainable_variables is not None:
        trainable_variables = list(trainable_variables)
    variables = trainable_variables
    if variables is None and optimizer.built:
        built_with = compat.built_variables(optimizer)
        variables = None if built_with is None else list(built_with)
    if variables is not None and (not grads or len(grads) != len(variables)):
        variables = None
    return grads, trainable_variables, variables


def _half_precision(variable: Any) -> bool:
    return str(getattr(variable, "dtype", "")).endswith(("float16", "float16'>"))


def opening(
    optimizer: Any,
    grads: Sequence[Any],
    trainable_variables: Sequence[Any] | None,
    compilable: bool,
) -> tuple[CompiledApply, Callable[[], Any], list[Any] | Sequence[Any], list[Any] | None]:
    """What every backend's `apply` starts with: its state, Keras's path, the listed arguments.

    Returns the per-optimizer state, a function running this call on
    Keras's path, the gradients (a list where `compilable`) and the
    variables a compiled update would write (None: Keras's path only).
    """
    state = compiled_state(optimizer)
    assert state is not None, "an apply() of keras3r's runs on an optimizer it attached to"
    variables = None
    if compilable:
        grads, trainable_variables, variables = _listed(optimizer, grads, trainable_variables)
    if variables is not None and any(_half_precision(v) for v in variables):
        # Keras computes a float16 or bfloat16 variable's update in its own
        # precision op by op; a fused XLA update keeps intermediates wider and
        # rounds differently, and measured no faster there.
        variables = None

    def keras_path() -> Any:
        # Not counted while keras3r traces its own update: on JAX,
        # stateless_apply calls apply again, which takes Keras's path.
        state.keras_calls += not state.own_trace
        return state.inner(optimizer, grads, trainable_variables)

    return state, keras_path, grads, variables


def stats(optimizer: Any) -> dict[str, int]:
    """Traces, compiled calls and Keras-path calls of an optimizer (zeros where none).

    `nested` counts the traces of a user's plain tf.function that nested the
    compiled update in their graph.
    """
    state = compiled_state(optimizer)
    if state is None:
        return {"traces": 0, "compiled_calls": 0, "keras_calls": 0, "entries": 0, "nested": 0}
    return {
        "traces": state.traces,
        "compiled_calls": state.compiled_calls,
        "keras_calls": state.keras_calls,
        "entries": len(state.entries),
        "nested": state.graph_traces,
    }


def compiled_hlo(optimizer: Any) -> list[str]:
    """The optimised XLA HLO of each compiled update of `optimizer` (for benchmarks).

    Lets a benchmark count the bytes the update really moves, from what XLA
    made of Keras's maths, instead of assuming a kernel.
    """
    return [entry.hlo() for entry in _compiled_entries(optimizer)]


def compiled_functions(optimizer: Any) -> list[Any]:
    """The compiled object behind each cached update of `optimizer` (for tests).

    TensorFlow: the `tf.function`; JAX: the `jax.stages.Compiled`. Two
    optimizers that share an update list the same object.
    """
    return [entry.compiled_object() for entry in _compiled_entries(optimizer)]


def _compiled_entries(optimizer: Any) -> list[Any]:
    """The cached updates of `optimizer` that were compiled (TensorFlow or JAX entries)."""
    state = compiled_state(optimizer)
    if state is None:
        return []
    return [entry for entry in state.entries.values() if isinstance(entry, CompiledEntry)]


def compiled_state(optimizer: Any) -> CompiledApply | None:
    """The compiled-apply state of `optimizer`, or None where it has none."""
    state = state_of(optimizer)
    return None if state is None else state.compiled_apply


class CompiledEntry:
    """One compiled update of a backend, as the cache holds it."""

    __slots__ = ()

    def hlo(self) -> str:
        """The optimised XLA HLO of the update (for benchmarks counting bytes)."""
        raise NotImplementedError

    def compiled_object(self) -> Any:
        """The backend's compiled object (a `tf.function`, a `jax.stages.Compiled`)."""
        raise NotImplementedError


def attach_compiled_apply(optimizer: Any, apply: Callable[..., Any]) -> Any:
    """Make `apply` (a backend's compiled eager apply) the instance's own; return `optimizer`.

    Returns `optimizer` itself, with the same class and the same config.
    """
    state = new_state(optimizer)
    if state.compiled_apply is None:
        state.compiled_apply = CompiledApply(method_in_force(optimizer, "apply"))
        bind(optimizer, "apply", apply)
    return optimizer
