"""Schedule-free AdamW: the averaged weights, in one call, and back.

Schedule-free AdamW (Defazio et al. 2024, "The Road Less Scheduled") keeps
three points per weight: z, where the gradient steps are taken; x, the running
average of the z's, which is where the method's guarantees hold and where a
model should be evaluated, predicted with and saved; and y, the interpolation
``y = (1 - beta_1) * z + beta_1 * x`` where gradients are computed.  Keras's
`ScheduleFreeAdamW` holds y in the model's variables and z in its "momentum"
slot, and keeps no x: a model trained with it is evaluated at y unless the
user swaps.  Since y and z determine x,

    x = (y - (1 - beta_1) * z) / beta_1

the functions here compute x from the optimizer's state and swap it into the
model (keeping y to put back exactly, since recomputing y from x and z would
round), and a callback does so around evaluation and at the end of `fit()`.

keras3r.adapt.schedule_free_step corrects Keras 3.15's update on TensorFlow
and torch: the averaged weights are only the paper's x when the steps are.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from keras3r import compat
from keras3r.adapt.instance import new_state, state_of

_TO = ("averaged", "training")


def _is_schedule_free(obj: Any) -> bool:
    import keras

    return isinstance(obj, keras.optimizers.ScheduleFreeAdamW)


def _optimizers_of(obj: Any, fun: str) -> list[Any]:
    """The ScheduleFreeAdamW(s) behind a model, a loss-scale or multi optimizer, or itself."""
    import keras

    opt = obj
    if isinstance(obj, keras.Model):
        opt = getattr(obj, "optimizer", None)
        if opt is None:
            raise ValueError(
                f"{fun}(): `object` is a model that has not been compiled; compile it "
                "with optimizer_schedule_free_adam_w() and train it first."
            )
    if isinstance(opt, keras.optimizers.LossScaleOptimizer):
        opt = opt.inner_optimizer
    inner = getattr(opt, "optimizers", None)  # optimizer_multi(): its sub-optimizers
    candidates = list(inner) if isinstance(inner, (list, tuple)) else [opt]
    found = [o for o in candidates if _is_schedule_free(o)]
    if not found:
        raise TypeError(
            f"{fun}(): `object` must be a ScheduleFreeAdamW optimizer "
            "(optimizer_schedule_free_adam_w()), a multi optimizer with one, or a model "
            f"compiled with either; got {type(opt).__module__}.{type(opt).__qualname__}."
        )
    return found


def _beta_1(opt: Any) -> float:
    beta_1 = opt.beta_1() if callable(opt.beta_1) else opt.beta_1
    return float(np.asarray(beta_1))


def _pairs(opt: Any) -> list[tuple[Any, Any]]:
    """(model variable, its z) for every variable the optimizer steps."""
    return [
        (var, z)
        for var, z in zip(compat.built_variables(opt) or (), compat.momentums(opt))
        if z is not None  # a variable Keras overwrites with its gradient has no z
    ]


def _training_weights(opt: Any) -> list[Any] | None:
    """The training weights y kept aside while the averaged weights are in the model."""
    state = state_of(opt)
    return None if state is None else state.schedule_free_training_weights


def _averaged(opt: Any) -> list[Any]:
    """x for each stepped variable, as backend tensors, from the training y."""
    import keras

    ops = keras.ops
    b1 = _beta_1(opt)
    saved = _training_weights(opt)
    out = []
    for i, (var, z) in enumerate(_pairs(opt)):
        y = saved[i] if saved is not None else var.value
        y = ops.convert_to_tensor(y, dtype=var.dtype)
        out.append(ops.divide(ops.subtract(y, ops.multiply(1.0 - b1, z.value)), b1))
    return out


def schedule_free_averaged_weights(object: Any) -> list[np.ndarray]:  # noqa: A002
    """The averaged weights x of a schedule-free AdamW, without changing anything.

    `object` is a `ScheduleFreeAdamW` optimizer (from
    `optimizer_schedule_free_adam_w()`), a multi optimizer with one or more
    among its optimizers, or a model compiled with either, after at least one
    training step.  Returns one array per variable the optimizer updates, in
    its order (a model's `trainable_variables` order; with a multi optimizer,
    each schedule-free optimizer's variables in turn).
    """
    import keras

    fun = "schedule_free_averaged_weights"
    built = [opt for opt in _optimizers_of(object, fun) if opt.built]
    if not built:
        raise ValueError(
            f"{fun}(): the optimizer has not taken a step yet, so it holds no averaged "
            "weights (before training they equal the model's weights)."
        )
    return [
        np.asarray(keras.ops.convert_to_numpy(x)) for opt in built for x in _averaged(opt)
    ]


def swap_schedule_free_weights(object: Any, to: str = "averaged") -> Any:  # noqa: A002
    """Put the averaged weights x into the model's variables, or the training weights back.

    `to="averaged"` assigns x to every variable the optimizer updates and
    keeps the training weights y aside; `to="training"` assigns y back,
    exactly as they were.  Either is a no-op when the model already holds
    those weights, or when the optimizer has not taken a step (x equals y
    then).  Train only with the training weights in: the optimizer takes y
    from the variables at every step.  Returns `object`.
    """
    import keras

    fun = "swap_schedule_free_weights"
    if not isinstance(to, str) or to not in _TO:
        raise ValueError(f'{fun}(): `to` must be "averaged" or "training"; got {to!r}.')
    for opt in _optimizers_of(object, fun):
        if not opt.built:
            continue
        saved = _training_weights(opt)
        if to == "averaged" and saved is None:
            averaged = _averaged(opt)
            pairs = _pairs(opt)
            # Kept in keras3r's state, outside Keras's tracking: a saved
            # optimizer never carries them.
            new_state(opt).schedule_free_training_weights = [
                keras.ops.convert_to_numpy(var) for var, _ in pairs
            ]
            for (var, _), x in zip(pairs, averaged):
                var.assign(x)
        elif to == "training" and saved is not None:
            for (var, _), y in zip(_pairs(opt), saved):
                var.assign(y)
            new_state(opt).schedule_free_training_weights = None
    return object


def schedule_free_weights_in_model(object: Any) -> str:  # noqa: A002
    """Which weights the model's variables hold now: "averaged" or "training"."""
    opts = _optimizers_of(object, "schedule_free_weights_in_model")
    return "averaged" if any(_training_weights(opt) is not None for opt in opts) else "training"


@contextlib.contextmanager
def with_schedule_free_averaged_weights(object: Any) -> Iterator[Any]:  # noqa: A002
    """Within the block, the model holds the averaged weights; after it, what it held before.

    ``with with_schedule_free_averaged_weights(model): model.evaluate(...)``.
    """
    before = schedule_free_weights_in_model(object)
    swap_schedule_free_weights(object, "averaged")
    try:
        yield object
    finally:
        swap_schedule_free_weights(object, before)


@functools.cache
def _callback_class() -> type:
    import keras

    class SwapScheduleFreeWeights(keras.callbacks.Callback):
        """Evaluate (and, optionally, checkpoint) a schedule-free model at its averaged weights.

        Made by `callback_swap_schedule_free_weights()`.  Before any
        evaluation (the validation of `fit()`, `evaluate()` or `predict()`
        given this callback) the model gets the averaged weights x, and after
        it the training weights y again, so training continues exactly as
        without the callback.  With `swap_on_epoch`, x also stays in the model
        from the end of each epoch until the next begins, so that callbacks
        placed after this one (a model checkpoint) see x.  With
        `averaged_after_fit`, `fit()` ends with x in the model, ready for
        `predict()` and saving; the next `fit()` with this callback puts y
        back before its first step.
        """

        def __init__(self, swap_on_epoch: bool = False, averaged_after_fit: bool = True) -> None:
            super().__init__()
            self.swap_on_epoch = swap_on_epoch
            self.averaged_after_fit = averaged_after_fit
            # Evaluations that this callback swapped for (nested ones are not).
            self._swapped_for: list[bool] = []

        def _swap(self, to: str) -> None:
            swap_schedule_free_weights(self.model, to)

        def _begin_evaluation(self) -> None:
            before = schedule_free_weights_in_model(self.model)
            self._swapped_for.append(before == "training")
            self._swap("averaged")

        def _end_evaluation(self) -> None:
            if self._swapped_for and self._swapped_for.pop():
                self._swap("training")

        def on_train_begin(self, logs: Any = None) -> None:
            self._swap("training")

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._swap("training")

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if self.swap_on_epoch:
                self._swap("averaged")

        def on_train_end(self, logs: Any = None) -> None:
            self._swap("averaged" if self.averaged_after_fit else "training")

        def on_test_begin(self, logs: Any = None) -> None:
            self._begin_evaluation()

        def on_test_end(self, logs: Any = None) -> None:
            self._end_evaluation()

        def on_predict_begin(self, logs: Any = None) -> None:
            self._begin_evaluation()

        def on_predict_end(self, logs: Any = None) -> None:
            self._end_evaluation()

    SwapScheduleFreeWeights.__module__ = __name__
    return SwapScheduleFreeWeights


def callback_swap_schedule_free_weights(
    swap_on_epoch: bool = False, averaged_after_fit: bool = True
) -> Any:
    """A Keras callback that evaluates a schedule-free model at its averaged weights.

    See `SwapScheduleFreeWeights` (this module) for what it does when.
    """
    fun = "callback_swap_schedule_free_weights"
    flags = {"swap_on_epoch": swap_on_epoch, "averaged_after_fit": averaged_after_fit}
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{fun}(): `{name}` must be True or False; got {value!r}.")
    return _callback_class()(bool(swap_on_epoch), bool(averaged_after_fit))


def __getattr__(name: str) -> Any:
    if name == "SwapScheduleFreeWeights":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
