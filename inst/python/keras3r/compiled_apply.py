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

One compile per structure, not per optimizer: R users build model after
model in one session (sweeps, cross-validation folds). Optimizers of one
structure (`structure`: class, settings, learning rate, what Keras reads
from each variable, slot layout) run the same traced function, each handing
its own variables' handles in place of the captured ones (`_SharedTrace`),
so a new optimizer like one seen before traces and compiles nothing, and
TF's XLA cache (never emptied) holds one executable per structure. A new
structure's first calls run on Keras's path (KERAS_CALLS_BEFORE_COMPILING):
compiling pays for itself only after several steps.

Inside a plain `tf.function` (a custom training step without
`jit_compile`, or `fit(jit_compile=False)`), the same Keras `apply` becomes an
XLA function nested in the user's graph, traced once per trace of that graph,
where the variables are large enough for it to pay (`_worth_nesting`).

When Keras's path is kept, unchanged:
  * inside an XLA-compiled function already (`fit()`'s default step, a step
    with `jit_compile=True`): the update is compiled with the rest;
  * `tf.config.run_functions_eagerly(True)`: the user asked to debug eagerly;
  * a `tf.distribute` strategy is in scope, or the optimizer was built under
    one with more than one replica: the update must go through the strategy's
    cross-replica machinery (and keras3r.cross_replica's clipping fix there);
  * float16 or bfloat16 variables: Keras's own rounding, step by step;
  * sparse (`IndexedSlices`) or missing (`None`) gradients, a learning rate
    that is a plain callable (stock eager Keras calls it every step; a trace
    would freeze it), or, for an eager call, anything that fails to trace or
    compile (warned once per key; Keras then runs the call and raises its own
    error if any).

Memory: XLA updates the variables in place (measured: the transient memory
of a step does not grow with the parameter count, whereas stock eager Keras
holds temporaries the size of a variable). An optimizer's own cache lives in
its instance dict and goes with it (the bound `apply` is a reference cycle,
which the garbage collector frees); the process-wide cache of shared updates
holds at most _MAX_SHARED traced functions and no optimizer or variable
(tests/python/test_long_sessions.py measures what a dropped optimizer
leaves, against stock Keras).

The class stays the Keras class and `get_config()` stays Keras's: the new
`apply` is a method bound on the instance (`types.MethodType`) and the state
sits in the instance dict, outside Keras and TF tracking, so a saved file is a
plain optimizer.  On JAX an eager `apply` gets the same treatment through
`jax.jit` (keras3r.compiled_apply_jax); on torch the update itself goes
through torch's fused kernels instead (keras3r.fused_torch).
"""

from __future__ import annotations

import math
import re
import types
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

# Compiling pays for itself only after some steps: on this project's 2 CPUs
# (bench/bench_sweep.py, first steps of a new optimizer) a first trace and
# compile cost 7 to 27 of Keras's eager steps on TensorFlow (a 16-32-1 MLP
# 0.19 s against 0.007 s a step; 8M parameters in 16 variables 0.36 s
# against 0.05 s; 1M in 100 variables 1.74 s against 0.10 s) and 5 to 70 on
# JAX (8M in 16: 0.19 s against 0.04 s). So an optimizer whose structure has
# no compiled update yet runs its first 4 calls on Keras's path and compiles
# on the 5th: not before the earliest break-even measured (5 steps), and an
# optimizer used for a few steps costs what stock Keras costs. A structure
# compiled already (by another optimizer) is used from the first call: that
# costs nothing more.
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
    "_DefaultDistributionStrategy", "CompiledApply",
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
        elif isinstance(value, CompiledApply):
            items.append((name, _behaviour(value.inner)))
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
    Keras's path stays, for the reasons given for eager calls; and for a
    small update (`_worth_nesting`).
    """
    import tensorflow as tf

    if tf.executing_eagerly() or tf.config.functions_run_eagerly() or _inside_xla():
        return False
    return _compilable_setting(optimizer)


# Below this many parameters a variable on average, a nested XLA update costs
# a plain tf.function step more than it saves (see _worth_nesting).
_MIN_PARAMETERS_TO_NEST = 100_000


def _worth_nesting(variables: Sequence[Any]) -> bool:
    """Whether an update of these variables gains from a nested XLA function.

    The nested function pays a launch of its own and, on XLA's CPU backend,
    about three kernels a variable; Keras's graph ops cost less for variables
    of modest size. What decides is the size of the average variable, not the
    total: measured with bench/bench_matrix.py ("tf.function step" and
    "fit() step" rows) and a sweep of the same step over its `Bag` of
    variables (forward, backward and AdamW's apply in one tf.function,
    nested / stock, 2 CPUs, one run): 100 x 10k 1.20, 40 x 25k 1.06,
    20 x 50k 1.23, 6 x 20k 1.24, 50 x 4k 1.16, the 32-64-64-1 MLP 1.00-1.16;
    10 x 100k 0.46, 4 x 200k 0.61, 16 x 500k 0.80. So the update is nested
    only when its variables hold 100,000 parameters or more on average. The
    variables are the call's own (known at every trace, unlike the
    optimizer's list, which a custom step first builds inside its trace), so
    a retrace decides alike. A variable of unknown size counts as large.
    """
    total = 0
    count = 0
    for variable in variables:
        shape = tuple(variable.shape)
        if any(d is None for d in shape):
            return True
        total += math.prod(int(d) for d in shape)
        count += 1
    return count > 0 and total >= _MIN_PARAMETERS_TO_NEST * count


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
    """One optimizer's compiled update: a caller of the gradient list.

    `function` and `specs` (the tf.function and its argument specs) serve
    compiled_hlo. `variables` keeps the variables the update writes alive as
    long as the entry: the cache key holds their ids, which must not be
    reused by other variables while the key exists.
    """

    __slots__ = ("call", "function", "specs", "variables", "shared")

    def __init__(
        self,
        call: Callable[[list[Any]], Any],
        function: Any,
        specs: list[Any],
        variables: list[Any],
        shared: tuple[Any, ...] | None = None,
    ) -> None:
        self.call = call
        self.function = function
        self.specs = specs
        self.variables = variables
        self.shared = shared  # the structure key of the shared trace, if any


class _SharedTrace:
    """A traced update that any optimizer of its structure runs with its own variables.

    `roles` says, for each input the trace captured, which variable it is:
    ("var", i) the i-th variable passed, ("built", i) the i-th the optimizer
    was built with, ("opt", j) the j-th of `optimizer.variables`.  Another
    optimizer of the same structure hands its own variables' handles in the
    same roles to the same ConcreteFunction, so nothing is traced or
    compiled again.
    """

    __slots__ = ("function", "specs", "flat", "roles")

    def __init__(self, function: Any, specs: list[Any], flat: Any, roles: list[Any]) -> None:
        self.function = function
        self.specs = specs
        self.flat = flat
        self.roles = roles

    def entry_for(self, optimizer: Any, variables: list[Any], key: tuple[Any, ...]) -> _Entry:
        """This optimizer's caller of the shared trace, with its own captured handles."""
        pools = _pools(optimizer, variables)
        captured = [pools[kind][index].handle for kind, index in self.roles]
        flat = self.flat
        return _Entry(
            lambda grads: flat(grads, captured), self.function, self.specs, variables, key
        )


def _pools(optimizer: Any, variables: list[Any]) -> dict[str, Sequence[Any]]:
    return {
        "var": variables,
        "built": compat.built_variables(optimizer) or (),
        "opt": optimizer.variables,
    }


def _roles(captured: Sequence[Any], optimizer: Any, variables: list[Any]) -> list[Any] | None:
    """The role of each captured input (see _SharedTrace), or None if one has none."""
    where: dict[int, tuple[str, int]] = {}
    for kind, pool in _pools(optimizer, variables).items():
        for index, variable in enumerate(pool):
            handle = getattr(variable, "handle", None)
            if handle is not None:
                where.setdefault(id(handle), (kind, index))
    roles = [where.get(id(tensor)) for tensor in captured]
    return None if None in roles else roles


def _caller(concrete: Any) -> Callable[[list[Any]], Any]:
    """A function of the gradient list that runs `concrete` with its own captures.

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
    optimizer: Any,
    state: CompiledApply,
    variables: list[Any],
    grads: list[Any],
    shared_key: tuple[Any, ...] | None,
) -> _Entry:
    """Trace Keras's `apply` for these variables and gradient signatures, XLA-compiled.

    With a structure key, the trace is made shareable (`_SharedTrace`): its
    closure is emptied once traced, so that the shared cache does not keep
    this optimizer, and it is shared if every captured input is a variable
    with a role.  Otherwise it stays this optimizer's own, closure and all.
    """
    import tensorflow as tf

    holder = [optimizer, state, variables]

    def update(*traced_grads: Any) -> None:
        opt, own_state, own_variables = holder
        own_state.traces += 1
        own_state.inner(opt, list(traced_grads), own_variables)

    function = tf.function(update, jit_compile=True)
    specs = [tf.TensorSpec(g.shape, g.dtype) for g in grads]
    concrete = function.get_concrete_function(*specs)
    flat = compat.tf_flat_call(concrete)
    roles = None
    if shared_key is not None and flat is not None:
        roles = _roles(concrete.captured_inputs, optimizer, variables)
    if roles is None:
        return _Entry(_caller(concrete), function, specs, variables)
    # From here the trace runs with any optimizer's variables (the roles),
    # so it must not keep this one's: the handles TF captured do not keep a
    # variable alive (TF functions hold variables weakly).
    holder.clear()
    shared = _SharedTrace(function, specs, flat, roles)
    shared_put(shared_key, shared)
    return shared.entry_for(optimizer, variables, shared_key)


def wait_before_compiling(state: CompiledApply) -> bool:
    """Whether this call, which would compile a new structure, runs on Keras's path instead.

    True for an optimizer's first KERAS_CALLS_BEFORE_COMPILING such calls
    (counted, as Keras-path calls too).
    """
    if state.deferred >= KERAS_CALLS_BEFORE_COMPILING:
        return False
    state.deferred += 1
    return True


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


def _half_precision(variable: Any) -> bool:
    return str(getattr(variable, "dtype", "")).endswith(("float16", "float16'>"))


def _opening(
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
    state: CompiledApply = vars(optimizer)[_STATE]
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


def _apply(
    self: Any, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None
) -> Any:
    """`Optimizer.apply`, run as an XLA-compiled update where that is possible."""
    import tensorflow as tf

    in_graph = _graph_compilable_call(self)
    state, keras_path, grads, variables = _opening(
        self, grads, trainable_variables, in_graph or _compilable_call(self)
    )
    if variables is None or (in_graph and not _worth_nesting(variables)):
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
    settings = trace_settings(self)
    signature = _signature(tensors)
    key = (tuple(map(id, variables)), signature, settings)
    entry = state.entries.get(key)
    if entry is None:
        shared_key = structure(self, settings, variables, signature)
        shared = None if shared_key is None else shared_get(shared_key)
        if not isinstance(shared, _SharedTrace) and wait_before_compiling(state):
            return keras_path()
        try:
            if isinstance(shared, _SharedTrace):
                entry = shared.entry_for(self, variables, shared_key)
            else:
                entry = _compile(self, state, variables, tensors, shared_key)
            # The first call compiles: XLA errors surface here, before any
            # variable is written.
            entry.call(tensors)
        except Exception as error:
            if isinstance(entry, _Entry) and entry.shared is not None:
                shared_drop(entry.shared)
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
    compilable = compiled_apply_jax.compilable_call() and not rate_is_plain_function(self)
    state, keras_path, grads, variables = _opening(self, grads, trainable_variables, compilable)
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
    """Traces, compiled calls and Keras-path calls of a prepared optimizer (zeros if none).

    `nested` counts the traces of a user's plain tf.function that nested the
    compiled update in their graph.
    """
    state = vars(optimizer).get(_STATE)
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
    return [
        entry.function.experimental_get_compiler_ir(*entry.specs)(stage="optimized_hlo")
        if isinstance(entry, _Entry)
        else entry.hlo()
        for entry in _compiled_entries(optimizer)
    ]


def compiled_functions(optimizer: Any) -> list[Any]:
    """The compiled object behind each cached update of `optimizer` (for tests).

    TensorFlow: the `tf.function`; JAX: the `jax.stages.Compiled`. Two
    optimizers that share an update list the same object.
    """
    return [
        entry.function if isinstance(entry, _Entry) else entry.compiled
        for entry in _compiled_entries(optimizer)
    ]


def _compiled_entries(optimizer: Any) -> list[Any]:
    """The cached updates of `optimizer` that were compiled (TensorFlow or JAX entries)."""
    state = vars(optimizer).get(_STATE)
    if state is None:
        return []
    kinds = (_Entry, compiled_apply_jax.JaxEntry)
    return [entry for entry in state.entries.values() if isinstance(entry, kinds)]
