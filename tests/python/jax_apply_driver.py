"""Drives keras3r's jit-compiled eager apply() on the JAX backend.

Run by test_compiled_apply_jax.py as a script under KERAS_BACKEND=jax (Keras
fixes its backend once per process):

    KERAS_BACKEND=jax python tests/python/jax_apply_driver.py OUT.json

Each scenario drives a keras3r optimizer and a stock Keras optimizer built
from the same config the same way and reports both final states, keras3r's
path counters and whatever else the test checks. It only reports: the
assertions are the test's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from backend_driver import CONFIGS
from driver_reports import write_report

SHAPES = [(30, 20), (20,), (), (7, 3, 5)]
STEPS = 8


def grads_for(step: int, shapes: list[tuple[int, ...]] = SHAPES) -> list[np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s).astype("float32") for s in shapes]


def fresh_variables(shapes: list[tuple[int, ...]] = SHAPES) -> list[Any]:
    import keras

    rng = np.random.default_rng(0)
    return [keras.Variable(rng.standard_normal(s).astype("float32")) for s in shapes]


def state(opt: Any, variables: list[Any]) -> list[list[float]]:
    """Weights then optimizer variables, flattened, as plain lists."""
    return [np.ravel(np.asarray(v)).tolist() for v in list(variables) + list(opt.variables)]


def stock_like(opt: Any) -> Any:
    return type(opt).from_config(opt.get_config())


def both(
    make: Callable[[], Any],
    drive: Callable[[Any, list[Any]], None],
    drive_stock: Callable[[Any, list[Any]], None] | None = None,
    make_stock: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """`drive` a keras3r optimizer and its stock twin (`drive_stock` if given) on twin variables."""
    from keras3r.compiled_apply import stats

    ours = make()
    stock = make_stock() if make_stock else stock_like(ours)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    drive(ours, ours_vars)
    (drive_stock or drive)(stock, stock_vars)
    return {
        "ours": state(ours, ours_vars),
        "stock": state(stock, stock_vars),
        "stats": stats(ours),
        "class": type(ours).__name__,
    }


def eager_steps(opt: Any, variables: list[Any], steps: int = STEPS) -> None:
    import jax.numpy as jnp

    for t in range(steps):
        opt.apply([jnp.asarray(g) for g in grads_for(t)], variables)


def jitted_steps(opt: Any, variables: list[Any], steps: int = STEPS) -> None:
    """The update as Keras's JAX trainer runs it: stateless_apply in the user's jax.jit."""
    import jax
    import jax.numpy as jnp

    opt.build(variables)
    step = jax.jit(opt.stateless_apply)
    slots = [v.value for v in opt.variables]
    weights = [v.value for v in variables]
    for t in range(steps):
        weights, slots = step(slots, [jnp.asarray(g) for g in grads_for(t)], weights)
    for v, x in zip(variables, weights):
        v.assign(x)
    for v, x in zip(opt.variables, slots):
        v.assign(x)


def scenarios() -> dict[str, Any]:
    import jax.numpy as jnp
    import keras

    import keras3r
    from keras3r.compiled_apply import compiled_hlo, stats
    from keras3r.spec import SPECS

    out: dict[str, Any] = {"backend": keras.backend.backend()}

    # Configurations of the reference test (every feature at once among them).
    configs = {name: CONFIGS[name] for name in ("defaults", "everything", "global_clipnorm")}
    for name, kwargs in configs.items():
        out[f"eager/{name}"] = both(
            lambda kwargs=kwargs: keras3r.optimizer_adam_w(**kwargs), eager_steps
        )

    # Gradients as NumPy arrays (as R hands them over) and through apply_gradients.
    def numpy_gradients(opt: Any, variables: list[Any]) -> None:
        for t in range(STEPS):
            opt.apply_gradients(zip([g.astype("float64") for g in grads_for(t)], variables))

    out["numpy_apply_gradients"] = both(keras3r.optimizer_adam_w, numpy_gradients)

    # A learning-rate schedule: traced into the update, read from the iteration counter.
    def scheduled() -> Any:
        schedule = keras3r.learning_rate_schedule_exponential_decay(0.05, 2, 0.5)
        return keras3r.optimizer_adam_w(learning_rate=schedule)

    out["schedule"] = both(scheduled, eager_steps)

    # Every optimizer of the family, a few steps each.
    # (The ones that need an argument wrap other optimizers: loss scale below;
    # the multi optimizer does no update of its own.)
    makers: dict[str, Callable[[], Any]] = {
        fn: getattr(keras3r, fn)
        for fn in keras3r.__all__
        if fn.startswith("optimizer_") and not any(a.required for a in SPECS[fn].args)
    }
    makers["optimizer_loss_scale"] = lambda: keras3r.optimizer_loss_scale(
        keras3r.optimizer_adam_w()
    )
    for fn, make in makers.items():
        # Stock Keras 3.15 cannot run LossScaleOptimizer.apply eagerly on JAX
        # (UnexpectedTracerError in its ops.cond): its twin runs jitted.
        out[f"family/{fn}"] = both(
            make,
            lambda o, v: eager_steps(o, v, steps=3),
            (lambda o, v: jitted_steps(o, v, steps=3)) if fn == "optimizer_loss_scale" else None,
        )

    # Inside the user's own jax.jit (stateless_apply): Keras's path.
    out["user_jit"] = both(keras3r.optimizer_adam_w, jitted_steps)

    # A learning-rate function: Keras's path, called on every step.
    calls = {"n": 0}

    def rate() -> float:
        calls["n"] += 1
        return 0.01 * (1 + calls["n"] % 3)

    rate_calls: list[int] = []  # keras3r's run, then stock's

    def with_rate_function(opt: Any, variables: list[Any]) -> None:
        calls["n"] = 0
        eager_steps(opt, variables)
        rate_calls.append(calls["n"])

    result = both(
        lambda: keras3r.optimizer_adam_w(learning_rate=rate),
        with_rate_function,
        make_stock=lambda: keras.optimizers.AdamW(learning_rate=rate, weight_decay=0.004),
    )
    result["rate_calls"] = rate_calls
    out["rate_function"] = result

    # Settings changed between steps: a new trace, the new value used.
    def change_settings(opt: Any, variables: list[Any]) -> None:
        eager_steps(opt, variables, steps=3)
        opt.weight_decay = 0.3
        opt.beta_1 = 0.5
        eager_steps(opt, variables, steps=3)

    out["changed_settings"] = both(keras3r.optimizer_adam_w, change_settings)

    # A subset of the variables it was built with: Keras's path.
    def subset(opt: Any, variables: list[Any]) -> None:
        opt.build(variables)
        for t in range(STEPS):
            grads = grads_for(t)
            opt.apply([jnp.asarray(grads[1]), jnp.asarray(grads[3])], [variables[1], variables[3]])

    out["subset"] = both(keras3r.optimizer_adam_w, subset)

    # A missing gradient: Keras's path (Keras skips that variable).
    def missing(opt: Any, variables: list[Any]) -> None:
        for t in range(3):
            grads: list[Any] = [jnp.asarray(g) for g in grads_for(t)]
            grads[2] = None
            opt.apply(grads, variables)

    out["missing_gradient"] = both(keras3r.optimizer_adam_w, missing)

    # Buffers held elsewhere are not donated: they stay readable and unchanged.
    opt = keras3r.optimizer_adam_w(learning_rate=0.1)
    variables = fresh_variables()
    eager_steps(opt, variables, steps=1)
    held_weight = variables[0].value
    held_slot = opt.variables[1].value
    before = (np.asarray(held_weight).copy(), np.asarray(held_slot).copy())
    eager_steps(opt, variables, steps=2)
    out["held"] = {
        "deleted": [held_weight.is_deleted(), held_slot.is_deleted()],
        "unchanged": [
            bool(np.array_equal(np.asarray(held_weight), before[0])),
            bool(np.array_equal(np.asarray(held_slot), before[1])),
        ],
        "weight_moved": not np.array_equal(np.asarray(variables[0].value), before[0]),
        "stats": stats(opt),
    }

    # Two variables sharing one buffer (b.assign(a)): both updated, none lost.
    def shared(opt: Any, variables: list[Any]) -> None:
        variables[1].assign(variables[0])  # same value object in both variables
        pair = [variables[0], variables[1]]
        for t in range(STEPS):
            g = jnp.asarray(grads_for(t, [(20,)])[0])
            opt.apply([g, g * 2], pair)

    a, b = keras.Variable(np.ones(20, "float32")), keras.Variable(np.zeros(20, "float32"))
    ours = keras3r.optimizer_adam_w(learning_rate=0.05)
    shared(ours, [a, b])
    c, d = keras.Variable(np.ones(20, "float32")), keras.Variable(np.zeros(20, "float32"))
    stock = stock_like(ours)
    shared(stock, [c, d])
    out["shared_buffer"] = {
        "ours": state(ours, [a, b]),
        "stock": state(stock, [c, d]),
        "stats": stats(ours),
    }

    # fit(): Keras's JAX trainer (stateless, jitted) keeps its own path.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = (x @ rng.standard_normal((5, 1))).astype("float32")

    def fitted(opt: Any) -> tuple[list[list[float]], Any]:
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
        return [np.ravel(w).tolist() for w in model.get_weights()], model

    ours = keras3r.optimizer_adam_w(learning_rate=0.05)
    ours_weights, model = fitted(ours)
    stock_weights, _ = fitted(stock_like(ours))
    out["fit"] = {"ours": ours_weights, "stock": stock_weights, "stats": stats(ours)}

    # Saved and loaded: a plain AdamW, the same config.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/model.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
    out["saved"] = {
        "class": type(loaded.optimizer).__name__,
        "same_config": loaded.optimizer.get_config() == model.optimizer.get_config(),
        "patched_after_load": "apply" in vars(loaded.optimizer),
    }

    # The compiled update's HLO is available to the benchmark.
    opt = keras3r.optimizer_adam_w()
    eager_steps(opt, fresh_variables(), steps=1)
    out["hlo"] = [text[:200] for text in compiled_hlo(opt)]
    return out


if __name__ == "__main__":
    write_report(scenarios)
