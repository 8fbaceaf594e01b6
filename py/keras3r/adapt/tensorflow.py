"""The compiled eager `apply()` on TensorFlow: one cached XLA-compiled update.

R users drive optimizers three ways: `fit()`, a custom step inside
`tf_function()`, and a plain loop calling `optimizer$apply(grads, weights)`
batch by batch. `fit()` is compiled by Keras. The plain loop is not: stock
Keras then runs each update as a few small eager ops per variable, each a
Python -> C++ round trip with a temporary the size of the variable
(bench/bench_apply.R and bench/bench_matrix.py measure the difference).

An eager call runs Keras's own `apply`, traced once into a `tf.function` with
`jit_compile=True` and cached (keras3r.adapt.eager_apply holds the cache). The
traced body *is* the Keras method, so values equal what Keras's own
XLA-compiled `fit()` computes.

The variables are captured by the function, never passed to it: a Keras
variable passed as a `tf.function` argument arrives as a plain tensor and
could not be assigned. The optimizer's own variables (slots, iteration
counter) are built eagerly before the first trace, exactly as Keras's `apply`
builds them, so that none is created inside the function. Optimizers of one
sharing key (keras3r.adapt.sharing_key) run the same traced function, each
handing its own variables' handles in place of the captured ones
(`_SharedTrace`), so TF's XLA cache (never emptied) holds one executable per
sharing key.

Inside a plain `tf.function` (a custom training step without `jit_compile`,
or `fit(jit_compile=False)`), the same Keras `apply` becomes an XLA function
nested in the user's graph, traced once per trace of that graph, where the
variables are large enough for it to pay (`_worth_nesting`).

When Keras's path is kept, unchanged:
  * inside an XLA-compiled function already (`fit()`'s default step, a step
    with `jit_compile=True`): the update is compiled with the rest;
  * `tf.config.run_functions_eagerly(True)`: the user asked to debug eagerly;
  * a `tf.distribute` strategy is in scope, or the optimizer was built under
    one with more than one replica: the update must go through the strategy's
    cross-replica machinery (and keras3r.adapt.tensorflow_distribute's
    clipping fix there);
  * float16 or bfloat16 variables (keras3r.adapt.eager_apply);
  * sparse (`IndexedSlices`) or missing (`None`) gradients, a learning rate
    that is a plain callable (stock eager Keras calls it every step; a trace
    would freeze it), or, for an eager call, anything that fails to trace or
    compile (warned once per key; Keras then runs the call and raises its own
    error if any).

XLA updates the variables in place: the transient memory of a step does not
grow with the parameter count (tests/python/test_long_sessions.py measures
what a dropped optimizer leaves, against stock Keras).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from keras3r import compat
from keras3r.adapt.eager_apply import (
    KERAS_PATH_ENTRY,
    CompiledApply,
    CompiledEntry,
    attach_compiled_apply,
    build_eagerly,
    rate_is_plain_function,
    set_up_call,
    wait_before_compiling,
)
from keras3r.adapt.shared_updates import shared_drop, shared_get, shared_put
from keras3r.adapt.sharing_key import sharing_key, trace_settings


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


def _inside_xla() -> bool:
    """True while tracing inside an XLA-compiled function (fit()'s default step).

    TF's own test (private API, see keras3r.compat); where it is missing, the
    answer is True, which keeps Keras's path: the safe side.
    """
    return compat.tf_inside_xla()


def _graph_compilable_call(optimizer: Any) -> bool:
    """Whether a call traced inside a plain (non-XLA) tf.function may compile its update.

    A custom training step in `tf.function` without `jit_compile` runs the
    update as unfused graph ops; compiling the update alone, as an XLA
    function nested in the user's graph, brings it to what Keras's XLA step
    costs (bench/bench_matrix.py, "tf.function step" rows). Inside XLA already (fit()'s default
    step), under a distribution strategy, or with a learning-rate function,
    Keras's path stays, for the reasons given for eager calls; and for a
    small update (`_worth_nesting`).
    """
    import tensorflow as tf

    if tf.executing_eagerly() or tf.config.functions_run_eagerly() or _inside_xla():
        return False
    return _compilable_setting(optimizer)


# Below this many parameters a variable on average, a nested XLA update costs
# a plain tf.function step more than it saves (see _worth_nesting); chosen
# from bench/bench_nesting.py, whose figures bench/README.md keeps.
MIN_PARAMETERS_TO_NEST = 100_000


def _worth_nesting(variables: Sequence[Any]) -> bool:
    """Whether an update of these variables gains from a nested XLA function.

    The nested function pays a launch of its own and, on XLA's CPU backend,
    about three kernels a variable; Keras's graph ops cost less for variables
    of modest size. What decides is the size of the average variable, not the
    total (bench/bench_nesting.py), so the update is nested only when its
    variables hold MIN_PARAMETERS_TO_NEST parameters or more on average. The
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
    return count > 0 and total >= MIN_PARAMETERS_TO_NEST * count


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


class _Entry(CompiledEntry):
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
        self.shared = shared  # the sharing key of the shared trace, if any

    def hlo(self) -> str:
        return str(
            self.function.experimental_get_compiler_ir(*self.specs)(stage="optimized_hlo")
        )

    def compiled_object(self) -> Any:
        return self.function


class _SharedTrace:
    """A traced update that any optimizer of its sharing key runs with its own variables.

    `roles` says, for each input the trace captured, which variable it is:
    ("var", i) the i-th variable passed, ("built", i) the i-th the optimizer
    was built with, ("opt", j) the j-th of `optimizer.variables`.  Another
    optimizer of the same sharing key hands its own variables' handles in the
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
    signature, per gradient and per call: a visible share of a step with many
    small variables (bench/README.md). The cache key already guarantees that
    signature (same dtypes, same shapes), so the flat call that
    `concrete(*grads)` ends in is used directly, with the captured variables'
    handles fetched once.  It is TF's
    private API (keras3r.compat): used only where it has the expected
    parameters, else the public call.
    """
    flat = compat.tf_flat_caller(concrete)
    if flat is not None:
        return flat
    return lambda grads: concrete(*grads)


def _signature(tensors: list[Any]) -> tuple[Any, ...]:
    """Dtypes and shapes of the gradients: what a trace is specialised to."""
    # EagerTensor's C-level shape, cheaper than building a TensorShape per
    # gradient (bench/README.md), which matters with a hundred variables and
    # small steps.
    return compat.tf_shapes(tensors)


def _xla_update(optimizer: Any, state: CompiledApply, variables: list[Any]) -> Any:
    """Keras's `apply` for these variables, as a `tf.function` with `jit_compile=True`.

    Variables come from the closure (captured), gradients as arguments.
    """
    import tensorflow as tf

    previous_apply = state.previous_apply

    def update(*traced_grads: Any) -> None:
        state.traces += 1
        previous_apply(optimizer, list(traced_grads), variables)

    return tf.function(update, jit_compile=True)


def _compile(
    optimizer: Any,
    state: CompiledApply,
    variables: list[Any],
    grads: list[Any],
    shared_key: tuple[Any, ...] | None,
) -> _Entry:
    """Trace Keras's `apply` for these variables and gradient signatures, XLA-compiled.

    With a sharing key, the trace is made shareable (`_SharedTrace`): its
    closure is emptied once traced, so that the shared cache does not keep
    this optimizer, and it is shared if every captured input is a variable
    with a role.  Otherwise it stays this optimizer's own, closure and all.
    """
    import tensorflow as tf

    holder = [optimizer, state, variables]

    def update(*traced_grads: Any) -> None:
        opt, own_state, own_variables = holder
        own_state.traces += 1
        own_state.previous_apply(opt, list(traced_grads), own_variables)

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


def _made_in_a_trace(variables: list[Any]) -> bool:
    """Whether a tf.function made any of these variables (a model built in fit()'s trace).

    TensorFlow lifts such a variable out of the function, but sets its value
    only when the function first runs.
    """
    return any(map(compat.tf_made_in_a_trace, variables))


def _apply(
    self: Any, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None
) -> Any:
    """`Optimizer.apply`, run as an XLA-compiled update where that is possible."""
    import tensorflow as tf

    in_graph = _graph_compilable_call(self)
    call = set_up_call(self, grads, trainable_variables, in_graph or _compilable_call(self))
    state, keras_path, variables = call.state, call.keras_path, call.variables
    if variables is None or (in_graph and not _worth_nesting(variables)):
        return keras_path()
    tensors = _dense_tensors(call.grads)
    if tensors is None:
        return keras_path()

    if not self.built:
        if in_graph and _made_in_a_trace(variables):
            # Their first value exists only once the traced function runs:
            # an eager build would read them empty (ScheduleFreeAdamW copies
            # each variable into its slot). Keras builds inside the trace.
            return keras_path()
        with tf.init_scope():  # slots are variables: made eagerly, outside any trace
            build_eagerly(self, variables)
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
        shared_key = sharing_key(self, settings, variables, signature)
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
    elif entry is KERAS_PATH_ENTRY:
        return keras_path()
    else:
        entry.call(tensors)
    state.compiled_calls += 1
    return None  # Keras's `apply` returns None too.


def attach(optimizer: Any) -> Any:
    """Give a TensorFlow optimizer the cached compiled eager `apply`; return it."""
    return attach_compiled_apply(optimizer, _apply)
