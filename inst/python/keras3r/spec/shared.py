"""Arguments that several functions share, documented once.

The texts follow the keras3 R help page of `optimizer_adam_w` (the seed page),
which every optimizer of the family reuses, as Keras does with its shared
keyword documentation and roxygen2 with `@inheritParams`.
"""

from __future__ import annotations

import math

from keras3r.checks import Boolean, Integer, LearningRate, Real, Text
from keras3r.spec.model import Arg
from keras3r.spec.spelling import only_in

UNIT = Real(low=0.0, high=1.0)
UNIT_OPEN = Real(low=0.0, high=1.0, high_open=True)
NON_NEGATIVE = Real(low=0.0)
POSITIVE = Real(low=0.0, low_open=True)
OPTIONAL_NON_NEGATIVE = Real(low=0.0, optional=True)
OPTIONAL_POSITIVE = Real(low=0.0, low_open=True, optional=True)
FINITE = Real(low=-math.inf)

LEARNING_RATE_DOC = (
    "A float, a `LearningRateSchedule()` instance, or a callable that takes no "
    "arguments and returns the actual value to use. The learning rate. "
    "Defaults to `{default}`."
)


def learning_rate(default: str) -> Arg:
    return Arg("learning_rate", default, LearningRate(), LEARNING_RATE_DOC.format(default=default))


def weight_decay(default: str = "NULL") -> Arg:
    check = NON_NEGATIVE if default != "NULL" else OPTIONAL_NON_NEGATIVE
    return Arg("weight_decay", default, check, "Float. If set, weight decay is applied.")


def beta(which: int, default: str, check: Real = UNIT_OPEN) -> Arg:
    nth = {1: "1st", 2: "2nd"}[which]
    doc = (
        "A float value or a constant float tensor, or a callable that takes no "
        "arguments and returns the actual value to use. The exponential decay rate "
        f"for the {nth} moment estimates. Defaults to `{default}`."
    )
    return Arg(f"beta_{which}", default, check, doc)


def epsilon(doc: str = "A small constant for numerical stability.") -> Arg:
    return Arg("epsilon", "1e-07", NON_NEGATIVE, doc)


ADAM_EPSILON_DOC = (
    "A small constant for numerical stability. This epsilon is \"epsilon hat\" in "
    "the Kingma and Ba paper (in the formula just before Section 2.1), not the "
    "epsilon in Algorithm 1 of the paper. Defaults to 1e-7."
)

# Keras takes None for its on/off settings and reads it as False (keras3 R
# passes NULL on as None): keras3r passes NULL on too.
AMSGRAD = Arg(
    "amsgrad",
    "FALSE",
    Boolean(optional=True),
    "Boolean. Whether to apply AMSGrad variant of this algorithm from the paper "
    "\"On the Convergence of Adam and beyond\". Defaults to `FALSE`.",
)

CLIPNORM = Arg(
    "clipnorm",
    "NULL",
    OPTIONAL_POSITIVE,
    "Float. If set, the gradient of each weight is individually clipped so that "
    "its norm is no higher than this value.",
)
CLIPVALUE = Arg(
    "clipvalue",
    "NULL",
    OPTIONAL_POSITIVE,
    "Float. If set, the gradient of each weight is clipped to be no higher than "
    "this value.",
)
GLOBAL_CLIPNORM = Arg(
    "global_clipnorm",
    "NULL",
    OPTIONAL_POSITIVE,
    "Float. If set, the gradient of all weights is clipped so that their global "
    "norm is no higher than this value.",
)
USE_EMA = Arg(
    "use_ema",
    "FALSE",
    Boolean(optional=True),
    "Boolean, defaults to `FALSE`. If `TRUE`, exponential moving average (EMA) is "
    "applied. EMA consists of computing an exponential moving average of the "
    "weights of the model (as the weight values change after each training "
    "batch), and periodically overwriting the weights with their moving average.",
)
# NULL is taken where Keras takes None: while use_ema is off (see ema_rules).
EMA_MOMENTUM = Arg(
    "ema_momentum",
    "0.99",
    Real(low=0.0, high=1.0, optional=True),
    "Float, defaults to 0.99. Only used if `use_ema=TRUE`. This is the momentum to "
    "use when computing the EMA of the model's weights: `new_average = "
    "ema_momentum * old_average + (1 - ema_momentum) * current_variable_value`.",
)
EMA_OVERWRITE_FREQUENCY = Arg(
    "ema_overwrite_frequency",
    "NULL",
    Integer(low=1, optional=True),
    "Int or `NULL`, defaults to `NULL`. Only used if `use_ema=TRUE`. Every "
    "`ema_overwrite_frequency` steps of iterations, we overwrite the model variable "
    "by its moving average. If `NULL`, the optimizer does not overwrite model "
    "variables in the middle of training, and you need to explicitly overwrite the "
    "variables at the end of training by calling "
    "`optimizer$finalize_variable_values()` (which updates the model variables "
    "in-place). When using the built-in `fit()` training loop, this happens "
    "automatically after the last epoch, and you don't need to do anything.",
)


