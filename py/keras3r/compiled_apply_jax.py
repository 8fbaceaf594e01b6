"""One jit-compiled update for an eager `apply()` on the JAX backend.

Why: on JAX, Keras runs an eager `opt.apply(grads, variables)` op by op, one
dispatch per element-wise operation per variable (measured on this project's
2 CPUs: 74 ms for 8M parameters in 16 variables and 108 ms for 1M parameters
in 100 variables, where the same update through `jax.jit` takes 19 ms and
2 ms).  On a GPU each of those ops is a kernel launch of its own.

What: an eager call runs Keras's own `stateless_apply` (the function Keras's
JAX trainer compiles for `fit()`), jit-compiled once and cached, then writes
the new values into the variables.  The maths is Keras's: `stateless_apply`
calls the optimizer's `apply` inside a `StatelessScope`, where this module
steps aside, so clipping, weight decay, EMA, gradient accumulation and the
iteration counter behave as in `fit()`.

When Keras's path is kept, unchanged: inside a JAX trace or a stateless
scope (the user's own `jax.jit` step, `fit()`, `stateless_apply` itself), under
a `keras.distribution`, with missing gradients, with variables other than the
ones the optimizer was built with (`stateless_apply` maps values to those),
with a learning rate that is a plain function (Keras calls it every eager
step; a trace would freeze it), or when compiling fails (warned once per key).

Memory: the old buffers of the optimizer's slots and of the variables are
donated to the update, so XLA writes the new values in place, as Keras's own
trainer does, except a buffer that something besides its variable still
references (an array the user kept from `v.value`, one buffer shared by two
variables): deleting that would break the other holder, so it is not donated.

The cache key holds the variables (by identity), the gradients' shapes and
dtypes, the optimizer's plain Python settings (baked into a trace, see
`keras3r.compiled_apply.trace_settings`) and which buffers are donated.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from keras3r.host_rate import jax_tracing


class JaxEntry:
    """One compiled update (a `jax.stages.Compiled`, called directly)."""

    __slots__ = ("compiled",)

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled

    def hlo(self) -> str:
        """The optimised HLO (for benchmarks counting bytes)."""
        return str(self.compiled.as_text())


def compilable_call() -> bool:
    """Whether this call is eager, outside any trace, stateless scope or distribution.

    The optimizer's own condition (no learning-rate function) is checked by
    keras3r.compiled_apply, as for TensorFlow.
    """
    import keras
    from keras.src.backend.common.stateless_scope import in_stateless_scope

    if in_stateless_scope() or jax_tracing():
        return False
    return keras.distribution.distribution() is None


def _most_references(values: Sequence[Any]) -> int:
    """The largest reference count among `values`, or -1 when one appears twice.

    Built-ins mapped over the list (no Python loop): with 300 values a step
    this bookkeeping is a visible share of a small update.
    """
    if len(set(map(id, values))) != len(values):
        return -1
    return max(map(sys.getrefcount, values), default=0)


def _sole_holder_references() -> int:
    """What `_most_references` reads for a value that one other object holds.

    Measured rather than assumed: the count includes the interpreter's own
    temporary references, which differ between Python versions.
    """
    holder = [object()]  # stands for the variable
    return _most_references([holder[0]])


_SOLE_HOLDER_REFERENCES = _sole_holder_references()


def _donatable(values: Sequence[Any]) -> bool:
    """True when each buffer is held by its variable alone (see the module docstring)."""
    most = _most_references(values)
    return 0 <= most <= _SOLE_HOLDER_REFERENCES


def _compile(
    optimizer: Any,
    state: Any,
    args: tuple[list[Any], list[Any], list[Any]],
    donate: tuple[int, ...],
) -> JaxEntry:
    """Keras's `stateless_apply` for these arguments, traced and compiled ahead of the call.

    Compiling ahead (rather than on a jitted function's first call) makes
    errors surface before any buffer is donated; the compiled executable is
    then called directly, at the cost of a jitted call (measured equal).
    """
    import jax

    def update(slot_values: list[Any], grads: list[Any], weights: list[Any]) -> Any:
        state.traces += 1
        # stateless_apply calls optimizer.apply, which lands back in keras3r
        # and takes Keras's path: part of this trace, not a Keras-path call.
        state.own_trace = True
        try:
            new_weights, new_slots = optimizer.stateless_apply(slot_values, grads, weights)
        finally:
            state.own_trace = False
        # Outputs in the order of the donated inputs: jax pairs each donated
        # buffer with the first output of its shape, so (weights, slots) would
        # pair a weight's buffer with a slot's output and XLA would copy every
        # array to keep the update in place (counted from the HLO on CPU: 84
        # bytes per parameter instead of 40).
        return new_slots, new_weights

    with warnings.catch_warnings():
        # Where a backend cannot donate (some CPU builds), jax says so while
        # lowering; the update is still right, only not in place.
        warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
        lowered = jax.jit(update, donate_argnums=donate).lower(*args)
    return JaxEntry(lowered.compile())


# Concrete types already seen to be jax.Array: `isinstance(g, jax.Array)` goes
# through an ABC check that costs about 0.4 us a gradient.
_ARRAY_TYPES: set[type] = set()


def _as_arrays(grads: list[Any]) -> list[Any]:
    """The gradients as JAX arrays (NumPy arrays from R, Keras variables, ... converted)."""
    import jax
    import jax.numpy as jnp

    out = []
    for grad in grads:
        kind = type(grad)
        if kind not in _ARRAY_TYPES:
            if isinstance(grad, jax.Array):
                _ARRAY_TYPES.add(kind)
            else:
                grad = jnp.asarray(grad)
        out.append(grad)
    return out


def _read(variables: list[Any]) -> list[Any]:
    """The stored values of `variables`, as Keras's JAX trainer reads its state.

    `_value` (private API) is the stored array that the public `value`
    returns outside an autocast scope; reading it directly skips two global
    lookups per variable, which with 100 variables and their 200 slots was a
    fifth of a 2 ms step.  `value` where `_value` is missing.
    """
    try:
        return [v._value for v in variables]
    except AttributeError:
        return [v.value for v in variables]


def _write(variables: list[Any], values: Sequence[Any]) -> None:
    """Store values that `stateless_apply` computed for these very variables.

    Keras's JAX variables store through `_direct_assign` (private API) once
    `assign` has checked dtype and shape; `stateless_apply` already returns
    each value in its variable's dtype and shape, so the checks are skipped.
    `assign` where `_direct_assign` is missing.
    """
    for variable, value in zip(variables, values):
        direct = getattr(variable, "_direct_assign", None)
        if direct is None:
            variable.assign(value)
        else:
            direct(value)


def run(
    optimizer: Any,
    state: Any,
    variables: list[Any],
    grads: list[Any],
    settings: tuple[Any, ...],
    keras_path: Callable[[], Any],
) -> Any:
    """Run one eager update through the cached jit-compiled `stateless_apply`."""
    built_with = optimizer._trainable_variables
    if len(variables) != len(built_with) or any(a is not b for a, b in zip(variables, built_with)):
        return keras_path()
    arrays = _as_arrays(grads)
    slots = list(optimizer.variables)
    slot_values = _read(slots)
    weights = _read(variables)
    donate_slots = _donatable(slot_values)
    donate_weights = _donatable(weights)
    key = (
        tuple(map(id, variables)),
        tuple((a.dtype, a.shape) for a in arrays),
        settings,
        donate_slots,
        donate_weights,
    )
    entry = state.entries.get(key)
    if entry is None:
        donate = tuple(i for i, on in ((0, donate_slots), (2, donate_weights)) if on)
        try:
            entry = _compile(optimizer, state, (slot_values, arrays, weights), donate)
        except Exception as error:
            # One frame deeper than TensorFlow's: apply -> run -> here.
            return state.keras_path_instead(key, keras_path, error, stacklevel=5)
        state.remember(key, entry)
    elif not isinstance(entry, JaxEntry):
        return keras_path()
    new_slots, new_weights = entry.compiled(slot_values, arrays, weights)
    del slot_values, weights  # donated: deleted arrays from here on
    _write(variables, new_weights)
    _write(slots, new_slots)
    state.compiled_calls += 1
    return None
