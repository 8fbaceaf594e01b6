"""Schedule-free AdamW's averaged weights x: computed right, swapped in and out, used by fit().

keras3r.schedule_free gives users the point x where schedule-free AdamW should
be evaluated (Keras keeps only y in the model and z in the optimizer). Checked
here on TensorFlow (in this process): x equals the float64 reference's x
(reference_schedule_free.py) on the problem of backend_driver (every backend
and mode compares it too, in test_reference_updates); swapping is exact both
ways and idempotent; the callback evaluates at x during fit() without
changing the training itself, leaves x in the model after fit() and puts y
back when fit() resumes; saving with x in saves x; x scores a better
validation loss than y on a small noisy regression (both losses are written
to schedule_free_losses.json in the `figures` directory of conftest.py); a
multi optimizer swaps its schedule-free part only; bad calls are refused
naming the argument. Keras fixes its backend once per process: this module
runs in the main pytest process (TensorFlow) and again in the JAX and torch
ones (the Makefile's test-python names it beside with_jax and with_torch),
where fit() keeps the weights and the optimizer's state outside the
variables between synchronisations (JAX) and the variables are parameters
(torch): the swaps and the callback must act at the right moments there too.
"""

from __future__ import annotations

import json
from typing import Any

import keras
import numpy as np
import pytest

import backend_driver as driver
import keras3r
from reference_common import run_reference
from reference_schedule_free import ReferenceScheduleFree, ScheduleFreeConfig

RTOL = 5e-5  # as in test_reference_updates: float32 against float64 over 50 steps


def _values(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _driven(kwargs: dict[str, Any], steps: int = driver.STEPS) -> tuple[Any, list[Any]]:
    """keras3r's ScheduleFreeAdamW after `steps` of backend_driver's problem."""
    initial, grads = driver.make_problem(steps)
    opt = keras3r.optimizer_schedule_free_adam_w(**kwargs)
    variables = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(initial)]
    for gs in grads:
        opt.apply([keras.ops.convert_to_tensor(g) for g in gs], variables)
    return opt, variables


@pytest.mark.parametrize("name", ["defaults", "warmup", "weight_decay", "everything"])
def test_averaged_weights_are_the_references_x(name):
    kwargs = driver.SCHEDULE_FREE_CONFIGS[name]
    opt, variables = _driven(kwargs)
    initial, grads = driver.make_problem()
    _, ref = run_reference(ReferenceScheduleFree, ScheduleFreeConfig(**kwargs), initial, grads)
    got = keras3r.schedule_free_averaged_weights(opt)
    want = ref.averaged()
    for i, (g, w) in enumerate(zip(got, want)):
        scale = max(float(np.max(np.abs(w))), float(np.max(np.abs(initial[i]))))
        assert float(np.max(np.abs(g - w))) <= RTOL * scale, (name, i)
    # x is not y: the swap has something to do.
    assert any(not np.allclose(g, y) for g, y in zip(got, _values(variables)))


def test_swapping_is_exact_both_ways_and_idempotent():
    opt, variables = _driven(driver.SCHEDULE_FREE_CONFIGS["lr"], steps=10)
    y = _values(variables)
    x = keras3r.schedule_free_averaged_weights(opt)
    assert keras3r.schedule_free_weights_in_model(opt) == "training"

    assert keras3r.swap_schedule_free_weights(opt) is opt  # to = "averaged"
    assert keras3r.schedule_free_weights_in_model(opt) == "averaged"
    for got, want in zip(_values(variables), x):
        np.testing.assert_array_equal(got, want)
    # Asking again changes nothing, and x is still computed from the kept y.
    keras3r.swap_schedule_free_weights(opt, "averaged")
    for got, want in zip(keras3r.schedule_free_averaged_weights(opt), x):
        np.testing.assert_array_equal(got, want)

    keras3r.swap_schedule_free_weights(opt, to="training")
    keras3r.swap_schedule_free_weights(opt, to="training")
    assert keras3r.schedule_free_weights_in_model(opt) == "training"
    for got, want in zip(_values(variables), y):
        np.testing.assert_array_equal(got, want)  # y exactly, not recomputed from x


