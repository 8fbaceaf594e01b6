"""One jit-compiled update for an eager `apply()` on the JAX backend.

Why: on JAX, Keras runs an eager `opt.apply(grads, variables)` op by op, one
dispatch per element-wise operation per variable (bench/bench_adamw_jax.py
and bench/bench_matrix.py measure it against the jitted update). On a GPU
each of those ops is a kernel launch of its own.

What: an eager call runs Keras's own `stateless_apply` (the function Keras's
JAX trainer compiles for `fit()`), jit-compiled once and cached, then writes
the new values into the variables.  The maths is Keras's: `stateless_apply`
calls the optimizer's `apply` inside a `StatelessScope`, where this module
steps aside, so clipping, weight decay, EMA, gradient accumulation and the
iteration counter behave as in `fit()`.

When Keras's path is kept, unchanged: inside a JAX trace or a stateless
scope (the user's own `jax.jit` step, `fit()`, `stateless_apply` itself), under
a `keras.distribution`, with missing or sparse gradients (`_as_arrays`), with
variables other than the ones the optimizer was built with (`stateless_apply`
maps values to those), with a learning rate that is a plain function (Keras
calls it every eager step; a trace would freeze it), or when compiling fails
(warned once per key).

Memory: the old buffers of the optimizer's slots and of the variables are
donated to the update, so XLA writes the new values in place, as Keras's own
trainer does, where nothing but the variable can still read them
(keras3r.adapt.jax_donation decides, and says how).

The cache key holds the variables (by identity), the gradients' shapes and
dtypes, the optimizer's plain Python settings (baked into a trace, see
`keras3r.adapt.sharing_key.trace_settings`) and which buffers are donated.
The executable itself is a function of the values alone, so optimizers of
one sharing key (`keras3r.adapt.sharing_key.sharing_key`) share it: a new optimizer
like one seen before compiles nothing, and the cache of shared executables
keeps neither optimizer nor variable (the traced closure is emptied once
compiled). A sharing key not compiled yet runs its first calls on Keras's path
(`keras3r.adapt.eager_apply.KERAS_CALLS_BEFORE_COMPILING`), decided before the
donation analysis so that such a call costs what Keras's costs.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from keras3r import compat
from keras3r.adapt import eager_apply
from keras3r.adapt.eager_apply import (
    CompiledEntry,
    attach_compiled_apply,
    build_eagerly,
    rate_is_plain_function,
    set_up_call,
)
from keras3r.adapt.jax_donation import donatable_groups
from keras3r.adapt.shared_updates import shared_get, shared_put
from keras3r.adapt.sharing_key import sharing_key, trace_settings


class JaxEntry(CompiledEntry):
    """One compiled update (a `jax.stages.Compiled`, called directly)."""

    __slots__ = ("compiled",)

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled

    def hlo(self) -> str:
        return str(self.compiled.as_text())

    def compiled_object(self) -> Any:
        return self.compiled


def compilable_call() -> bool:
    """Whether this call is eager, outside any trace, stateless scope or distribution.

    The optimizer's own condition (no learning-rate function) is checked by
    `_apply`, as on TensorFlow.
    """
    import keras

    # Inside a trace, or where it cannot be told (compat answers None): Keras's path.
    if compat.in_stateless_scope() or compat.jax_trace_state_clean() is not True:
        return False
    return keras.distribution.distribution() is None


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

    # Emptied once compiled: the executable may be shared by every optimizer
    # of this sharing key and must not keep this one alive.
    holder = [optimizer, state]

    def update(slot_values: list[Any], grads: list[Any], weights: list[Any]) -> Any:
        opt, own_state = holder
        own_state.traces += 1
        # stateless_apply calls optimizer.apply, which lands back in keras3r
        # and takes Keras's path: part of this trace, not a Keras-path call.
        own_state.own_trace = True
        try:
            new_weights, new_slots = opt.stateless_apply(slot_values, grads, weights)
        finally:
            own_state.own_trace = False
        # Outputs in the order of the donated inputs: jax pairs each donated
        # buffer with the first output of its shape, so (weights, slots) would
        # pair a weight's buffer with a slot's output and XLA would copy every
        # array to keep the update in place (bench/README.md has the bytes
        # counted from the HLO).
        return new_slots, new_weights

    with warnings.catch_warnings():
        # Where a backend cannot donate (some CPU builds), jax says so while
        # lowering; the update is still right, only not in place.
        warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
        try:
            lowered = jax.jit(update, donate_argnums=donate).lower(*args)
        finally:
            holder.clear()
    return JaxEntry(lowered.compile())


# (donate slots, donate weights): the patterns a shared key ends with.
_DONATION_PATTERNS = ((False, False), (False, True), (True, False), (True, True))

# Concrete types already seen to be jax.Array: `isinstance(g, jax.Array)` goes
# through an ABC check, per gradient and per call (bench/README.md).
_ARRAY_TYPES: set[type] = set()


def _as_arrays(grads: list[Any]) -> list[Any] | None:
    """The gradients as dense JAX arrays, or None where Keras's path must take them.

    NumPy arrays (what R hands over), Python numbers, lists and Keras
    variables are converted.  A sparse gradient (`jax.experimental.sparse`,
    e.g. BCOO) stays sparse on Keras's path: Keras's ops and its sparse-aware
    `assign` handle it there, where densifying it here would change which
    updates Keras sees.  Anything that does not convert goes to Keras's path
    too, which then handles it or raises its own error, as stock Keras does.
    """
    import jax
    import jax.numpy as jnp

    out = []
    for grad in grads:
        kind = type(grad)
        if kind not in _ARRAY_TYPES:
            if isinstance(grad, jax.Array):
                _ARRAY_TYPES.add(kind)
            elif _is_jax_sparse(grad):
                return None
            else:
                try:
                    grad = jnp.asarray(grad)
                except (TypeError, ValueError):
                    return None
        out.append(grad)
    return out


def _is_jax_sparse(value: Any) -> bool:
    """A `jax.experimental.sparse` array (BCOO, BCSR, ...), without importing that module."""
    sparse = sys.modules.get("jax.experimental.sparse")
    return sparse is not None and isinstance(value, sparse.JAXSparse)


def _read(variables: list[Any]) -> list[Any]:
    """The stored values of `variables`, as Keras's JAX trainer reads its state.

    `_value` (private API, see keras3r.compat) is the stored array that the
    public `value` returns outside an autocast scope; reading it directly
    skips two global lookups per variable and slot, a visible share of a
    small update (bench/README.md).
    """
    return compat.read_stored(variables)


def _write(variables: list[Any], values: Sequence[Any]) -> None:
    """Store values that `stateless_apply` computed for these very variables.

    Keras's JAX variables store through `_direct_assign` (private API, see
    keras3r.compat) once `assign` has checked dtype and shape;
    `stateless_apply` already returns each value in its variable's dtype and
    shape, so the checks are skipped.
    """
    for variable, value in zip(variables, values):
        compat.store(variable, value)


def _sharing_key_with_placement(
    optimizer: Any, settings: tuple[Any, ...], variables: list[Any], grads: list[Any]
) -> tuple[Any, ...] | None:
    """The sharing key (keras3r.adapt.sharing_key) and where each array lives.

    jax compiles an executable for its arguments' shardings: one compiled for
    variables replicated over a mesh (keras.distribution's DataParallel)
    refuses the same shapes split over it (ModelParallel), and one compiled
    for a device another device's arrays. Read here, where an update is
    looked up or compiled, rather than in every call's key.
    """
    signature = tuple((g.dtype, g.shape) for g in grads)
    base = sharing_key(optimizer, settings, variables, signature)
    if base is None:
        return None
    arrays = _read(list(optimizer.variables)) + _read(variables) + list(grads)
    return (*base, tuple(array.sharding for array in arrays))


def run(
    optimizer: Any,
    state: Any,
    variables: list[Any],
    grads: list[Any],
    settings: tuple[Any, ...],
    keras_path: Callable[[], Any],
) -> Any:
    """Run one eager update through the cached jit-compiled `stateless_apply`."""
    built_with = compat.built_variables(optimizer)
    if (
        built_with is None
        or len(variables) != len(built_with)
        or any(a is not b for a, b in zip(variables, built_with))
    ):
        return keras_path()
    arrays = _as_arrays(grads)
    if arrays is None:
        return keras_path()
    signature = tuple((a.dtype, a.shape) for a in arrays)
    base_key = None
    waited = state.keras_calls_while_waiting
    if not state.entries and waited < eager_apply.KERAS_CALLS_BEFORE_COMPILING:
        # Nothing compiled for this optimizer yet: whether this call waits on
        # Keras's path is decided before the donation analysis below (which
        # looks at every live array), so that waiting costs what Keras costs.
        base_key = _sharing_key_with_placement(optimizer, settings, variables, arrays)
        compiled = base_key is not None and any(
            shared_get(base_key + pattern) is not None
            for pattern in _DONATION_PATTERNS
        )
        if not compiled and eager_apply.wait_before_compiling(state):
            return keras_path()
    slots = list(optimizer.variables)
    slot_values = _read(slots)
    weights = _read(variables)
    donate_slots, donate_weights = donatable_groups((slot_values, weights))
    key = (tuple(map(id, variables)), signature, settings, donate_slots, donate_weights)
    entry = state.entries.get(key)
    if entry is None:
        # Another optimizer of the same sharing key compiled this update
        # already: its executable takes these values too.
        if base_key is None:
            base_key = _sharing_key_with_placement(optimizer, settings, variables, arrays)
        shared_key = None if base_key is None else base_key + (donate_slots, donate_weights)
        if shared_key is not None:
            entry = shared_get(shared_key)
        if entry is None:
            donate = tuple(i for i, on in ((0, donate_slots), (2, donate_weights)) if on)
            try:
                entry = _compile(optimizer, state, (slot_values, arrays, weights), donate)
            except Exception as error:
                # One frame deeper than TensorFlow's: apply -> run -> here.
                return state.keras_path_instead(key, keras_path, error, stacklevel=5)
            if shared_key is not None:
                shared_put(shared_key, entry)
        state.remember(key, entry)
    elif not isinstance(entry, JaxEntry):
        return keras_path()
    try:
        new_slots, new_weights = entry.compiled(slot_values, arrays, weights)
    except ValueError:
        # Gradients placed otherwise than those the update was compiled for
        # (another sharding or device): jax refuses them before running
        # anything, so no buffer was donated and Keras's path is still right.
        return keras_path()
    del slot_values, weights  # donated: deleted arrays from here on
    _write(variables, new_weights)
    _write(slots, new_slots)
    state.compiled_calls += 1
    return None


def _apply(
    self: Any, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None
) -> Any:
    """`Optimizer.apply` on JAX, run as a jit-compiled update where that is possible."""
    compilable = compilable_call() and not rate_is_plain_function(self)
    call = set_up_call(self, grads, trainable_variables, compilable)
    variables, grads = call.variables, call.grads
    if variables is None or any(g is None for g in grads):
        return call.keras_path()
    if not self.built:
        build_eagerly(self, variables)
    return run(self, call.state, variables, list(grads), trace_settings(self), call.keras_path)


def attach(optimizer: Any) -> Any:
    """Give a JAX optimizer the cached jit-compiled eager `apply`; return it."""
    return attach_compiled_apply(optimizer, _apply)
