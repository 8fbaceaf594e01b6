"""The six learning-rate schedules of keras3 R 1.1.0."""

from __future__ import annotations

from typing import Any

from keras3r.checks import Boolean, Integer, RealList, Text
from keras3r.refusals import ArgumentError
from keras3r.spec import shared
from keras3r.spec.model import Arg, FunctionSpec
from keras3r.spec.spelling import python_call

FAMILY = "learning rate schedules"

INITIAL = Arg(
    "initial_learning_rate", None, shared.NON_NEGATIVE, "Float. The learning rate at step 0."
)
DECAY_STEPS = Arg(
    "decay_steps",
    None,
    Integer(low=1),
    "Int, at least 1. The number of steps over which the rate decays. A double "
    "such as `1000` is accepted and passed on as an integer.",
)
# Keras reads None as False here; keras3 R passes NULL on as None.
STAIRCASE = Arg(
    "staircase",
    "FALSE",
    Boolean(optional=True),
    "Boolean. If `TRUE`, `step / decay_steps` is rounded down, so the rate drops "
    "in steps rather than continuously. Defaults to `FALSE`.",
)


def _name(default: str) -> Arg:
    # Keras fails on None or "/" in a schedule's name, but only at its first call.
    return Arg("name", default, Text(forbidden="/"), f"String. The name of the schedule. Defaults to `{default}`.")


def _examples(call: str, rates: str, keras_class: str) -> tuple[str, str]:
    """One small example, the same steps in R and in Python, for a schedule.

    `call` is written once, in R; the Python example spells it in Python.
    `rates` is how Python prints the rates at steps 0, 500 and 1000 (the
    docstring's doctest checks it, as it checks the class).
    """
    r = (
        f"lr <- {call}\n"
        "lr  # its class and settings\n"
        "py_float <- reticulate::import_builtins()$float\n"
        "# the rate at steps 0, 500 and 1000\n"
        "round(sapply(c(0, 500, 1000), function(step) py_float(lr(step))), 6)\n"
        "opt <- optimizer_sgd(learning_rate = lr)\n"
        "py_float(opt$learning_rate)  # the rate of its first step"
    )
    first = rates.strip("[]").split(",")[0].strip()
    py = (
        f">>> lr = {python_call(call)}\n"
        ">>> type(lr).__name__\n"
        f"{keras_class!r}\n"
        ">>> [round(float(lr(step)), 6) for step in (0, 500, 1000)]\n"
        f"{rates}\n"
        ">>> opt = optimizer_sgd(learning_rate=lr)\n"
        ">>> round(float(opt.learning_rate), 6)  # the rate of its first step\n"
        f"{first}"
    )
    return r, py


def _schedule(
    fn: str,
    keras_class: str,
    title: str,
    description: str,
    args: list[Arg],
    call: tuple[str, str],  # the example's call, in R, and the rates it gives
    rules: tuple = (),
) -> FunctionSpec:
    example, python_example = _examples(*call, keras_class)
    return FunctionSpec(
        name=fn,
        keras_class=f"optimizers.schedules.{keras_class}",
        family=FAMILY,
        title=title,
        description=description,
        args=tuple(args),
        value=shared.SCHEDULE_VALUE,
        example=example,
        python_example=python_example,
        rules=rules,
    )


def _warmup_needs_steps(values: dict[str, Any]) -> None:
    # Keras reads warmup_steps only with a warmup_target, and then fails on
    # None at the schedule's first call.
    if values["warmup_target"] is not None and values["warmup_steps"] is None:
        raise ArgumentError(
            "`warmup_steps` must be a whole number >= 0 when `warmup_target` is set, "
            "not {null}.",
            arguments=("warmup_steps", "warmup_target"),
        )


COSINE_DECAY = _schedule(
    "learning_rate_schedule_cosine_decay",
    "CosineDecay",
    "A learning rate that follows half a cosine wave, after an optional warmup.",
    "Over `decay_steps` steps the rate falls from `initial_learning_rate` along a "
    "half cosine, to `alpha * initial_learning_rate`, and stays there: "
    "`rate = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * step / "
    "decay_steps)) + alpha)`. With `warmup_target` set, the rate first rises "
    "linearly from `initial_learning_rate` to `warmup_target` over `warmup_steps` "
    "steps, and the cosine then starts from `warmup_target`. This is the schedule "
    "of Loshchilov and Hutter's SGDR paper without restarts.",
    [
        INITIAL,
        DECAY_STEPS,
        Arg("alpha", "0", shared.UNIT, "Float between 0 and 1. The final rate, as a fraction of the starting one. Defaults to `0`."),
        _name('"CosineDecay"'),
        Arg("warmup_target", "NULL", shared.OPTIONAL_NON_NEGATIVE, "Float or `NULL`. The rate that the warmup climbs to. `NULL` means no warmup."),
        Arg("warmup_steps", "0L", Integer(low=0, optional=True), "Int. The length of the warmup in steps. Defaults to `0L`."),
    ],
    (
        "learning_rate_schedule_cosine_decay(0.1, decay_steps = 1000)",
        "[0.1, 0.05, 0.0]",
    ),
    rules=(_warmup_needs_steps,),
)

