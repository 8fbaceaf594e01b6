"""optimizer_multi() and optimizer_map(): Keras's MultiOptimizer and OptimizerMap.

What is proven here:
- both functions have their signatures and build the plain Keras classes;
- a model trained with a multi optimizer, saved, and loaded in a fresh Python
  that never imports keras3r, continues exactly as a run that never stopped;
- keras3r's rule for the path a variable has after loading agrees with what
  Keras really gives, for the ways a model can be put together;
- a pattern that would route a variable differently after loading is refused
  when the optimizer is built, with a pattern that works in the message;
- a function as the map is flagged at the call, bad values are refused.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keras3r
from keras3r.adapt.routing import RoutingError, RoutingWarning, path_after_loading
from keras3r.refusals import ArgumentError, ArgumentTypeError
from keras3r.routing_checks import UnsavableOptimizerWarning
from keras3r.spec import SPECS

SAMPLES, BATCH, EPOCHS = 32, 8, 4
STABLE = "(.*/)?enc/.*"
TOLERANCE = 1e-6  # as in test_state.py: same operations, possibly another kernel


@pytest.fixture(scope="module")
def keras() -> Any:
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.fail("test_multi.py expects the TensorFlow backend in the pytest process")
    return keras


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")) ** 2


def _sequential(keras: Any, name: str = "sequential") -> Any:
    keras.utils.set_random_seed(7)
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="enc"), keras.layers.Dense(1, name="dec")],
        name=name,
    )


def _multi(pattern: str = STABLE) -> Any:
    return keras3r.optimizer_multi(
        keras3r.optimizer_map(
            keras3r.optimizer_sgd(learning_rate=0.01, momentum=0.9),
            {pattern: keras3r.optimizer_adam(learning_rate=0.01)},
        )
    )


def _fit(model: Any, epochs: int) -> None:
    x, y = _data()
    model.fit(x, y, epochs=epochs, batch_size=BATCH, shuffle=False, verbose=0)


# ------------------------------------------------------------------ signatures


def test_signatures() -> None:
    multi, routes = SPECS["optimizer_multi"], SPECS["optimizer_map"]
    assert multi.r_signature() == "(optimizer_map, loss_scale_factor = NULL, name = NULL, ...)"
    assert routes.r_signature() == "(default_optimizer, optimizer_map = NULL)"
    params = inspect.signature(keras3r.optimizer_multi).parameters
    assert list(params) == ["optimizer_map", "loss_scale_factor", "name", "kwargs"]
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    params = inspect.signature(keras3r.optimizer_map).parameters
    assert list(params) == ["default_optimizer", "optimizer_map"]
    assert params["default_optimizer"].default is inspect.Parameter.empty
    assert params["optimizer_map"].default is None


def test_plain_keras_classes(keras: Any) -> None:
    sgd, adam = keras3r.optimizer_sgd(), keras3r.optimizer_adam()
    routes = keras3r.optimizer_map(sgd, {"a/.*": adam})
    assert type(routes) is keras.optimizers.OptimizerMap
    assert routes.default_optimizer is sgd and routes["a/kernel"] is adam
    assert keras3r.optimizer_map(sgd)["x/kernel"] is sgd  # NULL: no patterns
    opt = keras3r.optimizer_multi(routes, loss_scale_factor=4, name="two")
    assert type(opt) is keras.optimizers.MultiOptimizer
    assert opt.name == "two" and opt.loss_scale_factor == 4.0
    assert opt.optimizers == [adam, sgd]
    assert adam.loss_scale_factor == sgd.loss_scale_factor == 4.0
    # name = NULL: Keras names it, numbering after the first multi optimizer.
    assert re.fullmatch(r"multi_optimizer(_\d+)?", keras3r.optimizer_multi(routes).name)
    # What the documentation says instead of a learning rate: Keras refuses it.
    with pytest.raises(AttributeError, match="sub-optimizers"):
        opt.learning_rate  # noqa: B018
    # The config is Keras's own, with nothing of keras3r in it.
    config = keras.optimizers.serialize(opt)
    assert "keras3r" not in json.dumps(config)
    again = keras.optimizers.deserialize(config)
    assert [o.name for o in again.optimizers] == ["adam", "SGD"]


# ---------------------------------------------------- save, load, continue

FRESH_CONTINUE = r"""
import json, sys
import numpy as np
import keras
model = keras.models.load_model(sys.argv[1])
data = np.load(sys.argv[2])
opt = model.optimizer
routes = {v.path: opt.optimizers[opt._var_to_optimizer_idx[opt._var_key(v)]].name
          for v in model.trainable_variables}
state = [np.asarray(v.numpy()).tolist() for v in opt.variables]
model.fit(data["x"], data["y"], epochs=int(sys.argv[3]), batch_size=int(sys.argv[4]),
          shuffle=False, verbose=0)
