"""Every way a user can hold a weight's or a slot's buffer, across a compiled JAX update.

Run by test_donation_jax.py as a script under KERAS_BACKEND=jax:

    KERAS_BACKEND=jax python tests/python/jax_donation_driver.py OUT.json

keras3r's eager `apply()` on JAX donates the old buffers of the weights and
slots to the compiled update, so that XLA writes in place. For each holder
below, the driver takes one weight's and one slot's buffer the way a user
would, runs two more updates, and reports what the holder reads then against
what it read before, whether a JAX array among the holders was deleted, and
whether the update still moved the weight. It only reports: the assertions
are the test's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from driver_reports import write_report

SHAPES = [(64, 8), (8,), (5, 3)]


def grads_for(step: int) -> list[Any]:
    import jax.numpy as jnp

    rng = np.random.default_rng(10 + step)
    return [jnp.asarray(rng.standard_normal(s).astype("float32")) for s in SHAPES]


def fresh() -> tuple[Any, list[Any]]:
    import keras

    import keras3r

    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.standard_normal(s).astype("float32")) for s in SHAPES]
    opt = keras3r.optimizer_adam_w(learning_rate=0.1)
    opt.apply(grads_for(0), variables)  # built, compiled once, buffers now keras3r's outputs
    return opt, variables


def _read(holder: Any) -> np.ndarray:
    """What a holder reads now, as a NumPy copy (raises if its buffer was deleted)."""
    import keras

    if callable(holder) and not hasattr(holder, "shape"):
        holder = holder()
    if isinstance(holder, keras.Variable):
        holder = holder.value
    if isinstance(holder, (list, tuple)):
        holder = holder[0]
    if type(holder).__module__.startswith("torch"):
        return holder.detach().numpy().copy()
    return np.array(holder, copy=True)


def _deleted(holder: Any) -> bool:
    """Whether a JAX array reachable from the holder was deleted."""
    import jax

    if isinstance(holder, (list, tuple)):
        holder = holder[0]
    if callable(holder) and not hasattr(holder, "shape"):
        holder = holder()
    return isinstance(holder, jax.Array) and holder.is_deleted()


def holders() -> dict[str, Callable[[Any], Any]]:
    """Ways to keep a buffer: each takes a Keras variable, returns what the user keeps."""
    import jax
    import keras

    def closure(v: Any) -> Any:
        captured = v.value
        return lambda: captured

    def another_variable(v: Any) -> Any:
        other = keras.Variable(np.zeros(v.shape, "float32"))
        other.assign(v.value)
        return other

    def dlpack_torch(v: Any) -> Any:
        import torch

        return torch.from_dlpack(v.value)

    return {
        "value": lambda v: v.value,
        "numpy_view": lambda v: np.asarray(v.value),
        "numpy_of_variable": lambda v: np.asarray(v),
        "convert_to_numpy": lambda v: keras.ops.convert_to_numpy(v),
        "convert_to_tensor": lambda v: keras.ops.convert_to_tensor(v),
        "list": lambda v: [v.value],
        "closure": closure,
        "another_variable": another_variable,
        "dlpack_numpy": lambda v: np.from_dlpack(v.value),
        "dlpack_torch": dlpack_torch,
        "device_put_alias": lambda v: jax.device_put(v.value, jax.devices()[0]),
        "shard_alias": lambda v: v.value.addressable_shards[0].data,
        "single_device_arrays_alias": lambda v: jax.make_array_from_single_device_arrays(
            v.shape, v.value.sharding, [v.value]
        ),
    }


def held(make: Callable[[Any], Any]) -> dict[str, Any]:
    """Hold one weight's and one slot's buffer with `make`, then run two updates."""
    from keras3r.compiled_apply import stats

    opt, variables = fresh()
    weight, slot = variables[0], opt.variables[1]  # opt.variables[0] is the iteration counter
    kept = [make(weight), make(slot)]
    before = [_read(k) for k in kept]
    weight_before = np.array(weight.value, copy=True)
    for t in (1, 2):
        opt.apply(grads_for(t), variables)
    unchanged, errors = [], []
    for k, old in zip(kept, before):
        try:
            unchanged.append(bool(np.array_equal(_read(k), old)))
        except Exception as error:  # a deleted buffer: what must never happen
            unchanged.append(False)
            errors.append(f"{type(error).__name__}: {error}")
    return {
        "deleted": [_deleted(k) for k in kept],
        "unchanged": unchanged,
        "errors": errors,
        "weight_moved": not np.array_equal(np.asarray(weight.value), weight_before),
        "stats": stats(opt),
    }


def nothing_held() -> dict[str, Any]:
    """Nobody keeps anything: the update must still be in place (donated)."""
    opt, variables = fresh()
    return one_update_in_place(opt, variables)


def read_not_held() -> dict[str, Any]:
    """Buffers that were read (which gives them a per-device view) but not kept: donated."""
    import jax

    opt, variables = fresh()
    jax.block_until_ready(variables[0].value)
    float(np.sum(np.asarray(opt.variables[1].value)))  # a NumPy read, its result dropped
    return one_update_in_place(opt, variables)


def one_update_in_place(opt: Any, variables: list[Any]) -> dict[str, Any]:
    """One update: whether the first weight's and the first slot's buffers stayed in place."""
    from keras3r.compiled_apply import stats

    weight, slot = variables[0], opt.variables[1]
    # Addresses only (plain ints): no reference to the arrays themselves.
    before = (weight.value.unsafe_buffer_pointer(), slot.value.unsafe_buffer_pointer())
    opt.apply(grads_for(1), variables)
    after = (weight.value.unsafe_buffer_pointer(), slot.value.unsafe_buffer_pointer())
    return {"in_place": [a == b for a, b in zip(before, after)], "stats": stats(opt)}


def released() -> dict[str, Any]:
    """A holder dropped: the next update is in place again."""
    import jax

    from keras3r.compiled_apply import stats

    opt, variables = fresh()
    weight = variables[0]
    alias = jax.device_put(weight.value, jax.devices()[0])
    opt.apply(grads_for(1), variables)  # held: not donated
    del alias
    before = weight.value.unsafe_buffer_pointer()
    opt.apply(grads_for(2), variables)
    return {"in_place": weight.value.unsafe_buffer_pointer() == before, "stats": stats(opt)}


def model_weights() -> dict[str, Any]:
    """A model's weights, taken by get_weights() and as arrays, around compiled updates."""
    import keras

    import keras3r
    from keras3r.compiled_apply import stats

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    opt = keras3r.optimizer_adam_w(learning_rate=0.1)
    variables = model.trainable_variables
    rng = np.random.default_rng(1)

    def grads() -> list[Any]:
        return [rng.standard_normal(v.shape).astype("float32") for v in variables]

    opt.apply(grads(), variables)
    numpy_weights = model.get_weights()
    arrays = [w.value for w in model.weights]
    before = [np.array(a, copy=True) for a in arrays]
    for _ in range(2):
        opt.apply(grads(), variables)
    return {
        "get_weights_unchanged": all(
            np.array_equal(a, b) for a, b in zip(numpy_weights, before)
        ),
        "arrays_deleted": [a.is_deleted() for a in arrays],
        "arrays_unchanged": all(
            np.array_equal(np.asarray(a), b) for a, b in zip(arrays, before)
        ),
        "moved": not all(
            np.array_equal(np.asarray(w.value), b) for w, b in zip(model.weights, before)
        ),
        "stats": stats(opt),
    }


