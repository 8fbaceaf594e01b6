"""Eager apply() of a keras3r optimizer on JAX runs one cached jit-compiled update.

Each test drives a keras3r optimizer and its stock twin (built by Keras from
the same config) the same way and compares the states. Checked: the eager
path compiles its update once and compiles nothing on later steps; every
optimizer of the family agrees with stock Keras; Keras keeps its own path
inside a JAX trace (the user's jax.jit, fit()), with a learning-rate
function, a subset of the variables or a missing gradient; settings changed
after a step take effect; buffers still referenced elsewhere are not
donated; a saved model holds a plain AdamW. No timings: bench/ measures those.

Compilations are counted with JAX's own event listener (the `xla_compiles`
fixture of conftest.py); which path ran (compiled or Keras's) is read from
keras3r.adapt.eager_apply.stats(), the only record of that choice.
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
from backend_driver import CONFIGS
from harness import (
    assert_same_state,
    drive,
    fresh_variables,
    gradient_steps,
    state,
    stock_twin,
    variables,
)
from keras3r.adapt.eager_apply import compiled_hlo, stats
from keras3r.spec import SPECS

STEPS = 8


def jitted(opt: Any, targets: list[Any], steps: list[list[np.ndarray]]) -> None:
    """The update as Keras's JAX trainer runs it: stateless_apply in the user's jax.jit."""
    opt.build(targets)
    step = jax.jit(opt.stateless_apply)
    slots = [v.value for v in opt.variables]
    weights = [v.value for v in targets]
    for grads in steps:
        weights, slots = step(slots, [jnp.asarray(g) for g in grads], weights)
    for v, x in zip(targets, weights):
        v.assign(x)
    for v, x in zip(opt.variables, slots):
        v.assign(x)


def compiles_per_step(xla_compiles: Any, opt: Any, targets: list[Any], steps: list) -> list[int]:
    """Drive `opt` eagerly, one step at a time: the XLA compilations of each step."""
    return [xla_compiles.during(lambda g=grads: drive(opt, targets, [g])) for grads in steps]


def assert_compiled_once(counts: list[int]) -> None:
    """Compilations of an update on its first steps only, never one per step.

    Two steps may compile: the first can find a buffer still read elsewhere
    (the stock twin's get_config() reads the learning rate through NumPy) and
    compile an update that does not donate it; the next compiles the one that
    does (test_donation.py). Every later step reuses one of them.
    """
    assert counts[2:] == [0] * (len(counts) - 2), counts


# Settings of the float64 reference test: every feature at once among them.
EAGER = {name: CONFIGS[name] for name in ("defaults", "everything", "global_clipnorm")}


def _scheduled() -> Any:
    schedule = keras3r.learning_rate_schedule_exponential_decay(0.05, 2, 0.5)
    return keras3r.optimizer_adam_w(learning_rate=schedule)


@pytest.mark.parametrize("name", [*EAGER, "schedule"])
def test_eager_apply_compiles_once_and_matches_stock(xla_compiles, name):
    # A schedule is traced into the update and read from the iteration counter.
    ours = _scheduled() if name == "schedule" else keras3r.optimizer_adam_w(**EAGER[name])
    stock = stock_twin(ours)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(STEPS)
    counts = compiles_per_step(xla_compiles, ours, ours_vars, steps)
    drive(stock, stock_vars, steps)
    assert_compiled_once(counts)
    assert stats(ours)["compiled_calls"] == STEPS and stats(ours)["keras_calls"] == 0
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars))


def test_numpy_gradients_through_apply_gradients(xla_compiles):
    # What an R loop hands over: float64 arrays, via apply_gradients(zip(...)).
    ours = keras3r.optimizer_adam_w()
    stock = stock_twin(ours)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(STEPS, dtype="float64")
    counts = [
        xla_compiles.during(lambda g=g: ours.apply_gradients(zip(g, ours_vars))) for g in steps
    ]
    for g in steps:
        stock.apply_gradients(zip(g, stock_vars))
    assert_compiled_once(counts)
    assert stats(ours)["compiled_calls"] == STEPS and stats(ours)["keras_calls"] == 0
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars))


# Every optimizer keras3r exports that updates variables itself: those that
# build with their defaults, and the loss-scale wrapper around AdamW (the
# multi optimizer hands its variables to others).
FAMILY: dict[str, Callable[[], Any]] = {
    fn: getattr(keras3r, fn)
    for fn in keras3r.__all__
    if fn.startswith("optimizer_") and not any(a.required for a in SPECS[fn].args)
}
FAMILY["optimizer_loss_scale"] = lambda: keras3r.optimizer_loss_scale(keras3r.optimizer_adam_w())


def test_the_family_list_covers_every_exported_optimizer():
    exported = {
        fn for fn in keras3r.__all__
        if fn.startswith("optimizer_") and fn not in ("optimizer_multi", "optimizer_map")
    }
    assert set(FAMILY) == exported
    assert {"optimizer_muon", "optimizer_lamb"} <= set(FAMILY)


@pytest.mark.parametrize("fn", sorted(FAMILY))
def test_every_optimizer_of_the_family_compiles_and_matches_stock(fn):
    ours = FAMILY[fn]()
    stock = stock_twin(ours)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(3)
    drive(ours, ours_vars, steps)
    if fn == "optimizer_loss_scale":
        # Stock Keras 3.15 cannot run LossScaleOptimizer.apply eagerly on JAX
        # (UnexpectedTracerError in its ops.cond): its twin runs jitted.
        jitted(stock, stock_vars, steps)
    else:
        drive(stock, stock_vars, steps)
    assert stats(ours)["compiled_calls"] == 3 and stats(ours)["keras_calls"] == 0
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars))


def test_inside_the_users_jax_jit_keras_keeps_its_path(xla_compiles):
    ours = keras3r.optimizer_adam_w()
    stock = stock_twin(ours)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(STEPS)
    jitted(ours, ours_vars, steps)
    jitted(stock, stock_vars, steps)
    assert stats(ours)["compiled_calls"] == 0 and stats(ours)["traces"] == 0
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars), exact=True)


def _regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 5)).astype("float32")
    return x, (x @ rng.standard_normal((5, 1))).astype("float32")


def _fitted(opt: Any) -> keras.Model:
    x, y = _regression()
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    return model


def test_fit_keeps_keras_path_and_saves_a_plain_adamw(tmp_path):
    # Keras's JAX trainer runs the update stateless and jitted: Keras's own path.
    ours = keras3r.optimizer_adam_w(learning_rate=0.05)
    stock = stock_twin(ours)
    model, stock_model = _fitted(ours), _fitted(stock)
    assert stats(ours)["compiled_calls"] == 0 and stats(ours)["traces"] == 0
    for a, b in zip(model.get_weights(), stock_model.get_weights()):
        np.testing.assert_array_equal(a, b)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path).optimizer
    assert type(loaded) is keras.optimizers.AdamW
    assert loaded.get_config() == model.optimizer.get_config()
    assert "apply" not in vars(loaded)


def test_learning_rate_function_is_called_every_eager_step():
    # A trace would call it once and freeze its value: Keras's path runs it.
    calls = {"n": 0}

    def rate() -> float:
        calls["n"] += 1
        return 0.01 * (1 + calls["n"] % 3)

    ours = keras3r.optimizer_adam_w(learning_rate=rate)
    stock = keras.optimizers.AdamW(learning_rate=rate, weight_decay=0.004)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(STEPS)
    drive(ours, ours_vars, steps)
    ours_calls, calls["n"] = calls["n"], 0
    drive(stock, stock_vars, steps)
    assert ours_calls == calls["n"] >= STEPS
    assert stats(ours)["compiled_calls"] == 0 and stats(ours)["keras_calls"] == STEPS
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars), exact=True)


def _subset(opt: Any, targets: list[Any]) -> None:
    opt.build(targets)
    for grads in gradient_steps(STEPS):
        opt.apply([jnp.asarray(grads[1]), jnp.asarray(grads[3])], [targets[1], targets[3]])


def _missing(opt: Any, targets: list[Any]) -> None:
    # Keras skips that variable, and says so (stock Keras as well).
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        for grads in gradient_steps(3):
            tensors: list[Any] = [jnp.asarray(g) for g in grads]
            tensors[2] = None
            opt.apply(tensors, targets)


@pytest.mark.parametrize("run", [_subset, _missing], ids=["subset", "missing_gradient"])
def test_calls_stateless_apply_cannot_map_take_keras_path(run):
    ours = keras3r.optimizer_adam_w()
    stock = stock_twin(ours)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    run(ours, ours_vars)
    run(stock, stock_vars)
    assert stats(ours)["compiled_calls"] == 0 and stats(ours)["keras_calls"] > 0
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars), exact=True)


def test_changed_settings_compile_a_new_update(xla_compiles):
    ours = keras3r.optimizer_adam_w()
    stock = stock_twin(ours)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    first, second = gradient_steps(6)[:3], gradient_steps(6)[3:]
    counts = compiles_per_step(xla_compiles, ours, ours_vars, first)
    drive(stock, stock_vars, first)
    for opt in (ours, stock):
        opt.weight_decay = 0.3  # Python floats: baked into the trace
        opt.beta_1 = 0.5
    changed = compiles_per_step(xla_compiles, ours, ours_vars, second)
    drive(stock, stock_vars, second)
    assert_compiled_once(counts)
    assert changed[0] > 0, "the changed settings must compile a new update"
    assert changed[2:] == [0]
    assert stats(ours)["compiled_calls"] == 6
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars))


def test_buffers_referenced_elsewhere_are_not_donated():
    opt = keras3r.optimizer_adam_w(learning_rate=0.1)
    targets = fresh_variables()
    steps = gradient_steps(3)
    drive(opt, targets, steps[:1])
    held_weight, held_slot = targets[0].value, opt.variables[1].value
    before = [np.array(held_weight), np.array(held_slot)]
    drive(opt, targets, steps[1:])
    assert [held_weight.is_deleted(), held_slot.is_deleted()] == [False, False]
    np.testing.assert_array_equal(np.asarray(held_weight), before[0])
    np.testing.assert_array_equal(np.asarray(held_slot), before[1])
    assert not np.array_equal(np.asarray(targets[0].value), before[0])
    assert stats(opt)["keras_calls"] == 0


def test_variables_sharing_one_buffer_both_update():
    def shared(opt: Any) -> list[np.ndarray]:
        a, b = variables([np.ones(20, "float32"), np.zeros(20, "float32")])
        b.assign(a)  # the same value object in both variables
        for (g,) in gradient_steps(STEPS, [(20,)]):
            opt.apply([jnp.asarray(g), jnp.asarray(g) * 2], [a, b])
        return state(opt, [a, b])

    ours = keras3r.optimizer_adam_w(learning_rate=0.05)
    stock = stock_twin(ours)
    ours_state, stock_state = shared(ours), shared(stock)
    assert stats(ours)["keras_calls"] == 0 and stats(ours)["compiled_calls"] == STEPS
    assert_same_state(ours_state, stock_state)


def test_compiled_update_hlo_is_readable():
    opt = keras3r.optimizer_adam_w()
    drive(opt, fresh_variables(), gradient_steps(1))
    texts = compiled_hlo(opt)
    assert texts and all(text.startswith("HloModule") for text in texts)


def test_only_the_compiled_apply_is_added_to_the_instance():
    # The cross-replica clipping fix is TensorFlow's: on JAX an instance carries
    # keras3r.adapt.jax's eager apply (and its state) alone.
    import types

    opt = keras3r.optimizer_adam_w(clipnorm=0.05)
    assert type(opt) is keras.optimizers.AdamW
    added = sorted(
        k for k, v in vars(opt).items() if isinstance(v, types.MethodType) or "keras3r" in k
    )
    assert added == ["__deepcopy__", "_keras3r", "apply"]


def test_the_compile_counter_sees_a_new_program(xla_compiles):
    # What the counts above rest on: a program JAX has not compiled yet counts.
    program = jax.jit(lambda x: x * 3.0 + 1.0)
    x = jnp.ones(7)
    assert xla_compiles.during(lambda: program(x)) == 1
    assert xla_compiles.during(lambda: program(x)) == 0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["adam", "sgd", "adagrad"])
def test_half_precision_variables_update_as_stock_keras(name: str, dtype: str) -> None:
    from half_precision import check_half_precision_matches_stock

    check_half_precision_matches_stock(name, dtype)