print(json.dumps({
    "keras3r_imported": "keras3r" in sys.modules,
    "class": type(opt).__name__,
    "routes": routes,
    "loaded_state": state,
    "weights": [w.tolist() for w in model.get_weights()],
    "state": [np.asarray(v.numpy()).tolist() for v in opt.variables],
}))
"""


def test_save_load_in_plain_keras_continues_as_if_never_interrupted(
    keras: Any, tmp_path: Path, record_property: Any
) -> None:
    straight = _sequential(keras)
    straight.compile(optimizer=_multi(), loss="mse")
    _fit(straight, EPOCHS)

    first = _sequential(keras)
    first.compile(optimizer=_multi(), loss="mse")
    _fit(first, EPOCHS // 2)
    saved_state = [np.asarray(v.numpy()) for v in first.optimizer.variables]
    path = tmp_path / "half.keras"
    first.save(path)
    x, y = _data()
    np.savez(tmp_path / "data.npz", x=x, y=y)

    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_CONTINUE, str(path), str(tmp_path / "data.npz"),
         str(EPOCHS - EPOCHS // 2), str(BATCH)],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Skipping variable loading" not in proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["keras3r_imported"] is False
    assert report["class"] == "MultiOptimizer"
    # Routed as in training, under the loaded paths.
    assert report["routes"] == {
        "enc/kernel": "adam", "enc/bias": "adam", "dec/kernel": "SGD", "dec/bias": "SGD",
    }
    assert len(report["loaded_state"]) == len(saved_state)
    for saved, loaded in zip(saved_state, report["loaded_state"]):
        np.testing.assert_array_equal(np.asarray(loaded, dtype=saved.dtype), saved)

    diffs = [
        float(np.max(np.abs(a - np.asarray(b))))
        for a, b in zip(straight.get_weights(), report["weights"])
    ]
    diffs += [
        float(np.max(np.abs(np.asarray(v.numpy(), dtype="float64") - np.asarray(b))))
        for v, b in zip(straight.optimizer.variables, report["state"])
    ]
    worst = max(diffs)
    record_property("multi_resume_max_abs_difference", worst)
    print(f"multi optimizer, resumed in plain Keras vs uninterrupted: max abs diff {worst:.3g}")
    assert worst <= TOLERANCE
    # It did train, and both optimizers took part.
    assert np.max(np.abs(straight.get_weights()[0] - first.get_weights()[0])) > 1e-3
    assert int(straight.optimizer.optimizers[0].iterations.numpy()) == EPOCHS * SAMPLES // BATCH


# ------------------------------------------------------------ paths after loading


def _custom_block(keras: Any) -> type:
    @keras.saving.register_keras_serializable("keras3r_test")
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(2, name="inner")

        def build(self, shape: Any) -> None:
            self.inner.build(shape)

        def call(self, x: Any) -> Any:
            return self.inner(x)

    return Block


def _architectures(keras: Any) -> dict[str, Any]:
    block = _custom_block(keras)
    dense = keras.layers.Dense

    @keras.saving.register_keras_serializable("keras3r_test")
    class Sub(keras.Model):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.a = dense(3, name="a")
            self.b = block(name="blk")

        def call(self, x: Any) -> Any:
            return self.b(self.a(x))

    def functional() -> Any:
        i = keras.Input((3,))
        return keras.Model(i, block(name="blk")(dense(3, name="pre")(i)), name="func")

    def nested() -> Any:
        inner = keras.Sequential([keras.Input((3,)), dense(2, name="e")], name="inner")
        return keras.Sequential([keras.Input((3,)), inner, dense(2, name="d")], name="outer")

    def sequential_in_functional() -> Any:
        i = keras.Input((3,))
        inner = keras.Sequential([dense(2, name="e")], name="inner")
        return keras.Model(i, inner(i), name="f2")

    return {
        "sequential": lambda: keras.Sequential(
            [keras.Input((3,)), dense(3, name="enc"), block(name="blk")], name="s"
        ),
        "sequential built by fit": lambda: keras.Sequential([dense(3, name="enc"), dense(2)]),
        "functional": functional,
        "nested sequential": nested,
        "sequential in functional": sequential_in_functional,
        "subclassed": lambda: Sub(name="subm"),
    }


@pytest.mark.parametrize("kind", [
    "sequential", "sequential built by fit", "functional", "nested sequential",
    "sequential in functional", "subclassed",
])
def test_path_after_loading_is_what_keras_gives(keras: Any, tmp_path: Path, kind: str) -> None:
    from keras3r.adapt.routing import model_names

    model = _architectures(keras)[kind]()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    names = model_names(model)
    predicted = [path_after_loading(v.path, names) for v in model.trainable_variables]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert predicted == [v.path for v in loaded.trainable_variables]


def test_path_rule_keeps_layer_and_variable() -> None:
    names = {"sequential", "outer", "inner"}
    assert path_after_loading("sequential/enc/kernel", names) == "enc/kernel"
    assert path_after_loading("outer/inner/e/kernel", names) == "e/kernel"
    assert path_after_loading("outer/blk/inner/kernel", names) == "blk/inner/kernel"
    # A layer that happens to share a model's name is still the layer.
    assert path_after_loading("inner/kernel", names) == "inner/kernel"


# ------------------------------------------------------------- routing refusals


@pytest.mark.parametrize(
    ("pattern", "now", "then"),
    [("enc/.*", "the default", "pattern 'enc/.*'"),
     ("sequential/enc/.*", "pattern 'sequential/enc/.*'", "the default")],
)
def test_pattern_that_changes_after_loading_is_refused(
    keras: Any, pattern: str, now: str, then: str
) -> None:
    model = _sequential(keras)
    model.compile(optimizer=_multi(pattern), loss="mse")
    with pytest.raises(RoutingError) as caught:
        _fit(model, 1)
    message = str(caught.value)
    assert "'sequential/enc/kernel'" in message and "'enc/kernel'" in message
    assert now in message and then in message
    assert "such as '(.*/)?enc/.*'" in message
    # Nothing was trained with the doomed routing.
    assert not model.optimizer.built


def test_suggested_pattern_and_stable_models_are_accepted(keras: Any) -> None:
    model = _sequential(keras)
    model.compile(optimizer=_multi("(.*/)?enc/.*"), loss="mse")
    _fit(model, 1)
    assert model.optimizer.built
    # A functional model keeps its paths: a plain layer pattern is fine there.
    i = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="enc")(i)
    functional = keras.Model(i, keras.layers.Dense(1, name="dec")(hidden))
    functional.compile(optimizer=_multi("enc/.*"), loss="mse")
    _fit(functional, 1)
    adam = functional.optimizer.optimizers[0]
    assert adam.name == "adam" and int(adam.iterations.numpy()) == SAMPLES // BATCH


def test_without_the_model_it_warns(keras: Any) -> None:
    model = _sequential(keras)
    opt = _multi("enc/.*")
    grads = [keras.ops.ones(v.shape) for v in model.trainable_variables]
    with pytest.warns(RoutingWarning, match="could not see the model"):
        opt.apply(grads, model.trainable_variables)
    assert opt.built


def test_function_map_is_flagged_when_given(keras: Any) -> None:
    with pytest.warns(UnsavableOptimizerWarning, match="cannot be saved") as caught:
        keras3r.optimizer_multi(lambda variable: keras3r.optimizer_sgd())
    assert caught[0].filename == __file__  # points at the user's call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras3r.optimizer_multi(keras3r.optimizer_map(keras3r.optimizer_sgd()))


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"optimizer_map": {"a": None}}, ArgumentTypeError, "made by optimizer_map"),
        ({"optimizer_map": 3}, ArgumentTypeError, "made by optimizer_map"),
        ({"optimizer_map": lambda a, b: None}, ArgumentTypeError, "one argument"),
        ({"optimizer_map": "adam"}, ArgumentTypeError, "made by optimizer_map"),
        ({"loss_scale_factor": -1}, ArgumentError, "loss_scale_factor"),
        ({"name": "a/b"}, ArgumentError, "name"),
        ({"learning_rate": 0.1}, ArgumentTypeError, "learning_rate"),
    ],
)
def test_multi_refuses(keras: Any, kwargs: dict, error: type, words: str) -> None:
    given = {"optimizer_map": keras3r.optimizer_map(keras3r.optimizer_sgd()), **kwargs}
    with pytest.raises(error, match=words) as caught:
        keras3r.optimizer_multi(**given)
    assert str(caught.value).startswith("optimizer_multi(): ")


def test_map_refuses(keras: Any) -> None:
    sgd = keras3r.optimizer_sgd()
    cases = [
        ({"default_optimizer": "sgd"}, ArgumentTypeError, "default_optimizer"),
        ({"default_optimizer": keras.optimizers.LossScaleOptimizer(sgd)}, ArgumentError,
         "loss-scale"),
        ({"optimizer_map": [sgd]}, ArgumentTypeError, "named list"),
        ({"optimizer_map": {"(": sgd}}, ArgumentError, "not a valid regular expression"),
        ({"optimizer_map": {"": sgd}}, ArgumentTypeError, "non-empty string"),
        ({"optimizer_map": {"a": 1.0}}, ArgumentTypeError, "must be a Keras optimizer"),
        ({"optimizer_map": {"a": _multi()}}, ArgumentError, "multi optimizer"),
    ]
    for kwargs, error, words in cases:
        given = {"default_optimizer": sgd, **kwargs}
        with pytest.raises(error, match=words):
            keras3r.optimizer_map(**given)


def test_user_text_in_a_refusal_is_shown_as_written():
    # A pattern is the user's own text: braces in it are no placeholders.
    with pytest.raises(ArgumentError) as caught:
        keras3r.optimizer_map(keras3r.optimizer_sgd(), {"a{null}(": keras3r.optimizer_adam()})
    assert '"a{null}("' in str(caught.value)
    assert "None" not in str(caught.value)
