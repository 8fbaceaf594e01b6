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

This module holds the per-optimizer side that both backends use:
  * `CompiledApply`, one optimizer's state: the `apply` that was in force
    before keras3r's, and its compiled updates, at most _MAX_ENTRIES, keyed
    by (variables by identity, gradient shapes and dtypes, the optimizer's
    plain Python settings: keras3r.adapt.sharing_key.trace_settings).
  * `set_up_call`, what every backend's `apply` starts with (`CallSetup`).
  * The wait: a sharing key compiled by no optimizer yet runs its first
    KERAS_CALLS_BEFORE_COMPILING calls on Keras's path, since compiling pays
    for itself only after several steps (bench/README.md).
  * float16 and bfloat16 variables always take Keras's path: Keras computes
    their update in their own precision op by op, which a fused update would
    round differently.
Optimizers of one sharing key (keras3r.adapt.sharing_key) share a compiled
update through keras3r.adapt.shared_updates, process-wide: a new optimizer
like one seen before (a sweep, cross-validation folds) compiles nothing.

The state sits in the optimizer's keras3r state (keras3r.adapt.instance),
outside Keras and TF tracking, and goes with the optimizer; a saved file is a
plain optimizer.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keras3r import compat
from keras3r.adapt.instance import bind, method_in_force, new_state, state_of

# Compiled updates kept per optimizer, oldest dropped first.  One is the
# usual case (the same variables every step); a few more cover a loop that
# alternates subsets of variables.
_MAX_ENTRIES = 8

# Cache value for a key whose update could not be compiled: run Keras's path.
KERAS_PATH_ENTRY = object()

# Compiling pays for itself only after some steps (a first trace and compile
# costs several of Keras's eager steps: bench/bench_sweep.py measures how
# many, bench/README.md records it). So an optimizer whose sharing key has no
# compiled update yet runs its first calls on Keras's path, and one used for
# a few steps costs what stock Keras costs. A sharing key compiled already (by
# another optimizer) is used from the first call: that costs nothing more.
KERAS_CALLS_BEFORE_COMPILING = 4


class CompiledApply:
    """Per-optimizer state: the `apply` that was in force, and the compiled updates."""

    def __init__(self, previous_apply: Callable[..., Any]) -> None:
        # The optimizer's `apply` before keras3r bound its own (Keras's
        # method, or another behaviour's wrapper): what Keras's path runs and
        # what a compiled update traces.
        self.previous_apply = previous_apply
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
        # sharing key existed (see KERAS_CALLS_BEFORE_COMPILING).
        self.keras_calls_while_waiting = 0

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
        self.remember(key, KERAS_PATH_ENTRY)
        warnings.warn(
            "keras3r: this optimizer update could not be XLA-compiled "
            f"({type(error).__name__}: {error}); Keras's eager path runs it instead.",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return result


def rate_is_plain_function(optimizer: Any) -> bool:
    """A learning rate given as a function: Keras calls it every eager step."""
    import keras

    rate = compat.learning_rate_object(optimizer)
    schedule = keras.optimizers.schedules.LearningRateSchedule
    return callable(rate) and not isinstance(rate, (schedule, keras.Variable))


def wait_before_compiling(state: CompiledApply) -> bool:
    """Whether this call, which would compile a new sharing key, runs on Keras's path instead.

    True for an optimizer's first KERAS_CALLS_BEFORE_COMPILING such calls
    (counted, as Keras-path calls too).
    """
    if state.keras_calls_while_waiting >= KERAS_CALLS_BEFORE_COMPILING:
        return False
    state.keras_calls_while_waiting += 1
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


@dataclass
class CallSetup:
    """What every backend's `apply` starts with (`set_up_call`).

    `grads` is a list where the call may compile; `variables` are the
    variables a compiled update would write, None where only Keras's path
    will do; `keras_path` runs this very call on Keras's path.
    """

    state: CompiledApply
    keras_path: Callable[[], Any]
    grads: list[Any] | Sequence[Any]
    variables: list[Any] | None


def set_up_call(
    optimizer: Any,
    grads: Sequence[Any],
    trainable_variables: Sequence[Any] | None,
    compilable: bool,
) -> CallSetup:
    """The state, Keras's path and the listed arguments of one call of keras3r's `apply`."""
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
        return state.previous_apply(optimizer, grads, trainable_variables)

    return CallSetup(state, keras_path, grads, variables)


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
