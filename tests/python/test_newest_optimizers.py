"""optimizer_lamb, optimizer_muon and optimizer_schedule_free_adam_w beyond their signatures.

* Muon's split: which variables get Muon's own step (one `momentum` slot) and
  which get AdamW (`momentum` and `velocity`), on a small model with every kind
  of variable; `exclude_layers` patterns that a reload would route otherwise
  are refused when the optimizer is built.
* `exclude_layers` is checked as a list of regular expressions.
* Muon's help page says how its defaults differ from what keras3 R 1.5 prints.
* Saving and loading: each optimizer trains half the run, is saved, loaded in
  plain Keras, trains the other half, and ends where an uninterrupted run ends
  (to float32 rounding); the file loads in a Python that never imports keras3r.
  Schedule-free AdamW is the exception that proves the rule: keras3r's
  instances correct Keras 3.15's update on TensorFlow (keras3r.schedule_free),
  so a reloaded one continues identically once given keras3r's behaviours
  again, and plain Keras continues with Keras's own update.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import keras3r
from keras3r.adapt.routing import RoutingError
from resume_problem import BATCH, EPOCHS, SAMPLES, fit, mlp

ROOT = Path(__file__).resolve().parents[2]
NEWEST = ["optimizer_lamb", "optimizer_muon", "optimizer_schedule_free_adam_w"]


def _slots(opt: keras.optimizers.Optimizer, model: keras.Model) -> dict[str, set[str]]:
    """For each trainable variable's path, the kinds of optimizer slot it has."""
    out: dict[str, set[str]] = {}
    for variable in model.trainable_variables:
        key = variable.path.replace("/", "_")
        out[variable.path] = {
            kind for kind in ("momentum", "velocity")
            if any(v.path == f"{opt.name}/{key}_{kind}" for v in opt.variables)
        }
    return out


def _every_kind_of_variable(name: str = "net") -> keras.Model:
    """Embedding (2-D), conv kernel (3-D), dense kernels (2-D), biases and norms (1-D)."""
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(10, 4, name="tokens_embedding"),
            keras.layers.Conv1D(3, 2, name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(5, name="hidden"),
            keras.layers.LayerNormalization(name="norm"),
            keras.layers.Dense(2, name="out"),
        ],
        name=name,
    )


def _one_epoch(model: keras.Model, opt: keras.optimizers.Optimizer) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (8, 6)).astype("int32")
    y = rng.standard_normal((8, 2)).astype("float32")
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


MUON_ONLY = {"momentum"}
ADAMW = {"momentum", "velocity"}


def test_muon_split_on_a_small_model() -> None:
    """Only 2-D variables that are no embedding and match no pattern get Muon's step."""
    model = _every_kind_of_variable()
    opt = keras3r.optimizer_muon(exclude_layers="(^|/)out/")
    _one_epoch(model, opt)
    assert _slots(opt, model) == {
        "net/tokens_embedding/embeddings": ADAMW,  # 2-D, but an embedding
        "net/conv/kernel": ADAMW,  # 3-D
        "net/conv/bias": ADAMW,  # 1-D
        "net/hidden/kernel": MUON_ONLY,  # the one matrix left to Muon
        "net/hidden/bias": ADAMW,
        "net/norm/gamma": ADAMW,
        "net/norm/beta": ADAMW,
        "net/out/kernel": ADAMW,  # 2-D, but matched by exclude_layers
        "net/out/bias": ADAMW,
    }


def test_without_exclusions_every_matrix_gets_muons_step() -> None:
    model = _every_kind_of_variable()
    opt = keras3r.optimizer_muon(exclude_embeddings=False)
    _one_epoch(model, opt)
    muon = {path for path, kinds in _slots(opt, model).items() if kinds == MUON_ONLY}
    adamw = {path for path, kinds in _slots(opt, model).items() if kinds == ADAMW}
    assert muon == {"net/tokens_embedding/embeddings", "net/hidden/kernel", "net/out/kernel"}
    assert len(muon) + len(adamw) == len(model.trainable_variables)