def test_context_manager_restores_even_after_an_error():
    opt, variables = _driven(driver.SCHEDULE_FREE_CONFIGS["lr"], steps=5)
    y = _values(variables)
    with pytest.raises(RuntimeError, match="inside"):
        with keras3r.with_schedule_free_averaged_weights(opt) as same:
            assert same is opt
            assert keras3r.schedule_free_weights_in_model(opt) == "averaged"
            raise RuntimeError("inside")
    for got, want in zip(_values(variables), y):
        np.testing.assert_array_equal(got, want)
    # Entered with x in, it leaves x in.
    keras3r.swap_schedule_free_weights(opt)
    with keras3r.with_schedule_free_averaged_weights(opt):
        pass
    assert keras3r.schedule_free_weights_in_model(opt) == "averaged"


def _regression(seed: int = 0) -> tuple[np.ndarray, ...]:
    """y = X w + noise (variance 1): SGD noise keeps y away from the optimum."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1280, 8)).astype("float32")
    w = rng.standard_normal((8, 1)).astype("float32")
    target = (x @ w + rng.standard_normal((1280, 1))).astype("float32")
    return x[:1024], target[:1024], x[1024:], target[1024:]


def _model(learning_rate: float = 0.2) -> Any:
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras3r.optimizer_schedule_free_adam_w(learning_rate=learning_rate),
        loss="mse",
    )
    return model


def _training_weights(model: Any) -> list[np.ndarray]:
    with_x = keras3r.schedule_free_weights_in_model(model) == "averaged"
    keras3r.swap_schedule_free_weights(model, "training")
    out = [np.array(w) for w in model.get_weights()]
    if with_x:
        keras3r.swap_schedule_free_weights(model, "averaged")
    return out


def test_averaged_weights_validate_better_than_training_weights(figures):
    x_train, y_train, x_val, y_val = _regression()
    model = _model()
    model.fit(x_train, y_train, batch_size=8, epochs=3, verbose=0, shuffle=False)
    loss_y = float(model.evaluate(x_val, y_val, verbose=0))
    with keras3r.with_schedule_free_averaged_weights(model):
        loss_x = float(model.evaluate(x_val, y_val, verbose=0))
    backend = keras.backend.backend()
    figure = figures / "schedule_free_losses.json"
    # One file for every backend where the runs share a `figures` directory.
    earlier = json.loads(figure.read_text()) if figure.exists() else {}
    losses = {k: v for k, v in earlier.items() if k in ("tensorflow", "jax", "torch")}
    losses["problem"] = (
        "linear regression, 8 inputs, noise variance 1 (the floor), 1024 training / "
        "256 validation rows, batch 8, 3 epochs, unshuffled, "
        "optimizer_schedule_free_adam_w(learning_rate = 0.2)"
    )
    losses[backend] = {
        "validation_mse_training_weights_y": loss_y,
        "validation_mse_averaged_weights_x": loss_x,
    }
    figure.write_text(json.dumps(losses, indent=2, sort_keys=True) + "\n")
    print(f"{backend}: validation MSE: y {loss_y:.4f}, x {loss_x:.4f} (noise floor 1)")
    assert loss_x < loss_y


def test_callback_evaluates_at_x_without_changing_training():
    x_train, y_train, x_val, y_val = _regression()
    plain, swapped = _model(), _model()
    callback = keras3r.callback_swap_schedule_free_weights()
    fit = {"batch_size": 8, "epochs": 2, "verbose": 0, "shuffle": False}
    plain.fit(x_train, y_train, **fit)
    history = swapped.fit(
        x_train, y_train, validation_data=(x_val, y_val), callbacks=[callback], **fit
    )
    # Training itself is untouched: the same y as without the callback.
    for a, b in zip(_training_weights(swapped), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    # fit() ended with x in the model, and validated at x.
    assert keras3r.schedule_free_weights_in_model(swapped) == "averaged"
    for a, b in zip(swapped.get_weights(), keras3r.schedule_free_averaged_weights(swapped)):
        np.testing.assert_array_equal(a, b)
    loss_x = float(swapped.evaluate(x_val, y_val, verbose=0))
    assert history.history["val_loss"][-1] == pytest.approx(loss_x, rel=1e-5)
    with keras3r.with_schedule_free_averaged_weights(plain):
        assert float(plain.evaluate(x_val, y_val, verbose=0)) == pytest.approx(loss_x, rel=1e-5)
    # evaluate() given the callback also evaluates at x, and puts back what was in.
    keras3r.swap_schedule_free_weights(swapped, "training")
    loss_with_callback = float(swapped.evaluate(x_val, y_val, verbose=0, callbacks=[callback]))
    assert loss_with_callback == pytest.approx(loss_x, rel=1e-5)
    assert keras3r.schedule_free_weights_in_model(swapped) == "training"

    # Resuming: the callback puts y back before the first step.
    keras3r.swap_schedule_free_weights(swapped, "averaged")
    plain.fit(x_train, y_train, **dict(fit, epochs=1))
    swapped.fit(x_train, y_train, callbacks=[callback], **dict(fit, epochs=1))
    for a, b in zip(_training_weights(swapped), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_callback_options():
    x_train, y_train, _, _ = _regression()
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(keras3r.schedule_free_weights_in_model(self.model))

    model = _model()
    callbacks = [
        keras3r.callback_swap_schedule_free_weights(swap_on_epoch=True, averaged_after_fit=False),
        Record(),
    ]
    model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0, callbacks=callbacks)
    # x for the callbacks after it at every epoch's end (a checkpoint would save x) ...
    assert seen == ["averaged", "averaged"]
    # ... and y after fit() when averaged_after_fit is FALSE.
    assert keras3r.schedule_free_weights_in_model(model) == "training"


def test_saving_with_x_in_saves_x(tmp_path):
    x_train, y_train, _, _ = _regression()
    model = _model()
    model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
    x = keras3r.schedule_free_averaged_weights(model)
    with keras3r.with_schedule_free_averaged_weights(model):
        model.save(tmp_path / "x.keras")
    loaded = keras.saving.load_model(tmp_path / "x.keras")
    for a, b in zip(loaded.get_weights(), x):
        np.testing.assert_array_equal(a, b)
    # The kept y is keras3r's, outside Keras: the optimizer's config is Keras's own.
    assert type(loaded.optimizer) is keras.optimizers.ScheduleFreeAdamW
    assert loaded.optimizer.get_config() == model.optimizer.get_config()


def test_refusals_name_the_argument():
    with pytest.raises(TypeError, match="`object` must be a ScheduleFreeAdamW"):
        keras3r.schedule_free_averaged_weights(keras3r.optimizer_adam_w())
    with pytest.raises(ValueError, match="`object` is a model that has not been compiled"):
        keras3r.swap_schedule_free_weights(keras.Sequential([keras.layers.Dense(1)]))
    fresh = keras3r.optimizer_schedule_free_adam_w()
    with pytest.raises(ValueError, match="has not taken a step"):
        keras3r.schedule_free_averaged_weights(fresh)
    assert keras3r.swap_schedule_free_weights(fresh) is fresh  # nothing to swap yet
    with pytest.raises(ValueError, match="`to` must be"):
        keras3r.swap_schedule_free_weights(fresh, to="x")
    with pytest.raises(TypeError, match="`swap_on_epoch` must be True or False"):
        keras3r.callback_swap_schedule_free_weights(swap_on_epoch="yes")
    with pytest.raises(TypeError, match="`averaged_after_fit` must be True or False"):
        keras3r.callback_swap_schedule_free_weights(averaged_after_fit=None)


def test_only_schedule_free_instances_get_the_corrected_update():
    sf = keras3r.optimizer_schedule_free_adam_w()
    assert "update_step" in vars(sf)
    assert "update_step" not in vars(keras3r.optimizer_adam_w())
    assert "update_step" not in vars(keras.optimizers.ScheduleFreeAdamW())


def test_a_multi_optimizer_swaps_its_schedule_free_part_only():
    x_train, y_train, _, _ = _regression()
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, name="enc"), keras.layers.Dense(1, name="out")]
    )
    multi = keras3r.optimizer_multi(
        keras3r.optimizer_map(
            keras3r.optimizer_schedule_free_adam_w(learning_rate=0.1),
            {"(.*/)?out/.*": keras3r.optimizer_sgd(learning_rate=0.01)},
        )
    )
    model.compile(optimizer=multi, loss="mse")
    model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
    y = [np.array(w) for w in model.get_weights()]  # enc kernel, enc bias, out kernel, out bias
    x = keras3r.schedule_free_averaged_weights(model)
    assert [a.shape for a in x] == [a.shape for a in y[:2]]  # the schedule-free part: enc
    with keras3r.with_schedule_free_averaged_weights(model):
        held = model.get_weights()
        for got, want in zip(held, x + y[2:]):
            np.testing.assert_array_equal(got, want)
        assert not np.array_equal(held[0], y[0])
    for got, want in zip(model.get_weights(), y):
        np.testing.assert_array_equal(got, want)
    no_schedule_free = keras3r.optimizer_multi(keras3r.optimizer_map(keras3r.optimizer_sgd()))
    with pytest.raises(TypeError, match="a multi optimizer with one"):
        keras3r.swap_schedule_free_weights(no_schedule_free)
