"""No buffer the user holds is donated (deleted) by keras3r's compiled update on JAX.

keras3r's eager `apply()` on JAX donates the old buffers of the weights and
slots to the compiled update, so that XLA writes the new values in place.
Each holder test keeps one weight's and one slot's buffer the way a user
can, runs two more updates, and requires that the holder still reads its old
values, that no JAX array it holds was deleted, and that the update still
ran on the compiled path. Where nothing is held the update must stay in
place: donation is kept where it is safe.

The unit tests at the end drive the donation rule itself on plain JAX
arrays, including the fallback for a JAX that no longer lists live arrays
newest first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import keras3r
from harness import (
    NOTHING_COMPILED,
    arrays,
    fresh_variables,
    gradient_steps,
    state,
    stock_twin,
    variables,
)
from keras3r.adapt import jax_donation, keras3r_additions
from keras3r.adapt.eager_apply import stats

SHAPES = [(64, 8), (8,), (5, 3)]
GRADS = gradient_steps(3, SHAPES)
ON_CPU = jax.default_backend() == "cpu"


def _started() -> tuple[Any, list[Any]]:
    """An optimizer after one compiled step: its buffers are now the update's outputs."""
    targets = fresh_variables(SHAPES)
    opt = keras3r.optimizer_adam_w(learning_rate=0.1)
    opt.apply(GRADS[0], targets)
    return opt, targets


def _read(holder: Any) -> np.ndarray:
    """What a holder reads now, as a NumPy copy (raises if its buffer was deleted)."""
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
    if isinstance(holder, (list, tuple)):
        holder = holder[0]
    if callable(holder) and not hasattr(holder, "shape"):
        holder = holder()
    return isinstance(holder, jax.Array) and holder.is_deleted()


def _closure(v: Any) -> Any:
    captured = v.value
    return lambda: captured


def _another_variable(v: Any) -> Any:
    other = keras.Variable(np.zeros(v.shape, "float32"))
    other.assign(v.value)
    return other


def _dlpack_torch(v: Any) -> Any:
    torch = pytest.importorskip("torch")
    return torch.from_dlpack(v.value)


# Ways to keep a buffer: each takes a Keras variable, returns what the user keeps.
HOLDERS: dict[str, Callable[[Any], Any]] = {
    "value": lambda v: v.value,
    "numpy_view": lambda v: np.asarray(v.value),
    "numpy_of_variable": lambda v: np.asarray(v),
    "convert_to_numpy": lambda v: keras.ops.convert_to_numpy(v),
    "convert_to_tensor": lambda v: keras.ops.convert_to_tensor(v),
    "list": lambda v: [v.value],
    "closure": _closure,
    "another_variable": _another_variable,
    "dlpack_numpy": lambda v: np.from_dlpack(v.value),
    "dlpack_torch": _dlpack_torch,
    "device_put_alias": lambda v: jax.device_put(v.value, jax.devices()[0]),
    "shard_alias": lambda v: v.value.addressable_shards[0].data,
    "single_device_arrays_alias": lambda v: jax.make_array_from_single_device_arrays(
        v.shape, v.value.sharding, [v.value]
    ),
}


@pytest.mark.parametrize("holder", sorted(HOLDERS))
def test_a_held_buffer_keeps_its_values_and_is_not_deleted(holder: str) -> None:
    opt, targets = _started()
    weight, slot = targets[0], opt.variables[1]  # opt.variables[0] is the iteration counter
    kept = [HOLDERS[holder](weight), HOLDERS[holder](slot)]
    before = [_read(k) for k in kept]
    weight_before = np.array(weight.value, copy=True)
    for grads in GRADS[1:]:
        opt.apply(grads, targets)
    assert [_deleted(k) for k in kept] == [False, False]  # the weight's holder, the slot's
    for k, old in zip(kept, before):
        np.testing.assert_array_equal(_read(k), old)
    assert not np.array_equal(np.asarray(weight.value), weight_before)
    assert stats(opt)["keras_calls"] == 0 and stats(opt)["compiled_calls"] == 3


def test_the_numpy_and_dlpack_holders_really_share_the_device_buffer() -> None:
    # Else the holders above would prove nothing on this machine's backend.
    x = jnp.arange(16.0) + 1
    address = x.unsafe_buffer_pointer()
    assert jax.device_put(x, jax.devices()[0]).unsafe_buffer_pointer() == address
    if ON_CPU:  # on a GPU np.asarray copies to the host; aliases still share
        assert np.asarray(x).ctypes.data == address
        assert np.from_dlpack(x).ctypes.data == address


def test_a_model_s_weights_survive_compiled_updates() -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    opt = keras3r.optimizer_adam_w(learning_rate=0.1)
    targets = model.trainable_variables
    steps = gradient_steps(3, [tuple(v.shape) for v in targets])
    opt.apply(steps[0], targets)
    numpy_weights = model.get_weights()
    held = [w.value for w in model.weights]
    before = [np.array(a, copy=True) for a in held]
    for grads in steps[1:]:
        opt.apply(grads, targets)
    for a, b in zip(numpy_weights, before):
        np.testing.assert_array_equal(a, b)
    assert [a.is_deleted() for a in held] == [False] * 4
    for a, b in zip(held, before):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert not all(np.array_equal(np.asarray(w.value), b) for w, b in zip(model.weights, before))
    assert stats(opt)["keras_calls"] == 0


