"""Every private Keras, TensorFlow, JAX and torch name that keras3r uses, in one place.

keras3r reaches past the public APIs where they offer no way to do what it
must (wrap the step where Keras clips gradients, tell whether JAX is
tracing) or where the public way costs a visible share of a small update
(`variable.value` against the stored `_value`). A release may move or rename
any of these, so each is read here only, behind a function that says what
keras3r needs from it and what happens when it is gone: a fallback that
keeps the result right, at worst slower, or Keras's own path.

`PRIVATE_APIS` lists each name with what relies on it; tests/python/test_compat.py
checks each against the installed releases and fails naming the private API
that moved, and fails too when private names are used outside this module.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Each private name keras3r touches -> what relies on it and the fallback.
PRIVATE_APIS: dict[str, str] = {
    "keras.src.backend.common.stateless_scope.in_stateless_scope": (
        "adapt.jax: an apply() inside stateless_apply/fit() keeps Keras's path; "
        "if missing, every JAX apply keeps Keras's path"
    ),
    "jax._src.core.trace_state_clean": (
        "adapt.rate_guard.jax_tracing: whether JAX is tracing; if missing, the compiled update "
        "is not used on JAX and the frozen-rate check does not run on JAX"
    ),
    "jax.Array._arrays": (
        "adapt.jax: the per-device views of an array, so that they are not "
        "taken for another holder of its buffer; if missing, nothing is donated"
    ),
    "jax.live_arrays newest first": (
        "adapt.jax: only arrays younger than the ones to donate are searched "
        "for aliases; checked on every call, else (and where an array on one device is "
        "its own view, as in newer JAX) every live array is searched"
    ),
    "keras.Variable._value": (
        "adapt.jax._read: the stored array, without value's autocast lookups; "
        "if missing, `value`"
    ),
    "keras.Variable._direct_assign": (
        "adapt.jax._write: store a value already of the right dtype and shape; "
        "if missing, `assign`"
    ),
    "keras.optimizers.Optimizer._trainable_variables": (
        "adapt.eager_apply: the variables the optimizer was built with; if missing, "
        "an apply() without variables keeps Keras's path"
    ),
    "keras.optimizers.Optimizer._learning_rate": (
        "adapt.eager_apply: a learning-rate function keeps Keras's path, and a new rate "
        "object a new trace; adapt.rate_guard: its guard replaces the function without calling "
        "it; if missing, only the public `learning_rate` is seen and set"
    ),
    "keras.optimizers.Optimizer._distribution_strategy": (
        "adapt.tensorflow: an optimizer built under several replicas keeps "
        "Keras's path; if missing, the strategy in scope decides alone"
    ),
    "keras.optimizers.Optimizer._clip_gradients": (
        "adapt.tensorflow_distribute: clipping moved after the cross-replica sum; "
        "if missing, stock clipping"
    ),
    "keras.optimizers.Optimizer._all_reduce_sum_gradients": (
        "adapt.tensorflow_distribute: the cross-replica sum (TensorFlow); "
        "if missing, stock clipping"
    ),
    "keras.optimizers.MultiOptimizer._optimizer_map": (
        "adapt.routing: what a multi optimizer routes by (an OptimizerMap or a function), "
        "for the check that its routing survives saving and loading; if missing, no check"
    ),
    "keras.optimizers.Optimizer._momentums": (
        "schedule_free: ScheduleFreeAdamW's z, one per variable; no fallback (raises)"
    ),
    "keras.optimizers.Optimizer._velocities": (
        "schedule_free: ScheduleFreeAdamW's second moments; no fallback (raises)"
    ),
    "keras.optimizers.Optimizer._get_variable_index": (
        "schedule_free: a variable's slot index in its own update step; r_optimizer: "
        "variable_index() for optimizers written in R; no fallback (raises)"
    ),
    "keras.src.optimizers.base_optimizer.BaseOptimizer": (
        "r_optimizer: the base optimizer's own arguments (its __init__ signature) and its "
        "update_step stub, shared by every backend's Optimizer; no fallback (raises)"
    ),
    "keras.optimizers.Muon._should_use_adamw": (
        "muon_split: Keras's own rule for which variables Muon leaves to AdamW, so the "
        "check of that split after loading cannot drift; no fallback (raises)"
    ),
    "tensorflow.python.ops.control_flow_util.GraphOrParentsInXlaContext": (
        "adapt.tensorflow: inside an XLA function already, Keras's path; if missing, "
        "Keras's path in every graph"
    ),
    "tensorflow UnliftedInitializerVariable": (
        "adapt.tensorflow: variables made inside a tf.function are built by Keras in "
        "the trace; if renamed, keras3r builds eagerly as for any other variable"
    ),
    "tensorflow.EagerTensor._shape_tuple": (
        "adapt.tensorflow: a cheap cache key; if missing, `tuple(tensor.shape)`"
    ),
    "tensorflow.ConcreteFunction._call_flat": (
        "adapt.tensorflow: call a traced update without re-checking its arguments, and "
        "with another optimizer's variables in the captured ones' places (one update "
        "per structure); if missing or changed, the public call and one update per "
        "optimizer"
    ),
    "keras.optimizers.Optimizer._backend_update_step": (
        "adapt.torch: the layer of apply() that gets the clipped, unscaled, accumulated "
        "gradients after weight decay; if missing, Keras's path on torch"
    ),
    "keras.optimizers.Adam._velocity_hats": (
        "adapt.torch_kernels: AMSGrad's running maximum, one per variable; if missing, an "
        "AMSGrad optimizer keeps Keras's path on torch"
    ),
    "keras.optimizers.Adagrad._accumulators": (
        "adapt.torch_kernels: Adagrad's sums of squares; if missing, Keras's path on torch"
    ),
    "keras.optimizers.Optimizer._apply_weight_decay": (
        "adapt.torch: Keras's decoupled weight decay on torch, done with the same op on "
        "the variables it chose once; if missing, Keras's own"
    ),
    "keras.optimizers.Optimizer._use_weight_decay": (
        "adapt.torch: Keras's own choice of the variables that decay; no fallback "
        "(raises), read only where _apply_weight_decay exists"
    ),
    "torch._fused_adam_": (
        "adapt.torch_kernels: Adam and AdamW in one fused kernel, fed Keras's own step size "
        "(an infinite step count turns off the kernel's bias correction); if missing, "
        "Keras's path"
    ),
    "torch._fused_adamw_": (
        "adapt.torch_kernels: Adam and AdamW with Keras's weight decay folded in on the CPU "
        "(the kernel's decay factor 1 - lr * wd made Keras's); if missing, Keras's "
        "multiply stays a pass of its own"
    ),
    "torch._fused_sgd_": (
        "adapt.torch_kernels: SGD in one fused kernel; if missing, Keras's path"
    ),
    "torch._foreach_ in-place ops": (
        "adapt.torch_kernels: Adagrad in place (addcmul_, add, sqrt_, addcdiv_); if one is "
        "missing, Keras's path"
    ),
}

# Keras's private optimizer methods that keras3r wraps on an instance.
CLIP_GRADIENTS = "_clip_gradients"
ALL_REDUCE_SUM_GRADIENTS = "_all_reduce_sum_gradients"

# Attributes of Keras optimizers that keras3r reads.
LEARNING_RATE = "_learning_rate"
TRAINABLE_VARIABLES = "_trainable_variables"
DISTRIBUTION_STRATEGY = "_distribution_strategy"
OPTIMIZER_MAP = "_optimizer_map"

# Keras's private optimizer method that keras3r replaces on a torch instance.
BACKEND_UPDATE_STEP = "_backend_update_step"
APPLY_WEIGHT_DECAY = "_apply_weight_decay"


# --- Keras ------------------------------------------------------------------------


def in_stateless_scope() -> bool:
    """Whether Keras runs inside a `StatelessScope` (stateless_apply, the JAX trainer).

    Unknown (the function moved) answers True: Keras's own path, the safe side.
    """
    try:
        from keras.src.backend.common.stateless_scope import in_stateless_scope as inside
    except ImportError:
        return True
    return bool(inside())


def built_variables(optimizer: Any) -> Sequence[Any] | None:
    """The variables `optimizer` was built with (Keras's own list), or None if gone."""
    return getattr(optimizer, TRAINABLE_VARIABLES, None)


def learning_rate_object(optimizer: Any) -> Any:
    """The learning rate as given (a variable, a schedule or a function), not its value."""
    return getattr(optimizer, LEARNING_RATE, None)


def replace_learning_rate_function(optimizer: Any, function: Any) -> None:
    """Put `function` where the optimizer keeps its learning-rate function.

    The public `learning_rate` setter goes through TF's attribute tracking,
    which reads the old value first, and reading a function's value calls it:
    one call the user's function would see that stock Keras never makes.
    """
    if hasattr(optimizer, LEARNING_RATE):
        setattr(optimizer, LEARNING_RATE, function)
    else:
        optimizer.learning_rate = function


def distribution_strategy(optimizer: Any) -> Any:
    """The tf.distribute strategy `optimizer` was built under, or None."""
    return getattr(optimizer, DISTRIBUTION_STRATEGY, None)


def multi_optimizer_routes(optimizer: Any) -> Any:
    """What a MultiOptimizer routes variables by (an OptimizerMap or a function), or None."""
    return getattr(optimizer, OPTIMIZER_MAP, None)


def _required(owner: Any, attribute: str, api: str) -> Any:
    """`owner.<attribute>`, or an error that names the private API which moved."""
    try:
        return getattr(owner, attribute)
    except AttributeError:
        raise AttributeError(
            f"keras3r relies on the private API `{api}`, which this Keras release no "
            "longer has; keras3r/compat.py must be adapted."
        ) from None


def momentums(optimizer: Any) -> list[Any]:
    """An Adam-family optimizer's first-moment slots, one per variable (None where unused)."""
    return _required(optimizer, "_momentums", "keras.optimizers.Optimizer._momentums")


def velocities(optimizer: Any) -> list[Any]:
    """An Adam-family optimizer's second-moment slots, one per variable."""
    return _required(optimizer, "_velocities", "keras.optimizers.Optimizer._velocities")


def base_optimizer_class() -> type:
    """Keras's backend-independent optimizer base, whose `__init__` names the base arguments."""
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    return BaseOptimizer


def variable_index(optimizer: Any, variable: Any) -> int:
    """The index of `variable`'s slots, as the optimizer's own update step looks it up."""
    api = "keras.optimizers.Optimizer._get_variable_index"
    return int(_required(optimizer, "_get_variable_index", api)(variable))


def muon_uses_adamw(optimizer: Any, variable: Any) -> bool:
    """Keras's own rule: whether Muon updates `variable` with its AdamW step."""
    api = "keras.optimizers.Muon._should_use_adamw"
    return bool(_required(optimizer, "_should_use_adamw", api)(variable))


def per_variable_choices(optimizer: Any, variables: Sequence[Any]) -> tuple[bool, ...]:
    """The choices an optimizer makes per variable from its path (Muon's), else ().

    A trace bakes them in, so two optimizers share a compiled update only
    where they agree on them.
    """
    if not hasattr(optimizer, "_should_use_adamw"):
        return ()
    return tuple(muon_uses_adamw(optimizer, v) for v in variables)


def uses_weight_decay(optimizer: Any, variable: Any) -> bool:
    """Keras's own rule: whether `variable` gets the optimizer's weight decay."""
    api = "keras.optimizers.Optimizer._use_weight_decay"
    return bool(_required(optimizer, "_use_weight_decay", api)(variable))


def has_clip_hooks(optimizer: Any) -> bool:
    """Whether `optimizer` has the two private methods adapt.tensorflow_distribute wraps."""
    return callable(getattr(optimizer, CLIP_GRADIENTS, None)) and callable(
        getattr(optimizer, ALL_REDUCE_SUM_GRADIENTS, None)
    )


def read_stored(variables: Sequence[Any]) -> list[Any]:
    """The stored values of Keras variables: `_value`, or the public `value`."""
    try:
        return [v._value for v in variables]
    except AttributeError:
        return [v.value for v in variables]


def store(variable: Any, value: Any) -> None:
    """Store a value already of the variable's dtype and shape: `_direct_assign`, or `assign`."""
    direct = getattr(variable, "_direct_assign", None)
    if direct is None:
        variable.assign(value)
    else:
        direct(value)


# --- JAX --------------------------------------------------------------------------


def jax_trace_state_clean() -> bool | None:
    """True outside any JAX trace, False inside one, None where it cannot be told.

    Only once JAX was imported (keras3r never imports it for this).
    """
    core = sys.modules.get("jax._src.core")
    if core is None:
        return True
    clean = getattr(core, "trace_state_clean", None)
    return None if clean is None else bool(clean())


def jax_device_arrays(array: Any) -> list[Any]:
    """An array's per-device views (one for an array on one device); raises if gone.

    JAX builds the list afresh on each read (the views themselves are cached).
    """
    return array._arrays


# --- TensorFlow -------------------------------------------------------------------


def tf_inside_xla() -> bool:
    """True while tracing inside an XLA-compiled function; True too where it cannot be told."""
    import tensorflow as tf

    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:
        return True
    check = getattr(control_flow_util, "GraphOrParentsInXlaContext", None)
    if check is None:
        return True
    return bool(check(tf.compat.v1.get_default_graph()))


def tf_made_in_a_trace(variable: Any) -> bool:
    """Whether a tf.function made this Keras variable (a model built in fit()'s trace).

    TensorFlow lifts such a variable out of the function but sets its value
    only when the function first runs; its class is TF's private
    `UnliftedInitializerVariable`. Where that name changes the answer is
    False, which keeps the eager build keras3r otherwise does.
    """
    stored = getattr(variable, "_value", variable)
    return type(stored).__name__ == "UnliftedInitializerVariable"


def tf_shapes(tensors: Sequence[Any]) -> tuple[Any, ...]:
    """Dtypes and shapes of eager tensors (`_shape_tuple` builds no TensorShape; `.shape` does)."""
    try:
        return tuple((t.dtype, t._shape_tuple()) for t in tensors)
    except AttributeError:
        return tuple((t.dtype, tuple(t.shape)) for t in tensors)


def tf_flat_call(concrete: Any) -> Callable[[list[Any], Sequence[Any]], Any] | None:
    """`concrete`'s flat call `(tensors, captured_inputs)`, or None where it changed.

    The captured inputs are passed on each call: the same trace runs with
    other variables of the same dtypes and shapes in the captured ones'
    places (adapt.eager_apply's shared updates).
    """
    flat = getattr(concrete, "_call_flat", None)
    try:
        parameters = list(inspect.signature(flat).parameters) if flat else []
    except (TypeError, ValueError):
        parameters = []
    if parameters != ["tensor_inputs", "captured_inputs"]:
        return None
    return flat  # type: ignore[no-any-return]


def tf_flat_caller(concrete: Any) -> Callable[[list[Any]], Any] | None:
    """`concrete`'s flat call on a list of tensors, or None where it changed.

    The public `concrete(*tensors)` re-checks every argument against the
    traced signature, on every call and for every tensor.
    """
    flat = tf_flat_call(concrete)
    if flat is None:
        return None
    captured = concrete.captured_inputs
    return lambda tensors: flat(tensors, captured)


# --- torch ------------------------------------------------------------------------


def torch_fused_kernel(name: str) -> Callable[..., Any] | None:
    """torch's fused multi-tensor optimizer kernel `torch._fused_<name>_`, or None.

    Looked up on every call (a dict lookup), so that a test's spy on the torch
    attribute sees the calls.
    """
    import torch

    return getattr(torch, f"_fused_{name}_", None)


def torch_foreach(name: str) -> Callable[..., Any] | None:
    """torch's multi-tensor op `torch._foreach_<name>`, or None where it is gone."""
    import torch

    return getattr(torch, f"_foreach_{name}", None)


def amsgrad_maxima(optimizer: Any) -> list[Any] | None:
    """An AMSGrad Adam's running maxima of the second moments, or None if gone."""
    return getattr(optimizer, "_velocity_hats", None)


def adagrad_accumulators(optimizer: Any) -> list[Any] | None:
    """Adagrad's per-variable sums of squared gradients, or None if gone."""
    return getattr(optimizer, "_accumulators", None)