# Keras refuses "/" in a name (an optimizer at once, a schedule at its first
# call). NULL lets Keras name an optimizer itself, as from keras3 R.
OPTIMIZER_NAME = Text(optional=True, forbidden="/")


def name(default: str) -> Arg:
    return Arg(
        "name",
        default,
        OPTIMIZER_NAME,
        "String. The name to use for momentum accumulator weights created by the "
        "optimizer.",
    )


LOSS_SCALE_FACTOR = Arg(
    "loss_scale_factor",
    "NULL",
    OPTIONAL_POSITIVE,
    "Float or `NULL`. If a float, the scale factor will be multiplied the loss "
    "before computing gradients, and the inverse of the scale factor will be "
    "multiplied by the gradients before updating variables. Useful for preventing "
    "underflow during mixed precision training. Alternately, "
    "[optimizer_loss_scale()] will automatically set a loss scale factor.",
)
GRADIENT_ACCUMULATION_STEPS = Arg(
    "gradient_accumulation_steps",
    "NULL",
    Integer(low=2, optional=True),
    "Int or `NULL`. If an int, model & optimizer variables will not be updated at "
    "every step; instead they will be updated every `gradient_accumulation_steps` "
    "steps, using the average value of the gradients since the last update. This "
    "is known as \"gradient accumulation\". This can be useful when your batch size "
    "is very small, in order to reduce gradient noise at each update step.",
)

DOTS_DOC = "For forward/backward compatability."

# What a function given as `learning_rate` does differs by language: an R
# function is reached through reticulate, on R's main thread only.
RATE_FUNCTION_DETAILS = (
    only_in(
        "R",
        "A function given as `learning_rate` is called by Keras, in Python, whenever "
        "the rate is needed. An R function is reached through reticulate, and only on "
        "the main R thread: Keras can call it on every step only when the steps run "
        "eagerly (`compile(run_eagerly = TRUE)`, or `optimizer$apply()` called from "
        "R). A compiled step, the default of `fit()`, would call it once and keep "
        "that first value for ever, so keras3r stops such a step with an error "
        "instead. Eager steps are slower than compiled ones; for a rate that changes "
        "with the step, a `learning_rate_schedule_*()` runs inside the compiled step "
        "at no extra cost.",
    )
    + "\n\n"
    + only_in(
        "Python",
        "A function given as `learning_rate` is called by Keras with no arguments "
        "whenever the rate is needed: on every step when the steps run eagerly "
        "(`model.compile(run_eagerly=True)`, or `optimizer.apply()` outside a "
        "`tf.function` or `jax.jit`), but only once, while it is traced, in a compiled step, the "
        "default of `fit()`. A function that returns a plain number would then train "
        "with its first value for ever, so keras3r stops such a step with an error "
        "instead; one that returns a Keras variable stays live in a compiled step. "
        "For a rate that changes with the step, a `learning_rate_schedule_*()` runs "
        "inside the compiled step at no extra cost.",
    )
)