def plain_on_jax() -> dict[str, Any]:
    """keras3r.plain() on JAX: Keras's own eager path, exactly stock Keras's result."""
    import keras

    import keras3r
    from keras3r.compiled_apply import stats
    from keras3r.stock import keras3r_additions

    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype("float32") for s in SHAPES]
    ours = keras3r.optimizer_adam_w(learning_rate=0.1, clipnorm=0.5)
    added = keras3r_additions(ours)
    keras3r.plain(ours)
    stock = type(ours).from_config(ours.get_config())
    ours_vars = [keras.Variable(x) for x in start]
    stock_vars = [keras.Variable(x) for x in start]
    for t in range(3):
        ours.apply(grads_for(t), ours_vars)
        stock.apply(grads_for(t), stock_vars)
    same = all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(
            list(ours_vars) + list(ours.variables), list(stock_vars) + list(stock.variables)
        )
    )
    return {"added": added, "left": keras3r_additions(ours), "same": same, "stats": stats(ours)}


def zero_copy() -> dict[str, bool]:
    """Whether the NumPy and DLPack holders really share the device buffer (on a CPU)."""
    import jax
    import jax.numpy as jnp

    x = jnp.arange(16.0) + 1
    address = x.unsafe_buffer_pointer()
    return {
        "numpy_view": np.asarray(x).ctypes.data == address,
        "dlpack_numpy": np.from_dlpack(x).ctypes.data == address,
        "device_put_alias": jax.device_put(x, jax.devices()[0]).unsafe_buffer_pointer()
        == address,
    }


def scenarios() -> dict[str, Any]:
    import jax
    import keras

    out: dict[str, Any] = {"backend": keras.backend.backend(), "platform": jax.default_backend()}
    out["holders"] = {name: held(make) for name, make in holders().items()}
    out["nothing_held"] = nothing_held()
    out["read_not_held"] = read_not_held()
    out["released"] = released()
    out["model_weights"] = model_weights()
    out["zero_copy"] = zero_copy()
    out["plain"] = plain_on_jax()
    return out


if __name__ == "__main__":
    write_report(scenarios)