def test_muons_step_orthogonalizes_and_adamws_does_not() -> None:
    """The two kinds of variable really take different steps (not only other slots).

    From zero momentum, Muon's first step on a matrix is `lr * rms_rate *
    sqrt(max(n, m))` times a nearly orthogonal matrix: all its singular values
    are close to one another. AdamW's first step is `lr * sign(g)` per entry.
    """
    grad = np.array([[3.0, 0.1], [0.2, 0.01], [1.0, 2.0]], "float32")
    opt = keras3r.optimizer_muon(learning_rate=0.1, weight_decay=0.0, adam_weight_decay=0.0)
    matrix = keras.Variable(np.zeros((3, 2), "float32"), name="w")
    vector = keras.Variable(np.zeros(3, "float32"), name="b")
    opt.apply([keras.ops.convert_to_tensor(grad), keras.ops.convert_to_tensor(grad[:, 0])],
              [matrix, vector])
    step = -np.asarray(matrix.numpy(), "float64")
    singular = np.linalg.svd(step, compute_uv=False)
    assert singular.max() / singular.min() < 1.6, singular  # the gradient's ratio is ~20
    np.testing.assert_allclose(-np.asarray(vector.numpy()), 0.1 * np.sign(grad[:, 0]), rtol=1e-4)


@pytest.mark.parametrize("pattern", ["^out/", "net/out"])
def test_a_pattern_that_a_reload_would_route_otherwise_is_refused(pattern: str) -> None:
    model = _every_kind_of_variable()
    with pytest.raises(RoutingError, match=re.escape("'(^|/)out/'")) as caught:
        _one_epoch(model, keras3r.optimizer_muon(exclude_layers=pattern))
    assert "'net/out/kernel'" in str(caught.value) and "'out/kernel'" in str(caught.value)


def test_plain_keras_drops_the_state_of_such_a_pattern(tmp_path: Path) -> None:
    """Why the refusal: stock Muon with "^out/" loads without its optimizer state."""
    model = _every_kind_of_variable()
    _one_epoch(model, keras.optimizers.Muon(exclude_layers=["^out/"]))
    path = tmp_path / "muon.keras"
    model.save(path)
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
        loaded = keras.models.load_model(path)
    saved_paths = {v.path.split("/", 1)[1].removeprefix("net_") for v in model.optimizer.variables}
    loaded_paths = {v.path.split("/", 1)[1] for v in loaded.optimizer.variables}
    assert "out_kernel_velocity" in loaded_paths - saved_paths


def test_exclude_layers_is_a_list_of_regular_expressions() -> None:
    assert keras3r.optimizer_muon(exclude_layers="out").exclude_layers == ["out"]
    assert keras3r.optimizer_muon(exclude_layers=("a", "b/")).exclude_layers == ["a", "b/"]
    assert list(keras3r.optimizer_muon().exclude_layers) == []
    with pytest.raises(ValueError, match=r"`exclude_layers\[1\]` is not a valid regular"):
        keras3r.optimizer_muon(exclude_layers=["out", "(dense"])
    with pytest.raises(ValueError, match=r"`exclude_layers\[0\]` must not be an empty"):
        keras3r.optimizer_muon(exclude_layers=[""])
    with pytest.raises(TypeError, match=r"`exclude_layers\[0\]` must be a string"):
        keras3r.optimizer_muon(exclude_layers=[1.0])
    with pytest.raises(ValueError, match="`exclude_layers` must hold at least one pattern"):
        keras3r.optimizer_muon(exclude_layers=[])
    # Stock Keras iterates over a bare string: each letter becomes a pattern,
    # and "t" alone sends the hidden layer of a model named "net" to AdamW.
    stock = keras.optimizers.Muon(exclude_layers="out")
    hidden = keras.Variable(np.zeros((2, 2), "float32"))
    hidden._path = "net/hidden/kernel"
    assert stock._should_use_adamw(hidden)
    assert not keras3r.optimizer_muon(exclude_layers="out")._should_use_adamw(hidden)


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "argument"),
    [
        ("optimizer_muon", {"momentum": 1.0}, ValueError, "momentum"),
        ("optimizer_muon", {"ns_steps": 0}, ValueError, "ns_steps"),
        ("optimizer_muon", {"ns_steps": 2.5}, ValueError, "ns_steps"),
        ("optimizer_muon", {"rms_rate": 0.0}, ValueError, "rms_rate"),
        ("optimizer_muon", {"adam_beta_1": 1.0}, ValueError, "adam_beta_1"),
        ("optimizer_muon", {"muon_a": float("nan")}, ValueError, "muon_a"),
        ("optimizer_muon", {"exclude_embeddings": "yes"}, TypeError, "exclude_embeddings"),
        ("optimizer_muon", {"adam_lr_ratio": -1.0}, ValueError, "adam_lr_ratio"),
        # Keras divides by beta_1 to recover the averaged point.
        ("optimizer_schedule_free_adam_w", {"beta_1": 0.0}, ValueError, "beta_1"),
        ("optimizer_schedule_free_adam_w", {"warmup_steps": -1}, ValueError, "warmup_steps"),
        ("optimizer_schedule_free_adam_w", {"warmup_steps": 2.5}, ValueError, "warmup_steps"),
        ("optimizer_lamb", {"epsilon": -1.0}, ValueError, "epsilon"),
        ("optimizer_lamb", {"beta_2": 1.0}, ValueError, "beta_2"),
        ("optimizer_lamb", {"lr": 0.1}, TypeError, "lr"),
    ],
)
def test_bad_values_are_refused_by_name(
    name: str, kwargs: dict, error: type, argument: str
) -> None:
    with pytest.raises(error, match=f"`{argument}`"):
        getattr(keras3r, name)(**kwargs)