# Keras 3.15 documents this under `gradient_accumulation_steps`; keras3 R's
# page (the seed page, which the Arguments section reproduces) does not, so
# the facts are stated here, once, for every optimizer that takes the argument.
GRADIENT_ACCUMULATION_DETAILS = (
    "With `gradient_accumulation_steps`, two step counts differ. A learning-rate "
    "schedule is called with the number of batches seen: every call of "
    "`optimizer$apply()` counts, whether or not it updates the weights. "
    "`ema_overwrite_frequency`, and `optimizer$iterations`, count weight updates: "
    "batches divided by `gradient_accumulation_steps`, rounded down."
)

# Keras's own text for `beta_1` and `beta_2` (reproduced from the seed page)
# promises a callable, which Keras 3's update cannot take: it fails at the
# first step ("Failed to convert elements of <function> to Tensor"). The
# arguments keep Keras's text; what runs is said here.
NUMBER_ARGUMENTS_DETAILS = (
    "Wherever a number is asked for, a scalar tensor of any backend "
    "(`tf$constant(0.9)`, a JAX or torch scalar), a Keras variable, a NumPy scalar "
    "or a 0-d NumPy array is taken too, and checked as the number it holds; a "
    "tensor of more than one value is refused. A Keras variable given as "
    "`beta_1`, `beta_2`, `epsilon` or another setting stays live: Keras reads it "
    "at every step. A constant goes to Keras as its number, and so does a "
    "variable given as `learning_rate` (Keras keeps the rate in a variable of its "
    "own, `optimizer$learning_rate`, which may be assigned to). A function as "
    "`beta_1` or `beta_2` is refused: Keras 3 fails on it at the first step."
)

# The Details section of every optimizer that takes Keras's base arguments.
OPTIMIZER_DETAILS = "\n\n".join(
    (RATE_FUNCTION_DETAILS, GRADIENT_ACCUMULATION_DETAILS, NUMBER_ARGUMENTS_DETAILS)
)

OPTIMIZER_VALUE = "an `Optimizer` instance"
SCHEDULE_VALUE = "A `LearningRateSchedule` instance."


def optimizer_tail(name_default: str, weight_decay_default: str | None = "NULL") -> list[Arg]:
    """The arguments every optimizer ends with, in keras3 R's order.

    `weight_decay_default=None` leaves weight_decay out (AdamW puts it second).
    """
    head = [] if weight_decay_default is None else [weight_decay(weight_decay_default)]
    return head + [
        CLIPNORM,
        CLIPVALUE,
        GLOBAL_CLIPNORM,
        USE_EMA,
        EMA_MOMENTUM,
        EMA_OVERWRITE_FREQUENCY,
        name(name_default),
        LOSS_SCALE_FACTOR,
        GRADIENT_ACCUMULATION_STEPS,
    ]


def only_one_clip(values: dict) -> None:
    """At most one clipping mode.

    Keras makes the same check, but its message ("... can be set. Received:
    clipnorm=1.0, clipvalue=1.0, global_clipnorm=None") names neither the
    function nor, from R, anything in R's spelling, and reaches R as a plain
    Python error. This one names the function and only the arguments given,
    and reaches R as a keras3r_argument_error whose `argument` field lists them.
    """
    from keras3r.refusals import ArgumentError

    given = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if values.get(k) is not None]
    if len(given) > 1:
        raise ArgumentError(
            "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; "
            f"got {', '.join(f'`{k}`' for k in given)}.",
            arguments=tuple(given),
        )


def ema_needs_momentum(values: dict) -> None:
    """Keras reads ema_momentum only with use_ema on, and then fails on None."""
    from keras3r.refusals import ArgumentError

    if values.get("use_ema") and values.get("ema_momentum", 0.0) is None:
        raise ArgumentError(
            "`ema_momentum` must be a number in [0, 1] when `use_ema` is {true}, not {null}.",
            arguments=("ema_momentum", "use_ema"),
        )


#: The cross-argument rules of every optimizer built on Keras's base class.
OPTIMIZER_RULES = (only_one_clip, ema_needs_momentum)
