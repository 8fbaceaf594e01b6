"""What the functions build: Keras classes with R's defaults, coerced arguments, refusals."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import keras3r
from keras3r.build import keras_class
from keras3r.for_r import build
from keras3r.refusals import ArgumentError, ArgumentTypeError, Refusal
from keras3r.spec import SPECS
from required_values import REQUIRED_VALUES


def required_args(name: str) -> dict:
    spec = SPECS[name]
    out = {}
    for arg in spec.args:
        if arg.required:
            if arg.name in ("inner_optimizer", "default_optimizer"):
                out[arg.name] = keras3r.optimizer_adam()
            elif arg.name == "optimizer_map":  # optimizer_multi(): the map itself
                out[arg.name] = keras3r.optimizer_map(keras3r.optimizer_adam())
            else:
                out[arg.name] = REQUIRED_VALUES[arg.name]
    return out


@pytest.mark.parametrize("name", sorted(SPECS))
def test_defaults_build_the_named_keras_class_with_r_defaults(name: str) -> None:
    spec = SPECS[name]
    obj = getattr(keras3r, name)(**required_args(name))
    cls = keras_class(spec)
    assert type(obj) is cls
    # Keras's own class, given R's defaults one by one, has the same config.
    given = {a.name: a.default for a in spec.args if not a.required}
    if spec.pass_after_dots_only_when_given:
        given = {k: v for k, v in given.items() if v is not None}
    reference = cls(**required_args(name), **given)
    ours, theirs = obj.get_config(), reference.get_config()
    if given.get("name") is None and "name" in ours:  # NULL: Keras numbers the names it picks
        assert ours.pop("name").startswith(theirs.pop("name").rsplit("_", 1)[0])
    assert ours == theirs


def test_r_names_win_over_keras_names() -> None:
    # (An optimizer map has no name.)
    names = {n: getattr(getattr(keras3r, n)(**required_args(n)), "name", None) for n in SPECS}
    assert names["optimizer_adam_w"] == "adamw"
    assert names["optimizer_sgd"] == "SGD"
    assert names["learning_rate_schedule_cosine_decay_restarts"] == "SGDRDecay"
    assert names["learning_rate_schedule_piecewise_constant_decay"] == "PiecewiseConstant"


@pytest.mark.parametrize(
    ("name", "argument", "given", "expected"),
    [
        ("optimizer_adam_w", "ema_overwrite_frequency", 5.0, 5),
        ("optimizer_adam_w", "gradient_accumulation_steps", 4.0, 4),
        ("optimizer_loss_scale", "dynamic_growth_steps", 100.0, 100),
        ("learning_rate_schedule_cosine_decay", "decay_steps", 1000.0, 1000),
        ("learning_rate_schedule_cosine_decay", "warmup_steps", 10.0, 10),
        ("learning_rate_schedule_cosine_decay_restarts", "first_decay_steps", 50.0, 50),
        ("learning_rate_schedule_polynomial_decay", "decay_steps", 7.0, 7),
        ("optimizer_muon", "ns_steps", 6.0, 6),
        ("optimizer_schedule_free_adam_w", "warmup_steps", 100.0, 100),
        ("optimizer_lamb", "gradient_accumulation_steps", 3.0, 3),
    ],
)
def test_whole_doubles_become_ints(name: str, argument: str, given: float, expected: int) -> None:
    args = required_args(name) | {argument: given}
    if argument == "ema_overwrite_frequency":
        args["use_ema"] = True
    obj = getattr(keras3r, name)(**args)
    value = obj.get_config()[argument]
    assert value == expected and type(value) is int


def test_learning_rate_as_integer_becomes_float() -> None:
    # Keras itself refuses learning_rate=1 (an int): R users pass 1L.
    with pytest.raises(ValueError):
        keras.optimizers.AdamW(learning_rate=1)
    assert keras3r.optimizer_adam_w(learning_rate=1).get_config()["learning_rate"] == 1.0


def _one_step(opt: keras.optimizers.Optimizer) -> float:
    w = keras.Variable(np.zeros(2, "float32"))
    opt.apply([keras.ops.ones(2)], [w])
    return float(keras.ops.convert_to_numpy(w)[0])


def test_learning_rate_takes_a_number_a_schedule_or_a_callable() -> None:
    by_number = _one_step(keras3r.optimizer_sgd(learning_rate=0.5))
    schedule = keras3r.learning_rate_schedule_exponential_decay(0.5, 10, 0.1)
    by_schedule = _one_step(keras3r.optimizer_sgd(learning_rate=schedule))
    calls = []

    def rate() -> float:
        calls.append(1)
        return 0.25

    by_callable = _one_step(keras3r.optimizer_sgd(learning_rate=rate))
    assert by_number == pytest.approx(-0.5)
    assert by_schedule == pytest.approx(-0.5)  # step 0 of the schedule
    assert by_callable == pytest.approx(-0.25) and calls


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [
        ({"learning_rate": math.nan}, ValueError, "learning_rate"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
        ({"beta_1": math.nan}, ValueError, "beta_1"),
        ({"beta_2": 1.5}, ValueError, "beta_2"),
        ({"epsilon": math.inf}, ValueError, "epsilon"),
        ({"weight_decay": None}, TypeError, "weight_decay"),
        ({"amsgrad": "yes"}, TypeError, "amsgrad"),
        ({"amsgrad": 1}, TypeError, "amsgrad"),
        ({"use_ema": True, "ema_momentum": None}, ValueError, "ema_momentum"),
        ({"name": "a/b"}, ValueError, "name"),
        ({"gradient_accumulation_steps": 0}, ValueError, "gradient_accumulation_steps"),
        ({"gradient_accumulation_steps": 2.5}, ValueError, "gradient_accumulation_steps"),
        ({"gradient_accumulation_steps": True}, TypeError, "gradient_accumulation_steps"),
        ({"ema_overwrite_frequency": 0}, ValueError, "ema_overwrite_frequency"),
        ({"ema_momentum": 1.5}, ValueError, "ema_momentum"),
        ({"clipnorm": -1.0}, ValueError, "clipnorm"),
        ({"clipnorm": 1.0, "global_clipnorm": 1.0}, ValueError, "global_clipnorm"),
        ({"loss_scale_factor": 0.0}, ValueError, "loss_scale_factor"),
        ({"name": ""}, ValueError, "name"),
        ({"name": 3}, TypeError, "name"),
        ({"lr": 0.1}, TypeError, "lr"),
        ({"momentum": 0.9}, TypeError, "momentum"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(kwargs: dict, error: type, argument: str) -> None:
    with pytest.raises(error, match=f"`{argument}`"):
        keras3r.optimizer_adam_w(**kwargs)


def test_refusals_carry_their_fields_and_speak_python() -> None:
    with pytest.raises(TypeError) as caught:
        keras3r.optimizer_sgd(momentum=True)
    error = caught.value
    assert isinstance(error, Refusal) and isinstance(error, ArgumentTypeError)
    assert str(error) == "optimizer_sgd(): `momentum` must be a number in [0, 1], not True."
    assert (error.function, error.argument, error.value) == ("optimizer_sgd", "momentum", True)
    assert error.template == "`{arg}` must be a number in [0, 1], not {value}."
    # The same template in R's words, as keras3r's R side renders it.
    in_r = error.message_in_r("TRUE")
    assert in_r == "optimizer_sgd(): `momentum` must be a number in [0, 1], not TRUE."
    with pytest.raises(TypeError) as caught:
        keras3r.learning_rate_schedule_piecewise_constant_decay([1.0, "a"], [0.1, 0.2, 0.3])
    assert "`boundaries[1]` must be a finite number, not 'a'." in str(caught.value)
    assert (caught.value.argument, caught.value.index) == ("boundaries", 1)
    # R counts elements from 1 and names them with [[ ]].
    assert "`boundaries[[2]]` must be a finite number, not \"a\"." in (
        caught.value.message_in_r('"a"')
    )
    with pytest.raises(TypeError, match="`use_ema` must be True or False, not 'yes'"):
        keras3r.optimizer_sgd(use_ema="yes")
    with pytest.raises(TypeError, match="`learning_rate` must not be None"):
        keras3r.optimizer_sgd(learning_rate=None)


def test_the_r_entry_returns_refusals_and_warnings_and_raises_the_rest() -> None:
    built, refusal, warned = build("optimizer_sgd", momentum=0.5)
    assert isinstance(built, keras.optimizers.SGD) and refusal is None and warned == []
    built, refusal, warned = build("optimizer_sgd", momentum=True)
    assert built is None and warned == []
    assert refusal == {
        "message_parts": ["optimizer_sgd(): `momentum` must be a number in [0, 1], not ", "."],
        "arguments": ["momentum"],
        "index": None,
        "has_value": True,
        "value": True,
    }
    _, refusal, _ = build("learning_rate_schedule_piecewise_constant_decay", boundaries=[1.0, "a"],
                          values=[0.1, 0.2, 0.3])
    assert refusal is not None and (refusal["index"], refusal["value"]) == (1, "a")
    assert refusal["message_parts"][0].endswith("`boundaries[[2]]` must be a finite number, not ")
    # keras3r's own warnings come back for R to signal; the object is built.
    built, refusal, warned = build("optimizer_multi", optimizer_map=lambda v: None)
    assert isinstance(built, keras.optimizers.MultiOptimizer) and refusal is None
    assert [category for category, _ in warned] == ["UnsavableOptimizerWarning"]
    assert "cannot be saved and loaded again" in warned[0][1]
    with pytest.raises(AttributeError):  # not a refusal: raised as it is
        build("optimizer_no_such_thing")


# Where keras3 R passes NULL on to Keras and Keras builds a working object,
# keras3r passes None on too: the object is keras3 R's, config included.
NONES_KERAS_TAKES = [
    ("optimizer_adam_w", "name"),
    ("optimizer_sgd", "name"),
    ("optimizer_adam", "amsgrad"),
    ("optimizer_adam_w", "use_ema"),
    ("optimizer_adam_w", "ema_momentum"),
    ("optimizer_adafactor", "relative_step"),
    ("optimizer_rmsprop", "centered"),
    ("optimizer_sgd", "nesterov"),
    ("learning_rate_schedule_exponential_decay", "staircase"),
    ("learning_rate_schedule_inverse_time_decay", "staircase"),
    ("learning_rate_schedule_polynomial_decay", "cycle"),
    ("learning_rate_schedule_cosine_decay", "warmup_steps"),
    ("optimizer_muon", "weight_decay"),
    ("optimizer_muon", "adam_weight_decay"),
    ("optimizer_lamb", "name"),
]


@pytest.mark.parametrize(("name", "argument"), NONES_KERAS_TAKES)
def test_none_is_passed_on_where_keras_takes_it(name: str, argument: str) -> None:
    args = required_args(name) | {argument: None}
    ours = getattr(keras3r, name)(**args)
    spec = SPECS[name]
    keras_args = {a.name: a.default for a in spec.args if not a.required} | args
    stock = keras_class(spec)(**keras_args)
    ours_config, stock_config = ours.get_config(), stock.get_config()
    if argument != "name":
        assert ours_config == stock_config
    else:
        # Keras names it itself, from the class name, numbered when taken.
        assert ours_config["name"].startswith(stock_config["name"].split("_")[0])
    if spec.family == "optimizers":
        w = keras.Variable(np.ones(2, "float32"))
        ours.apply([keras.ops.ones(2)], [w])
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(w)))
    else:
        assert all(math.isfinite(float(ours(step))) for step in (0, 5, 50))


def test_none_is_refused_where_keras_would_fail_later() -> None:
    with pytest.raises(ValueError, match="`ema_momentum`.*`use_ema` is True, not None"):
        keras3r.optimizer_adam(use_ema=True, ema_momentum=None)
    with pytest.raises(ValueError, match="`warmup_steps`"):
        keras3r.learning_rate_schedule_cosine_decay(0.1, 10, warmup_target=0.2, warmup_steps=None)
    with pytest.raises(TypeError, match="`name` must not be None"):
        keras3r.learning_rate_schedule_cosine_decay(0.1, 10, name=None)
    with pytest.raises(TypeError, match="`beta_1` must not be None"):
        keras3r.optimizer_adam(beta_1=None)


def test_loss_scale_refuses_inner_settings_by_name() -> None:
    inner = keras3r.optimizer_adam()
    expected = "`use_ema` belongs on `inner_optimizer`.*, not True"
    with pytest.raises(ValueError, match=expected) as caught:
        keras3r.optimizer_loss_scale(inner, use_ema=True)
    assert isinstance(caught.value, Refusal)
    # The base class's own defaults are what Keras takes, and so does keras3r.
    keras3r.optimizer_loss_scale(inner, use_ema=False, ema_momentum=0.99)


def test_canary_stock_keras_still_keeps_what_keras3r_refuses() -> None:
    """A canary for Keras changing: the refusals above are keras3r's own.

    Stock Keras builds these optimizers without a word and keeps the bad value.
    When this fails, Keras has started checking one of them itself: keras3r's
    check (and the README's list of refusals) can then defer to Keras's.
    """
    assert math.isnan(float(keras.optimizers.AdamW(learning_rate=math.nan).learning_rate))
    assert keras.optimizers.AdamW(amsgrad="yes").amsgrad == "yes"
    accumulating = keras.optimizers.AdamW(gradient_accumulation_steps=2.5)
    assert accumulating.gradient_accumulation_steps == 2.5


def test_old_names_get_a_suggestion() -> None:
    with pytest.raises(TypeError, match="did you mean `learning_rate`"):
        keras3r.optimizer_adam_w(lr=0.1)
    with pytest.raises(TypeError, match="did you mean `clipnorm`"):
        keras3r.optimizer_adam_w(clip_norm=1.0)
    with pytest.raises(TypeError, match="optimizer_adam_w\\(\\)"):
        keras3r.optimizer_adam_w(foo=1)


def test_schedule_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="`decay_steps`"):
        keras3r.learning_rate_schedule_cosine_decay(0.1, 0)
    with pytest.raises(ValueError, match="`values`"):
        keras3r.learning_rate_schedule_piecewise_constant_decay([10, 20], [0.1, 0.2])
    with pytest.raises(ValueError, match="`boundaries`"):
        keras3r.learning_rate_schedule_piecewise_constant_decay([20, 10], [0.1, 0.2, 0.3])


def test_piecewise_boundaries_and_values_are_kept_as_given() -> None:
    # Keras keeps the sequences it was given; so does keras3r, after checking them.
    for boundaries, values in (([5, 10], [1, 0.5, 0.25]), ((5, 10), (1.0, 0.5, 0.25))):
        ours = keras3r.learning_rate_schedule_piecewise_constant_decay(boundaries, values)
        stock = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        assert ours.get_config() == stock.get_config()
        assert type(ours.boundaries) is type(boundaries)
        assert [type(b) for b in ours.boundaries] == [type(b) for b in boundaries]
    from_array = keras3r.learning_rate_schedule_piecewise_constant_decay(
        np.array([5, 10]), np.array([1.0, 0.5, 0.25])
    )
    assert from_array.boundaries == [5, 10]
    assert [type(b) for b in from_array.boundaries] == [int, int]
    assert [type(v) for v in from_array.values] == [float] * 3


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: keras.layers.Dense(1), "a Keras layer"),
        (lambda: keras.Sequential([keras.layers.Dense(1)]), "a Keras model"),
        (lambda: keras.metrics.Mean(), "a Keras metric"),
        (lambda: keras.losses.MeanSquaredError(), "a Keras loss"),
    ],
)
def test_callable_keras_objects_are_not_rates(make, kind: str) -> None:
    # They take any arguments, so nothing but their kind tells them from a rate
    # function; Keras would call one at every step.
    with pytest.raises(ArgumentTypeError, match=f"`learning_rate` .* which is {kind}"):
        keras3r.optimizer_adam_w(learning_rate=make())
    with pytest.raises(ArgumentTypeError, match=f"which is {kind}"):
        keras3r.optimizer_lion(make())


def test_loss_scale_passes_on_only_what_is_given() -> None:
    inner = keras3r.optimizer_adam_w()
    opt = keras3r.optimizer_loss_scale(inner, initial_scale=1024, dynamic_growth_steps=10.0)
    assert type(opt) is keras.optimizers.LossScaleOptimizer
    assert opt.inner_optimizer is inner
    assert opt.initial_scale == 1024.0 and opt.dynamic_growth_steps == 10
    assert keras3r.optimizer_loss_scale(inner, name="scaled").name == "scaled"
    # Given, an argument reaches Keras, which refuses it on the wrapper: the
    # message still names it.
    with pytest.raises(ValueError, match="`clipnorm`"):
        keras3r.optimizer_loss_scale(inner, clipnorm=1.0)
    with pytest.raises(TypeError, match="`inner_optimizer`"):
        keras3r.optimizer_loss_scale("adam")


@pytest.mark.parametrize("name", sorted(n for n in SPECS if n.startswith("learning_rate")))
def test_schedules_change_the_rate_with_the_step(name: str) -> None:
    schedule = getattr(keras3r, name)(**required_args(name))
    rates = [float(schedule(step)) for step in (0, 15, 60, 200)]
    assert rates[0] == pytest.approx(0.1)
    assert rates[-1] < rates[0]
    optimizer = keras3r.optimizer_sgd(learning_rate=schedule)
    # Before its first step the optimizer reads the schedule at step 0.
    assert float(optimizer.learning_rate) == pytest.approx(rates[0])


def test_exponential_decay_follows_its_formula() -> None:
    schedule = keras3r.learning_rate_schedule_exponential_decay(0.1, 100, 0.5)
    for step in (0, 50, 100, 250):
        assert float(schedule(step)) == pytest.approx(0.1 * 0.5 ** (step / 100), rel=1e-6)


def test_training_a_small_model_lowers_the_loss() -> None:
    keras.utils.set_random_seed(1)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras3r.optimizer_adam_w(learning_rate=0.05), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.05 * losses[0]
    assert type(model.optimizer) is keras.optimizers.AdamW


@pytest.mark.parametrize(
    "name", sorted(n for n in SPECS if n.startswith("optimizer_") and n != "optimizer_map")
)
def test_a_schedule_drives_every_optimizer(name: str) -> None:
    """The rate each optimizer uses follows the schedule as the steps go by."""
    schedule = keras3r.learning_rate_schedule_piecewise_constant_decay([2], [0.1, 0.01])
    if name == "optimizer_loss_scale":
        opt = keras3r.optimizer_loss_scale(keras3r.optimizer_sgd(learning_rate=schedule))
        rate_of = opt.inner_optimizer
    elif name == "optimizer_multi":  # no rate of its own: its optimizers have one
        rate_of = keras3r.optimizer_sgd(learning_rate=schedule)
        opt = keras3r.optimizer_multi(keras3r.optimizer_map(rate_of))
    else:
        opt = getattr(keras3r, name)(learning_rate=schedule)
        rate_of = opt
    w = keras.Variable(np.ones(3, "float32"))
    rates = []
    for _ in range(4):
        rates.append(float(keras.ops.convert_to_numpy(rate_of.learning_rate)))
        opt.apply([keras.ops.ones(3)], [w])
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.01])


def test_the_base_arguments_of_an_optimizer_of_ones_own_are_checked() -> None:
    checked = keras3r.check_optimizer_arguments("my_optimizer", learning_rate=0.1, clipnorm=2)
    assert checked == {"learning_rate": 0.1, "clipnorm": 2.0}
    assert keras3r.check_optimizer_arguments(gradient_accumulation_steps=4.0) == {
        "gradient_accumulation_steps": 4
    }
    with pytest.raises(ArgumentError, match=r"^my_optimizer\(\): `clipnorm` must be a number > 0"):
        keras3r.check_optimizer_arguments("my_optimizer", clipnorm=-1)
    with pytest.raises(ArgumentError, match=r"Only one of `clipnorm`"):
        keras3r.check_optimizer_arguments("my_optimizer", clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ArgumentTypeError, match=r"`lr`; did you mean `learning_rate`"):
        keras3r.check_optimizer_arguments("my_optimizer", lr=0.1)