COSINE_DECAY_RESTARTS = _schedule(
    "learning_rate_schedule_cosine_decay_restarts",
    "CosineDecayRestarts",
    "A cosine decay of the learning rate that restarts periodically.",
    "The rate follows a half cosine from `initial_learning_rate` down to `alpha` "
    "times it, as in [learning_rate_schedule_cosine_decay()], and then jumps back "
    "up (a warm restart). The first period lasts `first_decay_steps` steps; each "
    "later one is `t_mul` times longer than the one before and starts from `m_mul` "
    "times the previous starting rate. This is SGDR, stochastic gradient descent "
    "with warm restarts.",
    [
        INITIAL,
        Arg("first_decay_steps", None, Integer(low=1), "Int, at least 1. The length of the first period in steps."),
        Arg("t_mul", "2", shared.POSITIVE, "Float. Each period is this many times longer than the one before. Defaults to `2`."),
        Arg("m_mul", "1", shared.NON_NEGATIVE, "Float. Each period starts from this fraction of the previous period's starting rate. Defaults to `1`."),
        Arg("alpha", "0", shared.UNIT, "Float between 0 and 1. The lowest rate of each period, as a fraction of its starting rate. Defaults to `0`."),
        _name('"SGDRDecay"'),
    ],
    (
        "learning_rate_schedule_cosine_decay_restarts(0.1, first_decay_steps = 400)",
        "[0.1, 0.096194, 0.014645]",
    ),
)

EXPONENTIAL_DECAY = _schedule(
    "learning_rate_schedule_exponential_decay",
    "ExponentialDecay",
    "A learning rate that decays exponentially.",
    "The rate is `initial_learning_rate * decay_rate ^ (step / decay_steps)`: it "
    "is multiplied by `decay_rate` every `decay_steps` steps, smoothly, or at once "
    "at each multiple of `decay_steps` when `staircase = TRUE`.",
    [
        INITIAL,
        DECAY_STEPS,
        Arg("decay_rate", None, shared.POSITIVE, "Float above 0. The factor applied every `decay_steps` steps."),
        STAIRCASE,
        _name('"ExponentialDecay"'),
    ],
    (
        "learning_rate_schedule_exponential_decay(0.1, decay_steps = 500, decay_rate = 0.5)",
        "[0.1, 0.05, 0.025]",
    ),
)

INVERSE_TIME_DECAY = _schedule(
    "learning_rate_schedule_inverse_time_decay",
    "InverseTimeDecay",
    "A learning rate that decays with the inverse of time.",
    "The rate is `initial_learning_rate / (1 + decay_rate * step / decay_steps)`: "
    "after `k * decay_steps` steps it is `1 / (1 + k * decay_rate)` of the initial "
    "rate. With `staircase = TRUE`, `step / decay_steps` is rounded down first.",
    [
        INITIAL,
        DECAY_STEPS,
        Arg("decay_rate", None, shared.NON_NEGATIVE, "Float, zero or above. How fast the rate falls."),
        STAIRCASE,
        _name('"InverseTimeDecay"'),
    ],
    (
        "learning_rate_schedule_inverse_time_decay(0.1, decay_steps = 500, decay_rate = 1)",
        "[0.1, 0.05, 0.033333]",
    ),
)


def _one_more_value(values: dict[str, Any]) -> None:
    boundaries, rates = values["boundaries"], values["values"]
    if len(rates) != len(boundaries) + 1:
        raise ArgumentError(
            f"`values` must hold one more element than `boundaries`: got {len(rates)} "
            f"values for {len(boundaries)} boundaries.",
            arguments=("values", "boundaries"),
        )


PIECEWISE_CONSTANT_DECAY = _schedule(
    "learning_rate_schedule_piecewise_constant_decay",
    "PiecewiseConstantDecay",
    "A learning rate that is constant between given step boundaries.",
    "The rate is `values[1]` up to step `boundaries[1]`, `values[2]` from there "
    "up to step `boundaries[2]`, and so on; after the last boundary it is the "
    "last element of `values`.",
    [
        Arg("boundaries", None, RealList(increasing=True), "A numeric vector of step numbers, strictly increasing."),
        Arg("values", None, RealList(), "A numeric vector of rates, one more than `boundaries`."),
        _name('"PiecewiseConstant"'),
    ],
    (
        "learning_rate_schedule_piecewise_constant_decay(c(300, 600), c(0.1, 0.01, 0.001))",
        "[0.1, 0.01, 0.001]",
    ),
    rules=(_one_more_value,),
)

POLYNOMIAL_DECAY = _schedule(
    "learning_rate_schedule_polynomial_decay",
    "PolynomialDecay",
    "A learning rate that decays along a polynomial.",
    "Over `decay_steps` steps the rate goes from `initial_learning_rate` to "
    "`end_learning_rate`: `rate = (initial_learning_rate - end_learning_rate) * "
    "(1 - step / decay_steps) ^ power + end_learning_rate`, with `step` capped at "
    "`decay_steps`. With `power = 1` (the default) the decay is linear. With "
    "`cycle = TRUE` the decay starts again, over a span stretched to the next "
    "multiple of `decay_steps`, instead of staying at the end rate.",
    [
        INITIAL,
        DECAY_STEPS,
        Arg("end_learning_rate", "1e-04", shared.NON_NEGATIVE, "Float. The rate at the end of the decay. Defaults to `1e-4`."),
        Arg("power", "1", shared.POSITIVE, "Float above 0. The power of the polynomial. Defaults to `1`."),
        Arg("cycle", "FALSE", Boolean(optional=True), "Boolean. Whether to start the decay again after `decay_steps`. Defaults to `FALSE`."),
        _name('"PolynomialDecay"'),
    ],
    (
        "learning_rate_schedule_polynomial_decay(0.1, decay_steps = 1000, power = 2)",
        "[0.1, 0.025075, 0.0001]",
    ),
)

SCHEDULES: tuple[FunctionSpec, ...] = (
    COSINE_DECAY,
    COSINE_DECAY_RESTARTS,
    EXPONENTIAL_DECAY,
    INVERSE_TIME_DECAY,
    PIECEWISE_CONSTANT_DECAY,
    POLYNOMIAL_DECAY,
)
