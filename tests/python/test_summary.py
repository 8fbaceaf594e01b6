"""keras3r.summary: the data that R's print() and format() word (R/print.R)."""

from __future__ import annotations

import keras
import pytest

import keras3r
from keras3r.spec import SPECS
from keras3r.summary import defaults_of, summarize
from required_values import REQUIRED_VALUES


def test_an_optimizer_at_its_defaults_lists_no_settings() -> None:
    summary = summarize(keras3r.optimizer_adam_w())
    assert summary["kind"] == "optimizer"
    assert (summary["class_name"], summary["name"]) == ("AdamW", "adamw")
    assert summary["learning_rate"] == pytest.approx(0.001)
    assert summary["settings"] == []


def test_settings_that_differ_are_listed_in_argument_order() -> None:
    opt = keras3r.optimizer_adam_w(
        gradient_accumulation_steps=4, amsgrad=True, weight_decay=0.1, name="w"
    )
    summary = summarize(opt)
    assert summary["name"] == "w"
    assert summary["settings"] == [
        ["weight_decay", 0.1],
        ["amsgrad", True],
        ["gradient_accumulation_steps", 4],
    ]


def test_a_schedule_as_rate_is_summarized_with_its_settings() -> None:
    schedule = keras3r.learning_rate_schedule_cosine_decay(0.1, 1000, alpha=0.1)
    rate = summarize(keras3r.optimizer_sgd(learning_rate=schedule))["learning_rate"]
    assert rate["kind"] == "schedule" and rate["class_name"] == "CosineDecay"
    assert rate["settings"] == [
        ["initial_learning_rate", 0.1],
        ["decay_steps", 1000],
        ["alpha", 0.1],
    ]
    function_rate = summarize(keras3r.optimizer_sgd(learning_rate=lambda: 0.1))
    assert function_rate["learning_rate"] == {"kind": "function"}


def test_a_wrapper_shows_its_inner_optimizer_and_its_rate() -> None:
    opt = keras3r.optimizer_loss_scale(keras3r.optimizer_adam(beta_1=0.8), initial_scale=1024)
    summary = summarize(opt)
    assert summary["learning_rate"] == pytest.approx(0.001)
    settings = dict(summary["settings"])
    assert settings["inner_optimizer"]["settings"] == [["beta_1", 0.8]]
    assert settings["initial_scale"] == 1024.0


def test_plain_keras_objects_compare_with_keras3r_defaults() -> None:
    summary = summarize(keras.optimizers.RMSprop(rho=0.8))
    assert summary["settings"] == [["rho", 0.8]]
    # A class that no keras3r function builds: Keras's own defaults.
    defaults, required = defaults_of(keras.optimizers.schedules.LearningRateSchedule)
    assert required == [] and defaults == {}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_default_object_has_no_settings_but_its_required_ones(name: str) -> None:
    spec = SPECS[name]
    required = {}
    for arg in spec.args:
        if arg.required:
            if arg.name in ("inner_optimizer", "default_optimizer"):
                required[arg.name] = keras3r.optimizer_adam()
            elif arg.name == "optimizer_map":
                required[arg.name] = keras3r.optimizer_map(keras3r.optimizer_adam())
            elif arg.name in REQUIRED_VALUES:
                required[arg.name] = REQUIRED_VALUES[arg.name]
            else:
                pytest.skip(f"no value here for the required argument `{arg.name}`")
    summary = summarize(getattr(keras3r, name)(**required))
    assert [key for key, _ in summary["settings"]] == list(required)
    if name == "optimizer_map":
        assert summary["kind"] == "object"  # an OptimizerMap is no optimizer itself
    else:
        assert summary["kind"] == ("optimizer" if spec.family == "optimizers" else "schedule")
