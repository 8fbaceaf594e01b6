"""optimizer_adam_w keeps its state through model.save() and load_model().

A small model trains with keras3r's AdamW using EMA (with overwriting) and
gradient accumulation, the two features whose state is easiest to lose:
EPOCHS epochs in one go, against EPOCHS / 2 epochs, save to .keras, load, and
EPOCHS / 2 more. Weights and every optimizer variable (moments, iteration
counter, EMA averages, gradient accumulators) must come out equal.

One Keras behaviour shapes the set-up: fit() ends by copying the EMA averages
into the weights (finalize_variable_values). A run cut in two therefore gets
one extra copy at the cut, unless the cut falls just after an EMA overwrite,
when the copy changes nothing. The schedule below puts it there, and puts it
between two halves of an accumulation, so that the pending gradients must
survive the save.

The .keras file must then load in a fresh Python that never imports keras3r.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import keras3r
from resume_problem import BATCH, EPOCHS, SAMPLES, fit, mlp

# The model, its data and EPOCHS: resume_problem.py (15 steps, odd, before the cut).
ACCUMULATION = 2
EMA_FREQUENCY = 4
OPTIMIZER_ARGS = {
    "learning_rate": 0.01,
    "weight_decay": 0.01,
    "use_ema": True,
    "ema_momentum": 0.9,
    "ema_overwrite_frequency": EMA_FREQUENCY,
    "gradient_accumulation_steps": ACCUMULATION,
}
# Equality up to this: the same float32 operations in the same order give the
# same bits; the margin only allows for a different kernel choice after loading.
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def keras_tf() -> Any:
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.fail("test_state.py expects the TensorFlow backend in the pytest process")
    return keras


def _model() -> Any:
    return mlp(lambda: keras3r.optimizer_adam_w(**OPTIMIZER_ARGS))


def _optimizer_state(opt: Any) -> dict[str, np.ndarray]:
    """The optimizer's variables in their order (which is how .keras stores them).

    Keys are the paths without the model's name, which a model built in
    Python has ("adamw/mlp_hidden_kernel_momentum") and a loaded one lacks.
    """
    return {
        re.sub(r"^adamw/mlp_", "adamw/", v.path): np.asarray(v.numpy()) for v in opt.variables
    }


def test_the_cut_is_where_the_state_is_hardest():
    """The schedule's premises: the cut splits an accumulation, after an overwrite."""
    steps_before_cut = (SAMPLES // BATCH) * EPOCHS // 2
    assert steps_before_cut % ACCUMULATION != 0
    last = steps_before_cut - 1  # raw iteration of the last step before the cut
    assert (last // ACCUMULATION + 1) % EMA_FREQUENCY == 0


def test_resume_after_save_and_load_equals_uninterrupted(
    keras_tf, tmp_path, record_property, figures
):
    keras = keras_tf
    straight = _model()
    fit(straight, EPOCHS)

    first = _model()
    fit(first, EPOCHS // 2)
    saved_state = _optimizer_state(first.optimizer)
    accumulators = [v for k, v in saved_state.items() if k.endswith("gradient_accumulator")]
    assert accumulators and any(np.any(a != 0) for a in accumulators), (
        "the cut should leave gradients waiting in the accumulators"
    )
    path = tmp_path / "half.keras"
    first.save(path)

    resumed = keras.models.load_model(path)
    opt = resumed.optimizer
    assert isinstance(opt, keras.optimizers.AdamW)
    assert opt.name == "adamw"
    assert opt.get_config() == first.optimizer.get_config()
    loaded_state = _optimizer_state(opt)
    assert list(loaded_state) == list(saved_state)
    for key, value in saved_state.items():
        np.testing.assert_array_equal(loaded_state[key], value, err_msg=key)
    fit(resumed, EPOCHS // 2)

    diffs = {}
    for i, (a, b) in enumerate(zip(straight.get_weights(), resumed.get_weights())):
        diffs[f"weight {i}"] = float(np.max(np.abs(a - b)))
    want, got = _optimizer_state(straight.optimizer), _optimizer_state(resumed.optimizer)
    assert list(want) == list(got)
    kinds = {"momentum", "velocity", "average", "gradient_accumulator", "iteration"}
    assert all(any(k.endswith(kind) for k in want) for kind in kinds), sorted(want)
    for key in want:
        diffs[key] = float(np.max(np.abs(want[key].astype("float64") - got[key])))
    iterations = int(got["adamw/iteration"])
    assert iterations == int(want["adamw/iteration"]) == (SAMPLES // BATCH) * EPOCHS

    worst = max(diffs.values())
    record_property("resume_max_abs_difference", worst)
    print(f"resume after save/load vs uninterrupted: max abs difference {worst:.3g}")
    (figures / "resume_difference.json").write_text(
        json.dumps({"max_abs_difference": worst, "per_variable": diffs}, indent=2) + "\n"
    )
    assert worst <= TOLERANCE, {k: v for k, v in diffs.items() if v > TOLERANCE}
    # And the training did move: equal because resumed, not because nothing happened.
    assert np.max(np.abs(straight.get_weights()[0] - first.get_weights()[0])) > 1e-3


FRESH_LOADER = r"""
import json, os, sys
import numpy as np
import keras
model = keras.models.load_model(sys.argv[1])
opt = model.optimizer
print(json.dumps({
    "keras3r_imported": "keras3r" in sys.modules,
    "backend": keras.backend.backend(),
    "is_adamw": isinstance(opt, keras.optimizers.AdamW),
    "class": type(opt).__name__,
    "name": opt.name,
    "config": opt.get_config(),
    "state": [[v.path, np.asarray(v.numpy()).tolist()] for v in opt.variables],
}))
"""


def test_saved_model_loads_without_keras3r(keras_tf, tmp_path):
    model = _model()
    fit(model, 1)
    path = tmp_path / "model.keras"
    model.save(path)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_LOADER, str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["keras3r_imported"] is False
    assert report["backend"] == "tensorflow"
    assert report["is_adamw"] and report["class"] == "AdamW"
    assert report["name"] == "adamw"
    assert report["config"] == json.loads(json.dumps(model.optimizer.get_config()))
    state = _optimizer_state(model.optimizer)
    assert [path for path, _ in report["state"]] == list(state)
    for (key, value), (_, loaded) in zip(state.items(), report["state"]):
        np.testing.assert_array_equal(np.asarray(loaded), value, err_msg=key)