def test_keras_alone_takes_what_is_refused() -> None:
    """Stock Keras builds these silently; they fail, or misbehave, only when training."""
    keras.optimizers.ScheduleFreeAdamW(beta_1=0.0, warmup_steps=2.5)
    keras.optimizers.Muon(ns_steps=2.5, momentum=1.0, exclude_layers="out")
    keras.optimizers.Lamb(epsilon=-1.0)


def _rd_text(name: str) -> str:
    text = (ROOT / "man" / f"{name}.Rd").read_text()
    text = re.sub(r"\\code\{([^{}]*)\}", r"\1", text)
    return " ".join(text.split())


def test_muon_page_says_how_its_defaults_differ_from_keras3() -> None:
    page = _rd_text("optimizer_muon")
    for printed in ("weight_decay = 0.1", "adam_lr_ratio = 0.1", "ns_steps = 6L"):
        assert printed in page, printed
    for running in ("weight_decay = 0.004", "adam_lr_ratio = 1", "ns_steps = 5L"):
        assert running in page, running
    assert "keras3 R 1.5" in page and "adam_weight_decay" in page and "rms_rate" in page
    # And the split: not 2-D, embeddings, exclude_layers.
    assert "not 2-D" in page and '"embedding"' in page and "re.search()" in page


def test_the_defaults_shown_are_the_ones_keras_runs() -> None:
    ours = keras3r.optimizer_muon().get_config()
    stock = keras.optimizers.Muon().get_config()
    for key in ("weight_decay", "adam_lr_ratio", "ns_steps", "adam_weight_decay", "rms_rate"):
        assert ours[key] == stock[key], key


@pytest.mark.parametrize("name", NEWEST)
def test_a_model_built_inside_fits_first_step_trains(name: str) -> None:
    """No Input: the model's variables are made inside the first traced step.

    Their value exists only once that step runs, so nothing may read them
    eagerly before (schedule-free AdamW's build copies them into its slots).
    """
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.layers.Dense(3)])
    model.compile(optimizer=getattr(keras3r, name)(learning_rate=0.01), loss="mse")
    x = np.random.default_rng(1).standard_normal((8, 5)).astype("float32")
    history = model.fit(x, np.zeros((8, 3), "float32"), epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


# ------------------------------------------------------------ save and load

# The model, its data and EPOCHS: resume_problem.py (15 steps, odd, before the cut).
SETTINGS: dict[str, dict[str, Any]] = {
    "optimizer_lamb": {"learning_rate": 0.01, "weight_decay": 0.01},
    "optimizer_muon": {"learning_rate": 0.01, "exclude_layers": "out"},
    "optimizer_schedule_free_adam_w": {
        "learning_rate": 0.01, "warmup_steps": 4, "weight_decay": 0.01,
    },
}
# Every run accumulates gradients over two batches: the cut leaves one waiting.
ACCUMULATION = 2
# The same float32 operations on the same values; the margin allows for a
# different kernel choice after loading (a few ulps of each array's scale:
# Muon's momentums reach 20).
TOLERANCE = 1e-6


def _assert_close(got: np.ndarray, want: np.ndarray, key: str = "") -> None:
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE * scale, err_msg=key)


