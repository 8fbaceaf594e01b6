"""keras3r's behaviour on the copies Keras makes of an optimizer.

copy.deepcopy() keeps it by itself; an optimizer that Keras builds from a
config (keras.saving.load_model(), from_config()) gets it from
keras3r.adapt_optimizer(), and then trains on as the uninterrupted optimizer
does. Runs on every backend (process_plan.EVERY_BACKEND): each has its own
additions (TensorFlow's compiled apply and clipping fix, JAX's compiled
apply, torch's fused kernels).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import keras3r
from keras3r.adapt import keras3r_additions

BUILDERS = {
    "adam_w": lambda: keras3r.optimizer_adam_w(learning_rate=0.05, clipnorm=1.0),
    "sgd": lambda: keras3r.optimizer_sgd(learning_rate=0.05, momentum=0.5),
    "schedule_free": lambda: keras3r.optimizer_schedule_free_adam_w(learning_rate=0.05),
}


def _values(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _steps(opt: Any, variables: list[Any], first: int, count: int) -> None:
    for step in range(first, first + count):
        grads = [
            keras.ops.convert_to_tensor(np.full(v.shape, 0.1 * (step + 1) - 0.3, "float32"))
            for v in variables
        ]
        opt.apply(grads, variables)


def _variables() -> list[Any]:
    return [
        keras.Variable(np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)),
        keras.Variable(np.array([0.5, -0.25], "float32")),
    ]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_deep_copy_keeps_keras3r_s_behaviour(name: str) -> None:
    opt = BUILDERS[name]()
    assert keras3r_additions(opt), "keras3r added nothing: the test would prove nothing"
    copied = copy.deepcopy(opt)
    assert copied is not opt
    assert type(copied) is type(opt)
    assert keras3r_additions(copied) == keras3r_additions(opt)
    assert copied.get_config() == opt.get_config()
    # The copy updates as a fresh keras3r optimizer does, and the original
    # is untouched by it.
    ours, fresh = _variables(), _variables()
    _steps(copied, ours, 0, 4)
    _steps(BUILDERS[name](), fresh, 0, 4)
    for a, b in zip(_values(ours), _values(fresh)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 0


def test_a_deep_copy_of_a_loss_scale_optimizer_keeps_its_inner_one_adapted() -> None:
    opt = keras3r.optimizer_loss_scale(keras3r.optimizer_sgd(learning_rate=0.1))
    copied = copy.deepcopy(opt)
    assert keras3r_additions(copied.inner_optimizer) == keras3r_additions(opt.inner_optimizer)


def _model(opt: Any) -> Any:
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer=opt, loss="mse")
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_loaded_optimizer_adapted_trains_on_as_the_uninterrupted_one(
    name: str, tmp_path: Path
) -> None:
    x, y = _data()
    uninterrupted = _model(BUILDERS[name]())
    uninterrupted.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    path = tmp_path / "model.keras"
    uninterrupted.save(path)
    loaded = keras.saving.load_model(path)
    # What Keras builds from the file is stock Keras: the file holds no keras3r.
    assert keras3r_additions(loaded.optimizer) == []
    adapted = keras3r.adapt_optimizer(loaded.optimizer)
    assert adapted is loaded.optimizer
    assert keras3r_additions(adapted) == keras3r_additions(uninterrupted.optimizer)
    uninterrupted.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(_values(loaded.weights), _values(uninterrupted.weights)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_adapting_a_stock_optimizer_gives_what_keras3r_builds() -> None:
    stock = keras.optimizers.AdamW(learning_rate=0.05, clipnorm=1.0)
    assert keras3r_additions(stock) == []
    keras3r.adapt_optimizer(stock)
    built = BUILDERS["adam_w"]()
    assert keras3r_additions(stock) == keras3r_additions(built)
    # Twice is once, and plain() takes it all away again.
    before = dict(vars(stock))
    keras3r.adapt_optimizer(stock)
    assert dict(vars(stock)) == before
    assert keras3r_additions(keras3r.plain(stock)) == []
    ours, theirs = _variables(), _variables()
    _steps(keras3r.adapt_optimizer(stock), ours, 0, 3)
    _steps(built, theirs, 0, 3)
    for a, b in zip(_values(ours), _values(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_adapt_optimizer_refuses_what_is_not_an_optimizer() -> None:
    with pytest.raises(TypeError, match="adapt_optimizer\\(\\): `optimizer` must be a Keras"):
        keras3r.adapt_optimizer(keras.layers.Dense(1))


@pytest.mark.parametrize("name", [*sorted(BUILDERS), "muon", "multi"])
def test_what_keras3r_binds_is_what_its_table_declares(name: str) -> None:
    from keras3r.adapt import BEHAVIOURS, state_of
    from keras3r.adapt.behaviours import DEEPCOPY_SEAM, behaviours_for

    extra = {
        "muon": lambda: keras3r.optimizer_muon(),
        "multi": lambda: keras3r.optimizer_multi(
            keras3r.optimizer_map(keras3r.optimizer_adam(), {"dense": keras3r.optimizer_sgd()})
        ),
    }
    opt = {**BUILDERS, **extra}[name]()
    state = state_of(opt)
    assert state is not None and state.attached
    on_this_backend = behaviours_for(keras.backend.backend())
    declared = {seam for b in on_this_backend if b.name in state.attached for seam in b.seams}
    bound = {key for key in keras3r_additions(opt) if key != "_keras3r"}
    # A learning-rate guard replaces a value, not a method.
    assert bound - {DEEPCOPY_SEAM} <= declared
    assert DEEPCOPY_SEAM in bound
    # Every behaviour named as attached is one of the table's, for this backend.
    assert set(state.attached) <= {b.name for b in on_this_backend}
    assert {b.name for b in on_this_backend} <= {b.name for b in BEHAVIOURS}
    # Attaching again changes nothing.
    before = (list(state.attached), {k: vars(opt)[k] for k in bound})
    keras3r.adapt_optimizer(opt)
    assert (state.attached, {k: vars(opt)[k] for k in bound}) == before


def test_a_shallow_copy_or_a_pickle_is_a_saved_file_and_adapt_optimizer_adapts_it() -> None:
    import pickle

    opt = BUILDERS["adam_w"]()
    # Both go through Keras's saving (KerasSaveable.__reduce__): the copy is
    # what plain Keras loads, with or without keras3r.
    for copied in (copy.copy(opt), pickle.loads(pickle.dumps(opt))):
        assert type(copied) is type(opt)
        assert keras3r_additions(copied) == []
        assert keras3r_additions(keras3r.adapt_optimizer(copied)) == keras3r_additions(opt)


def _keras3r_update_ran(opt: Any) -> bool:
    """Whether keras3r's own update served opt's eager steps on this backend."""
    from keras3r.adapt import eager_apply
    from keras3r.adapt import torch as torch_adapter

    if keras.backend.backend() == "torch":
        return torch_adapter.stats(opt).get("fused", 0) > 0
    return eager_apply.stats(opt)["compiled_calls"] > 0


KERAS_COPIES = {
    "from_config": lambda opt: type(opt).from_config(opt.get_config()),
    "deserialize": lambda opt: keras.optimizers.deserialize(keras.optimizers.serialize(opt)),
    "copy.copy": copy.copy,
    "pickle": lambda opt: __import__("pickle").loads(__import__("pickle").dumps(opt)),
}


@pytest.mark.parametrize("path", sorted(KERAS_COPIES))
def test_each_copy_keras_makes_runs_keras3r_s_update_once_adapted(path: str) -> None:
    opt = BUILDERS["adam_w"]()
    made = KERAS_COPIES[path](opt)
    assert keras3r_additions(made) == [], "Keras's copy is stock: adapt_optimizer() is needed"
    keras3r.adapt_optimizer(made)
    ours, fresh = _variables(), _variables()
    _steps(made, ours, 0, 3)
    _steps(BUILDERS["adam_w"](), fresh, 0, 3)
    assert _keras3r_update_ran(made)
    for a, b in zip(_values(ours), _values(fresh)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_deep_copy_runs_keras3r_s_update_by_itself() -> None:
    copied = copy.deepcopy(BUILDERS["adam_w"]())
    _steps(copied, _variables(), 0, 3)
    assert _keras3r_update_ran(copied)
