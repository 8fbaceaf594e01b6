"""One XLA-compiled update however an optimizer is driven (TensorFlow; JAX too).

Why: R users drive optimizers three ways: `fit()`, a custom step inside
`tf_function()`, and a plain loop calling `optimizer$apply(grads, weights)`
batch by batch.  `fit()` is compiled by Keras.  The plain loop is not: stock
Keras then runs AdamW as a few small eager ops per variable, each a Python ->
C++ round trip with a temporary the size of the variable, which on this
project's CPU measured 106 ms for 8M parameters against 7.4 ms for the same
update under XLA (60x for 1M parameters in 100 variables).

What: an eager `opt.apply(grads, variables)` (and so `apply_gradients`, which
calls it) runs Keras's own `apply`, traced once into a `tf.function` with
`jit_compile=True` and cached.  The maths is Keras's, op for op: the traced
body *is* the Keras method, so clipping, weight decay, EMA, gradient
accumulation, loss scaling, constraints and the iteration counter all behave
as in stock Keras; values equal what Keras's own XLA-compiled `fit()` computes
and differ from Keras's eager ops by float rounding only (XLA fuses the
element-wise ops).

How the cache avoids retracing: one concrete function per (variables by
identity, gradient shapes and dtypes, the optimizer's plain Python settings).
The variables are captured by the function, never passed to it: a Keras
variable passed as a `tf.function` argument arrives as a plain tensor and
could not be assigned.  The optimizer's own variables (slots, iteration
counter) are built eagerly before the first trace, exactly as Keras's `apply`
builds them, so that none is created inside the function.  Python settings
(beta_1, weight_decay, clipnorm, ...) are baked into a trace, so they are
part of the key: changing one compiles a new update instead of silently
using the old value.

Inside a plain `tf.function` (a custom training step without
`jit_compile`, or `fit(jit_compile=False)`), the same Keras `apply` becomes an
XLA function nested in the user's graph, traced once per trace of that graph.

When Keras's path is kept, unchanged:
  * inside an XLA-compiled function already (`fit()`'s default step, a step
    with `jit_compile=True`): the update is compiled with the rest;
  * `tf.config.run_functions_eagerly(True)`: the user asked to debug eagerly;
  * a `tf.distribute` strategy is in scope, or the optimizer was built under
    one with more than one replica: the update must go through the strategy's
    cross-replica machinery (and keras3r.cross_replica's clipping fix there);
  * sparse (`IndexedSlices`) or missing (`None`) gradients, a learning rate
    that is a plain callable (stock eager Keras calls it every step; a trace
    would freeze it), or, for an eager call, anything that fails to trace or
    compile (warned once per key; Keras then runs the call and raises its own
    error if any).

Memory: XLA updates the variables in place (measured: the transient memory
of a step does not grow with the parameter count, whereas stock eager Keras
holds temporaries the size of a variable), and the cache holds only compiled
code plus references to variables the optimizer already references.

The class stays the Keras class and `get_config()` stays Keras's: the new
`apply` is a method bound on the instance (`types.MethodType`) and the state
sits in the instance dict, outside Keras and TF tracking, so a saved file is a
plain optimizer.  On JAX an eager `apply` gets the same treatment through
`jax.jit` (keras3r.compiled_apply_jax); on torch nothing is changed.
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from keras3r import compat, compiled_apply_jax
from keras3r.instance_methods import bind, keras_optimizer_backend, method_in_force

# Instance-dict key of the per-optimizer state; its presence also marks an
# optimizer as already adapted, so preparing it twice does not stack wrappers.
_STATE = "_keras3r_compiled_apply"

# Compiled updates kept per optimizer, oldest dropped first.  One is the
# usual case (the same variables every step); a few more cover a loop that
# alternates subsets of variables.
_MAX_ENTRIES = 8

# Cache value for a key whose update could not be compiled: run Keras's path.
_KERAS_PATH = object()

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
    items.append(("learning rate object", id(compat.learning_rate_object(optimizer))))
    return tuple(items)


def _compilable_call(optimizer: Any) -> bool:
    """Whether this call may run the compiled update (see the module docstring)."""
    import tensorflow as tf

    if not tf.executing_eagerly() or tf.config.functions_run_eagerly():
        return False
    return _compilable_setting(optimizer)


def _compilable_setting(optimizer: Any) -> bool:
    """No strategy with several replicas and no learning-rate function in the way."""
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return False
    strategy = compat.distribution_strategy(optimizer)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        return False
    return not rate_is_plain_function(optimizer)


def rate_is_plain_function(optimizer: Any) -> bool:
    """A learning rate given as a function: Keras calls it every eager step."""
    import keras

    rate = compat.learning_rate_object(optimizer)
    schedule = keras.optimizers.schedules.LearningRateSchedule
    return callable(rate) and not isinstance(rate, (schedule, keras.Variable))


def _inside_xla() -> bool:
    """True while tracing inside an XLA-compiled function (fit()'s default step).

    TF's own test (private API, see keras3r.compat); where it is missing, the
    answer is True, which keeps Keras's path: the safe side.
    """
    return compat.tf_inside_xla()


def _graph_compilable_call(optimizer: Any) -> bool:
    """Whether a call traced inside a plain (non-XLA) tf.function may compile its update.

    A custom training step in `tf.function` without `jit_compile` runs AdamW
    as unfused graph ops: 3.6 times stock Keras under XLA with 8M parameters.
    Compiling the update alone, as an XLA function nested in the user's
    graph, brings it to the XLA figure. Inside XLA already (fit()'s default
    step), under a distribution strategy, or with a learning-rate function,
    Keras's path stays, for the reasons given for eager calls.
    """
    import tensorflow as tf

    if tf.executing_eagerly() or tf.config.functions_run_eagerly() or _inside_xla():
        return False
    return _compilable_setting(optimizer)


def _dense_tensors(grads: Sequence[Any]) -> list[Any] | None:
    """The gradients as dense tensors, or None when one is missing or sparse."""
    import tensorflow as tf

    out = []
    for grad in grads:
        if isinstance(grad, tf.Tensor):
            out.append(grad)
        elif grad is None or isinstance(grad, (tf.IndexedSlices, tf.SparseTensor, tf.RaggedTensor)):
            return None
        else:  # NumPy arrays (R arrays arrive so), Keras or TF variables, lists.
            out.append(tf.convert_to_tensor(grad))
    return out


class _Entry:
    """One compiled update: the XLA tf.function, its one concrete trace, and a caller."""

    __slots__ = ("function", "specs", "concrete", "call")

    def __init__(self, function: Any, specs: list[Any]) -> None:
        self.function = function
        self.specs = specs
        self.concrete = function.get_concrete_function(*specs)
        self.call = _caller(self.concrete)


def _caller(concrete: Any) -> Callable[[list[Any]], Any]:
    """A function of the gradient list that runs `concrete`.

    The public `concrete(*grads)` re-checks every argument against the traced
    signature (about 10 us a gradient: 1 ms of a 3 ms step with 100
    variables).  The cache key already guarantees that signature (same dtypes,
    same shapes), so the flat call that `concrete(*grads)` ends in is used
    directly, with the captured variables' handles fetched once.  It is TF's
    private API (keras3r.compat): used only where it has the expected
    parameters, else the public call.
    """
    flat = compat.tf_flat_caller(concrete)
    if flat is not None:
        return flat
    return lambda grads: concrete(*grads)


def _signature(tensors: list[Any]) -> tuple[Any, ...]:
    """Dtypes and shapes of the gradients: what a trace is specialised to."""
    # EagerTensor's C-level shape: 4x cheaper than building a TensorShape per
    # gradient, which matters with a hundred variables and small steps.
    return compat.tf_shapes(tensors)


def _xla_update(optimizer: Any, state: CompiledApply, variables: list[Any]) -> Any:
    """Keras's `apply` for these variables, as a `tf.function` with `jit_compile=True`.

    Variables come from the closure (captured), gradients as arguments.
    """
    import tensorflow as tf

    inner = state.inner

    def update(*traced_grads: Any) -> None:
        state.traces += 1
        inner(optimizer, list(traced_grads), variables)

    return tf.function(update, jit_compile=True)


def _compile(
    optimizer: Any, state: CompiledApply, variables: list[Any], grads: list[Any]
) -> _Entry:
    """Trace Keras's `apply` for these variables and gradient signatures, XLA-compiled."""
    import tensorflow as tf

    function = _xla_update(optimizer, state, variables)
    return _Entry(function, [tf.TensorSpec(g.shape, g.dtype) for g in grads])


def _made_in_a_trace(variables: list[Any]) -> bool:
    """Whether a tf.function made any of these variables (a model built in fit()'s trace).

    TensorFlow lifts such a variable out of the function, but sets its value
    only when the function first runs.
    """
    return any(map(compat.tf_made_in_a_trace, variables))


def _build_eagerly(optimizer: Any, variables: list[Any]) -> None:
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


def _apply(
    self: Any, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None
) -> Any:
    """`Optimizer.apply`, run as an XLA-compiled update where that is possible."""
    import tensorflow as tf

    state: CompiledApply = vars(self)[_STATE]

    def keras_path() -> Any:
        state.keras_calls += 1
        return state.inner(self, grads, trainable_variables)

    in_graph = _graph_compilable_call(self)
    if not in_graph and not _compilable_call(self):
        return keras_path()
    grads, trainable_variables, variables = _listed(self, grads, trainable_variables)
    if variables is None:
        return keras_path()
    tensors = _dense_tensors(grads)
    if tensors is None:
        return keras_path()

    if not self.built:
        if in_graph and _made_in_a_trace(variables):
            # Their first value exists only once the traced function runs:
            # an eager build would read them empty (ScheduleFreeAdamW copies
            # each variable into its slot). Keras builds inside the trace.
            return keras_path()
        with tf.init_scope():  # slots are variables: made eagerly, outside any trace
            _build_eagerly(self, variables)
    if in_graph:
        # Inside a plain tf.function: a nested XLA function, traced once per
        # trace of the user's function (so never per step).
        _xla_update(self, state, variables)(*tensors)
        state.graph_traces += 1
        return None
    key = (tuple(map(id, variables)), _signature(tensors), trace_settings(self))
    entry = state.entries.get(key)
    if entry is None:
        try:
            entry = _compile(self, state, variables, tensors)
            # The first call compiles: XLA errors surface here, before any
            # variable is written.
            entry.call(tensors)
        except Exception as error:
            return state.keras_path_instead(key, keras_path, error)
        state.remember(key, entry)
    elif entry is _KERAS_PATH:
        return keras_path()
    else:
        entry.call(tensors)
    state.compiled_calls += 1
    return None  # Keras's `apply` returns None too.


def _apply_jax(
    self: Any, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None
) -> Any:
    """`Optimizer.apply` on JAX, run as a jit-compiled update where that is possible."""
    state: CompiledApply = vars(self)[_STATE]

    def keras_path() -> Any:
        state.keras_calls += not state.own_trace
        return state.inner(self, grads, trainable_variables)

    if not compiled_apply_jax.compilable_call() or rate_is_plain_function(self):
        return keras_path()
    grads, trainable_variables, variables = _listed(self, grads, trainable_variables)
    if variables is None or any(g is None for g in grads):
        return keras_path()
    if not self.built:
        _build_eagerly(self, variables)
    return compiled_apply_jax.run(self, state, variables, grads, trace_settings(self), keras_path)


_APPLY_FOR_BACKEND = {"tensorflow": _apply, "jax": _apply_jax}


def compile_eager_apply(optimizer: Any) -> Any:
    """Give `optimizer` a cached compiled eager `apply` (TensorFlow and JAX backends).

    Anything that is not a Keras optimizer, and every optimizer on torch, is
    returned untouched.  Returns `optimizer` itself, with the same class and
    the same config.
    """
    apply = _APPLY_FOR_BACKEND.get(keras_optimizer_backend(optimizer) or "")
    if apply is None or _STATE in vars(optimizer):
        return optimizer
    # In the instance dict, outside Keras and TF tracking: never part of
    # get_config() or a saved file.
    vars(optimizer)[_STATE] = CompiledApply(method_in_force(optimizer, "apply"))
    bind(optimizer, "apply", apply)
    return optimizer


def stats(optimizer: Any) -> dict[str, int]:
    """Traces, compiled calls and Keras-path calls of a prepared optimizer (zeros if none)."""
    state = vars(optimizer).get(_STATE)
    if state is None:
        return {"traces": 0, "compiled_calls": 0, "keras_calls": 0, "entries": 0}
    return {
        "traces": state.traces,
        "compiled_calls": state.compiled_calls,
        "keras_calls": state.keras_calls,
        "entries": len(state.entries),
    }


def compiled_hlo(optimizer: Any) -> list[str]:
    """The optimised XLA HLO of each compiled update of `optimizer` (for benchmarks).

    Lets a benchmark count the bytes the update really moves, from what XLA
    made of Keras's maths, instead of assuming a kernel.
    """
    state = vars(optimizer).get(_STATE)
    if state is None:
        return []
    texts = []
    for entry in state.entries.values():
        if isinstance(entry, _Entry):
            texts.append(
                entry.function.experimental_get_compiler_ir(*entry.specs)(stage="optimized_hlo")
            )
        elif isinstance(entry, compiled_apply_jax.JaxEntry):
            texts.append(entry.hlo())
    return texts