def _model(name: str) -> keras.Model:
    return mlp(
        lambda: getattr(keras3r, name)(**SETTINGS[name], gradient_accumulation_steps=ACCUMULATION)
    )


def _state(opt: keras.optimizers.Optimizer) -> dict[str, np.ndarray]:
    """Optimizer variables by path, without the model's name (a loaded model lacks it)."""
    return {
        re.sub(r"^([^/]+)/mlp_", r"\1/", v.path): np.asarray(v.numpy()) for v in opt.variables
    }


@pytest.fixture(scope="module")
def tensorflow() -> None:
    if keras.backend.backend() != "tensorflow":
        pytest.fail("this test expects the TensorFlow backend in the pytest process")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_resume_after_save_and_load_equals_uninterrupted(
    tensorflow: None, tmp_path: Path, name: str
) -> None:
    straight = _model(name)
    fit(straight, EPOCHS)

    first = _model(name)
    fit(first, EPOCHS // 2)
    saved = _state(first.optimizer)
    waiting = [v for k, v in saved.items() if k.endswith("gradient_accumulator")]
    assert waiting and any(np.any(a != 0) for a in waiting), "the cut splits an accumulation"
    path = tmp_path / f"{name}.keras"
    first.save(path)

    resumed = keras.models.load_model(path)
    opt = resumed.optimizer
    assert type(opt) is type(first.optimizer)
    assert opt.name == first.optimizer.name
    assert opt.get_config() == first.optimizer.get_config()
    loaded = _state(opt)
    assert list(loaded) == list(saved)
    for key, value in saved.items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    if name == "optimizer_schedule_free_adam_w":
        # keras3r's corrected update, as the uninterrupted run had it: what
        # the help page tells users to do after loading.
        keras3r.adapt_optimizer(opt)
    fit(resumed, EPOCHS // 2)

    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        _assert_close(b, a)
    want, got = _state(straight.optimizer), _state(resumed.optimizer)
    assert list(want) == list(got)
    for key in want:
        _assert_close(got[key], want[key], key)
    assert int(got[f"{opt.name}/iteration"]) == SAMPLES // BATCH * EPOCHS
    # Equal because resumed, not because nothing moved.
    assert np.max(np.abs(straight.get_weights()[0] - first.get_weights()[0])) > 1e-3


FRESH_LOADER = r"""
import json, sys
import numpy as np
import keras
out = {"keras3r_imported": None, "models": {}}
for path in sys.argv[1:]:
    opt = keras.models.load_model(path).optimizer
    out["models"][path] = {
        "class": type(opt).__name__,
        "name": opt.name,
        "config": opt.get_config(),
        "state": [[v.path, np.asarray(v.numpy()).tolist()] for v in opt.variables],
    }
out["keras3r_imported"] = "keras3r" in sys.modules
print(json.dumps(out))
"""


def test_saved_models_load_without_keras3r(tensorflow: None, tmp_path: Path) -> None:
    models = {}
    for name in sorted(SETTINGS):
        model = _model(name)
        fit(model, 1)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        models[str(path)] = model
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_LOADER, *models],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["keras3r_imported"] is False
    for path, model in models.items():
        loaded, opt = report["models"][path], model.optimizer
        assert loaded["class"] == type(opt).__name__
        assert loaded["name"] == opt.name
        assert loaded["config"] == json.loads(json.dumps(opt.get_config()))
        state = _state(opt)
        assert [re.sub(r"^([^/]+)/mlp_", r"\1/", p) for p, _ in loaded["state"]] == list(state)
        for (key, value), (_, got) in zip(state.items(), loaded["state"]):
            np.testing.assert_array_equal(np.asarray(got, value.dtype), value, err_msg=key)
