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
trainer does (without donation, XLA writes a fresh output buffer per array
per step: bench/README.md). Donation
deletes the old buffer, so it is done only where nothing but the variable can
still read it; each way of holding a buffer is ruled out by a test that sees
it exactly (`_donatable_groups`):
  * a Python reference to the array itself (`v.value` kept, in a list, a
    closure, another variable assigned from it): `sys.getrefcount`;
  * another `jax.Array` over the same device buffer (`jax.device_put` to the
    same device, a shard's `.data`, `make_array_from_single_device_arrays`,
    the per-device view that NumPy and DLPack exports keep), which holds no
    reference to the first: the buffer addresses of the live JAX arrays made
    after the oldest array to donate (an alias is always younger than its
    array; JAX lists live arrays newest first, which is checked on every call
    and else every live array is looked at);
  * memory outside JAX (a NumPy view of a CPU buffer, a DLPack consumer such
    as torch) is also an external reference on the buffer, which the runtime
    itself refuses to donate (measured on CPU: the update then writes a new
    buffer and the view keeps its values; on a GPU `np.asarray` copies).
tests/python/with_jax/test_donation.py holds a buffer each of these ways.

The cache key holds the variables (by identity), the gradients' shapes and
dtypes, the optimizer's plain Python settings (baked into a trace, see
`keras3r.adapt.eager_apply.trace_settings`) and which buffers are donated.
The executable itself is a function of the values alone, so optimizers of
one structure (`keras3r.adapt.eager_apply.structure`) share it: a new optimizer
like one seen before compiles nothing, and the cache of shared executables
keeps neither optimizer nor variable (the traced closure is emptied once
compiled). A structure not compiled yet runs its first calls on Keras's path
(`keras3r.eager_apply.KERAS_CALLS_BEFORE_COMPILING`), decided before the
donation analysis so that such a call costs what Keras's costs.
"""

from __future__ import annotations

import operator
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
    opening,
    rate_is_plain_function,
    trace_settings,
)


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
    """True when no Python object but its variable references each array."""
    most = _most_references(values)
    return 0 <= most <= _SOLE_HOLDER_REFERENCES


_ADDRESS = operator.methodcaller("unsafe_buffer_pointer")


def _younger_arrays(candidates: list[Any]) -> list[Any] | None:
    """The live JAX arrays made after the oldest of `candidates`, less the candidates.

    JAX lists live arrays newest first. A probe made just before the list is
    taken (the first candidate's per-device view, new unless something read
    that array before) must come first: if not, the order cannot be told and
    every live array but the candidates is returned. None when a candidate
    is not among the live arrays of the default backend.
    """
    import jax

    probe = compat.jax_device_arrays(candidates[0])[0]
    live = jax.live_arrays()
    ids = set(map(id, candidates))
    if not live or live[0] is not probe or probe is candidates[0]:
        younger = [a for a in live if id(a) not in ids]
        return younger if len(live) - len(younger) == len(ids) else None
    younger = []
    remaining = len(ids)
    for array in live[1:]:  # the probe is new: nobody else can hold it
        if id(array) in ids:
            remaining -= 1
            if not remaining:
                return younger
        else:
            younger.append(array)
    return None


def _buffers(arrays: list[Any]) -> dict[int, list[Any]]:
    """The arrays using each device buffer, keyed by the buffer's address."""
    users: dict[int, list[Any]] = {}
    for array in arrays:
        try:
            views = compat.jax_device_arrays(array)
            for address in map(_ADDRESS, views):
                users.setdefault(address, []).append(array)
        except Exception:  # deleted meanwhile: it holds no buffer any more
            continue
    return users


def _references_of_a_kept_view() -> int:
    """`sys.getrefcount` of an array's per-device view that only the array keeps.

    Measured on a fresh array, once: the count includes JAX's own cache and
    the interpreter's temporaries, which differ between versions.
    """
    if not _KEPT_VIEW_REFERENCES:
        import jax.numpy as jnp

        fresh = jnp.zeros(2) + 1
        view = compat.jax_device_arrays(fresh)[0]
        _KEPT_VIEW_REFERENCES.append(sys.getrefcount(view))
    return _KEPT_VIEW_REFERENCES[0]


_KEPT_VIEW_REFERENCES: list[int] = []


