"""optimizer_loss_scale(): Keras's loss-scale wrapper, with keras3 R's signature.

Kept apart from the other optimizers of keras3 R 1.1.0 (spec/optimizers.py):
it wraps one of them, and takes Keras's base arguments only at their defaults.
"""

from __future__ import annotations

import math
from typing import Any

from keras3r.checks import Boolean, Integer, OptimizerInstance, Real
from keras3r.refusals import ArgumentError
from keras3r.spec import shared
from keras3r.spec.model import Arg, FunctionSpec
from keras3r.spec.spelling import python_call

FAMILY = "optimizers"

_LOSS_SCALE_AFTER_DOTS_DOC = (
    "Passed on to Keras only when not `NULL`. Keras's loss-scale optimizer takes "
    "these from `inner_optimizer` and refuses any other value: set them there."
)


# What Keras's LossScaleOptimizer accepts of the base-class arguments: each
# only at the base class's default, as saved configs of older Keras hold them.
LOSS_SCALE_ACCEPTS_ONLY = {
    "weight_decay": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def inner_settings_only(values: dict[str, Any]) -> None:
    """Refuse what Keras's loss-scale wrapper refuses, naming the argument."""
    for name, default in LOSS_SCALE_ACCEPTS_ONLY.items():
        value = values.get(name)
        if value is not None and value != default:
            raise ArgumentError(
                "`{arg}` belongs on `inner_optimizer` (the loss-scale wrapper takes it "
                "from there) and must keep its default here, not {value}.",
                arguments=(name,),
                value=value,
                has_value=True,
            )


def _loss_scale() -> FunctionSpec:
    after = [
        Arg("name", "NULL", shared.OPTIMIZER_NAME, "String or `NULL`. The name of the optimizer; `NULL` lets Keras choose one."),
        Arg("weight_decay", "NULL", shared.OPTIONAL_NON_NEGATIVE, _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("clipnorm", "NULL", shared.OPTIONAL_POSITIVE, _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("clipvalue", "NULL", shared.OPTIONAL_POSITIVE, _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("global_clipnorm", "NULL", shared.OPTIONAL_POSITIVE, _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("use_ema", "NULL", Boolean(optional=True), _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("ema_momentum", "NULL", Real(low=0.0, high=1.0, optional=True), _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("ema_overwrite_frequency", "NULL", Integer(low=1, optional=True), _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("loss_scale_factor", "NULL", shared.OPTIONAL_POSITIVE, _LOSS_SCALE_AFTER_DOTS_DOC),
        Arg("gradient_accumulation_steps", "NULL", Integer(low=2, optional=True), _LOSS_SCALE_AFTER_DOTS_DOC),
    ]
    before = [
        Arg("inner_optimizer", None, OptimizerInstance(), "The optimizer to wrap, such as one from [optimizer_adam()]."),
        Arg("initial_scale", "32768", Real(low=0.0, low_open=True, high=math.inf), "Float. The loss scale to start from. It is halved whenever a step gives non-finite gradients, and may be lowered many times before training settles. Defaults to `32768` (2^15)."),
        Arg("dynamic_growth_steps", "2000L", Integer(low=1), "Int. After this many steps in a row with finite gradients, the loss scale is doubled. Defaults to `2000L`."),
    ]
    call = "optimizer_loss_scale(optimizer_adam(), initial_scale = 1024)"
    example = f"opt <- {call}\nopt$initial_scale"
    python_example = f">>> opt = {python_call(call)}\n>>> opt.initial_scale\n1024.0"
    return FunctionSpec(
        name="optimizer_loss_scale",
        keras_class="optimizers.LossScaleOptimizer",
        family=FAMILY,
        title="An optimizer that scales the loss to keep mixed precision gradients finite.",
        description=(
            "With float16 computations, small gradients round to zero. This "
            "wrapper multiplies the loss by a large factor before the gradients are "
            "computed and divides the gradients by it before `inner_optimizer` "
            "applies them. When a step gives infinite or NaN gradients, that step "
            "is skipped and the factor is halved; after `dynamic_growth_steps` good "
            "steps in a row it is doubled."
        ),
        args=tuple(before + after),
        dots_at=len(before),
        dots_doc=shared.DOTS_DOC,
        value=shared.OPTIMIZER_VALUE,
        example=example,
        python_example=python_example,
        pass_after_dots_only_when_given=True,
        rules=(inner_settings_only,),
    )


LOSS_SCALE = _loss_scale()