def _pointers(opt: Any, targets: list[Any]) -> tuple[int, int]:
    """Addresses (plain ints, no reference to the arrays) of the first weight and slot."""
    return targets[0].value.unsafe_buffer_pointer(), opt.variables[1].value.unsafe_buffer_pointer()


def _read_but_not_held(opt: Any, targets: list[Any]) -> None:
    # Reads give a buffer a per-device view; the results are dropped.
    jax.block_until_ready(targets[0].value)
    float(np.sum(np.asarray(opt.variables[1].value)))


@pytest.mark.skipif(not ON_CPU, reason="in-place addresses are checked on the CPU backend")
@pytest.mark.parametrize("before", [None, _read_but_not_held], ids=["nothing_held", "read"])
def test_buffers_nobody_holds_are_still_updated_in_place(xla_compiles, before) -> None:
    opt, targets = _started()
    if before is not None:
        before(opt, targets)
    start = _pointers(opt, targets)
    # The update of the first step, which donated, is reused as it is.
    assert xla_compiles.during(lambda: opt.apply(GRADS[1], targets)) == 0
    assert _pointers(opt, targets) == start
    assert stats(opt)["compiled_calls"] == 2


@pytest.mark.skipif(not ON_CPU, reason="in-place addresses are checked on the CPU backend")
def test_donation_resumes_once_a_holder_is_dropped(xla_compiles) -> None:
    opt, targets = _started()
    alias = jax.device_put(targets[0].value, jax.devices()[0])
    opt.apply(GRADS[1], targets)  # held: an update that does not donate it
    del alias
    start = targets[0].value.unsafe_buffer_pointer()
    # Back to the donating update of the first step: nothing new to compile.
    assert xla_compiles.during(lambda: opt.apply(GRADS[2], targets)) == 0
    assert targets[0].value.unsafe_buffer_pointer() == start
    assert stats(opt)["compiled_calls"] == 3


def test_plain_on_jax_is_stock_keras() -> None:
    start = arrays(SHAPES)
    ours = keras3r.optimizer_adam_w(learning_rate=0.1, clipnorm=0.5)
    assert "apply" in keras3r_additions(ours)
    keras3r.plain(ours)
    assert keras3r_additions(ours) == []
    stock = stock_twin(ours)
    ours_vars, stock_vars = variables(start), variables(start)
    for grads in GRADS:
        ours.apply(grads, ours_vars)
        stock.apply(grads, stock_vars)
    # Bit for bit: both run Keras's own eager path.
    for a, b in zip(state(ours, ours_vars), state(stock, stock_vars)):
        np.testing.assert_array_equal(a, b)
    assert stats(ours) == NOTHING_COMPILED


# --- The rule itself, on plain JAX arrays ------------------------------------------------


class Holder:
    """Stands for a Keras variable: the one object that should reference the array."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _holders(n: int = 3) -> list[Holder]:
    return [Holder(jnp.arange(4.0) + i) for i in range(n)]


def _verdict(holders: list[Holder]) -> bool:
    return jax_donation.donatable_groups([[h.value for h in holders]])[0]


def test_arrays_held_by_their_holder_alone_may_be_donated() -> None:
    assert _verdict(_holders())


@pytest.mark.parametrize(
    "alias",
    [
        lambda x: x,
        lambda x: jax.device_put(x, jax.devices()[0]),
        lambda x: x.addressable_shards[0].data,
        lambda x: jax.make_array_from_single_device_arrays(x.shape, x.sharding, [x]),
    ],
    ids=["same_object", "device_put", "shard_data", "single_device_arrays"],
)
def test_an_array_over_the_same_buffer_stops_donation(alias: Any) -> None:
    holders = _holders()
    kept = alias(holders[1].value)
    assert not _verdict(holders)
    del kept
    assert _verdict(_holders())


def test_a_jax_that_lists_live_arrays_in_another_order_is_scanned_whole(monkeypatch) -> None:
    # The short scan relies on newest-first; reversed, the rule must notice and
    # look at every live array, still finding the alias.
    newest_first = jax.live_arrays
    monkeypatch.setattr(jax, "live_arrays", lambda *a: list(reversed(newest_first(*a))))
    holders = _holders()
    assert _verdict(holders)
    kept = jax.device_put(holders[2].value, jax.devices()[0])
    assert not _verdict(holders)
    del kept


def test_an_array_missing_from_the_live_list_is_not_donated(monkeypatch) -> None:
    holders = _holders()
    hidden = id(holders[0].value)
    listed = jax.live_arrays
    monkeypatch.setattr(jax, "live_arrays", lambda *a: [x for x in listed(*a) if id(x) != hidden])
    assert not _verdict(holders)


def test_an_unexpected_jax_answers_no_donation(monkeypatch) -> None:
    from keras3r import compat

    def gone(array: Any) -> Any:
        raise AttributeError("_arrays")

    monkeypatch.setattr(compat, "jax_device_arrays", gone)
    assert not _verdict(_holders())