def _used_by_itself_alone(array: Any, users: dict[int, list[Any]]) -> bool:
    """No younger array uses `array`'s buffer, but its own per-device view kept by it alone.

    Such a view exists once something read the array (`np.asarray`,
    `block_until_ready`). Besides the array's cache it is referenced here by
    the list of younger arrays and by `users`: two references of this
    module's own.
    """
    others = users.get(_ADDRESS(array))
    if not others:
        return True
    if len(others) > 1:
        return False
    view = compat.jax_device_arrays(array)[0]
    return others[0] is view and sys.getrefcount(view) <= _references_of_a_kept_view() + 2


def _donatable_groups(groups: Sequence[Sequence[Any]]) -> list[bool]:
    """For each group of arrays, whether all of its buffers may be donated.

    A buffer may be donated when nothing but its variable can read it (see
    the module docstring): no Python reference to its array but the
    variable's, and no other JAX array over the same device buffer. Anything
    unexpected (a JAX without per-device views, an array of several shards,
    one on another backend) answers False: the update is then only not in
    place. Reference counts are read first: the list of live arrays
    references every array.
    """
    verdicts = [_donatable(group) for group in groups]
    if not any(verdicts):
        return verdicts
    try:
        candidates = [a for group, on in zip(groups, verdicts) if on for a in group]
        younger = _younger_arrays(candidates)
        if younger is None:
            return [False] * len(groups)
        if not younger:
            return verdicts
        users = _buffers(younger)
        return [
            on and all(_used_by_itself_alone(a, users) for a in group)
            for group, on in zip(groups, verdicts)
        ]
    except Exception:
        return [False] * len(groups)


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
    # of this structure and must not keep this one alive.
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
        # array to keep the update in place (counted from the HLO on CPU: 84
        # bytes per parameter instead of 40).
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
# through an ABC check that costs about 0.4 us a gradient.
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
    skips two global lookups per variable, which with 100 variables and their
    200 slots was a fifth of a 2 ms step.
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


def _shared_structure(
    optimizer: Any, settings: tuple[Any, ...], variables: list[Any], grads: list[Any]
) -> tuple[Any, ...] | None:
    """The structure (keras3r.adapt.eager_apply.structure) and where each array lives.

    jax compiles an executable for its arguments' shardings: one compiled for
    variables replicated over a mesh (keras.distribution's DataParallel)
    refuses the same shapes split over it (ModelParallel), and one compiled
    for a device another device's arrays. Read here, where an update is
    looked up or compiled, rather than in every call's key.
    """
    signature = tuple((g.dtype, g.shape) for g in grads)
    base = eager_apply.structure(optimizer, settings, variables, signature)
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
    if not state.entries and state.deferred < eager_apply.KERAS_CALLS_BEFORE_COMPILING:
        # Nothing compiled for this optimizer yet: whether this call waits on
        # Keras's path is decided before the donation analysis below (which
        # looks at every live array), so that waiting costs what Keras costs.
        base_key = _shared_structure(optimizer, settings, variables, arrays)
        compiled = base_key is not None and any(
            eager_apply.shared_get(base_key + pattern) is not None
            for pattern in _DONATION_PATTERNS
        )
        if not compiled and eager_apply.wait_before_compiling(state):
            return keras_path()
    slots = list(optimizer.variables)
    slot_values = _read(slots)
    weights = _read(variables)
    donate_slots, donate_weights = _donatable_groups((slot_values, weights))
    key = (tuple(map(id, variables)), signature, settings, donate_slots, donate_weights)
    entry = state.entries.get(key)
    if entry is None:
        # Another optimizer of the same structure (keras3r.adapt.eager_apply.structure)
        # compiled this update already: its executable takes these values too.
        if base_key is None:
            base_key = _shared_structure(optimizer, settings, variables, arrays)
        shared_key = None if base_key is None else base_key + (donate_slots, donate_weights)
        if shared_key is not None:
            entry = eager_apply.shared_get(shared_key)
        if entry is None:
            donate = tuple(i for i, on in ((0, donate_slots), (2, donate_weights)) if on)
            try:
                entry = _compile(optimizer, state, (slot_values, arrays, weights), donate)
            except Exception as error:
                # One frame deeper than TensorFlow's: apply -> run -> here.
                return state.keras_path_instead(key, keras_path, error, stacklevel=5)
            if shared_key is not None:
                eager_apply.shared_put(shared_key, entry)
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
    state, keras_path, grads, variables = opening(self, grads, trainable_variables, compilable)
    if variables is None or any(g is None for g in grads):
        return keras_path()
    if not self.built:
        build_eagerly(self, variables)
    return run(self, state, variables, grads, trace_settings(self), keras_path)


def attach(optimizer: Any) -> Any:
    """Give a JAX optimizer the cached jit-compiled eager `apply`; return it."""
    return attach_compiled_apply(optimizer, _apply)
