"""keras3r's updates through torch's fused kernels equal stock Keras's on torch.

Every case trains the same variables from the same start with the same
gradients twice, once with the optimizer keras3r builds and once with stock
Keras's, and compares the variables and the optimizer's own variables:
float64 cases to float64 rounding, float32 ones to float32 rounding (the
kernels order a few operations differently). The fast path must have been
taken (keras3r's counters and a spy on torch's kernels agree), and Keras's
path, with stock's exact result, where the kernels cannot compute Keras's
update (float16, bfloat16, a torch without the kernel). The class, the
config and the caller's gradients stay Keras's.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import pytest
import torch

import keras3r
from keras3r.adapt import keras3r_additions, state_of
from keras3r.adapt.torch import stats

STEPS = 7
SHAPES: tuple[tuple[int, ...], ...] = ((3, 4), (5,), (), (2, 3, 2))
# Names that `exclude_from_weight_decay(var_names=...)` can match.
NAMES = ("kernel", "bias", "scalar", "cube")

SCHEDULE = ("exponential", {"initial_learning_rate": 0.05, "decay_steps": 2, "decay_rate": 0.5})

# (builder, Keras class, settings). Together they set, at least once, each
# argument that reaches the fused update or the Keras code around it: the
# learning rate (a number and a schedule), weight decay (and variables
# excluded from it), beta_1, beta_2, epsilon, amsgrad, momentum, nesterov,
# initial_accumulator_value, the three clippings, gradient accumulation, EMA,
# the loss scale factor and the variables' dtype.
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "adam_w/defaults": ("optimizer_adam_w", "AdamW", {}),
    "adam_w/lr_wd": ("optimizer_adam_w", "AdamW", {"learning_rate": 0.02, "weight_decay": 0.1}),
    "adam_w/no_decay": ("optimizer_adam_w", "AdamW", {"learning_rate": 0.02, "weight_decay": 0.0}),
    "adam_w/betas_eps": (
        "optimizer_adam_w",
        "AdamW",
        {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.05},
    ),
    "adam_w/amsgrad": (
        "optimizer_adam_w",
        "AdamW",
        {"learning_rate": 0.02, "amsgrad": True, "beta_2": 0.9},
    ),
    "adam_w/clipnorm": ("optimizer_adam_w", "AdamW", {"learning_rate": 0.02, "clipnorm": 1.0}),
    "adam_w/clipvalue": ("optimizer_adam_w", "AdamW", {"learning_rate": 0.02, "clipvalue": 0.5}),
    "adam_w/global_clipnorm": (
        "optimizer_adam_w",
        "AdamW",
        {"learning_rate": 0.02, "global_clipnorm": 2.0},
    ),
    "adam_w/accumulation": (
        "optimizer_adam_w",
        "AdamW",
        {"learning_rate": 0.02, "gradient_accumulation_steps": 3},
    ),
    "adam_w/ema": (
        "optimizer_adam_w",
        "AdamW",
        {"learning_rate": 0.02, "use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 3},
    ),
    "adam_w/loss_scale_factor": (
        "optimizer_adam_w",
        "AdamW",
        {"learning_rate": 0.02, "loss_scale_factor": 128.0},
    ),
    "adam_w/schedule": ("optimizer_adam_w", "AdamW", {"learning_rate": SCHEDULE}),
    "adam_w/excluded": ("optimizer_adam_w", "AdamW", {"learning_rate": 0.02, "exclude": True}),
    "adam_w/everything": (
        "optimizer_adam_w",
        "AdamW",
        {
            "learning_rate": SCHEDULE,
            "weight_decay": 0.05,
            "amsgrad": True,
            "clipnorm": 1.5,
            "gradient_accumulation_steps": 2,
            "use_ema": True,
            "loss_scale_factor": 8.0,
            "exclude": True,
        },
    ),
    "adam_w/float32": ("optimizer_adam_w", "AdamW", {"learning_rate": 0.02, "dtype": "float32"}),
    "adam/defaults": ("optimizer_adam", "Adam", {"learning_rate": 0.02}),
    "adam/amsgrad_decay": (
        "optimizer_adam",
        "Adam",
        {"learning_rate": 0.02, "amsgrad": True, "weight_decay": 0.1},
    ),
    "adam/schedule_clip": ("optimizer_adam", "Adam", {"learning_rate": SCHEDULE, "clipvalue": 0.3}),
    "sgd/plain": ("optimizer_sgd", "SGD", {"learning_rate": 0.05}),
    "sgd/momentum": ("optimizer_sgd", "SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    "sgd/nesterov": (
        "optimizer_sgd",
        "SGD",
        {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    ),
    # A rate that changes while the momentum buffer holds earlier steps: Keras
    # keeps lr inside the buffer, torch outside.
    "sgd/momentum_schedule": ("optimizer_sgd", "SGD", {"learning_rate": SCHEDULE, "momentum": 0.8}),
    "sgd/nesterov_schedule_decay": (
        "optimizer_sgd",
        "SGD",
        {"learning_rate": SCHEDULE, "momentum": 0.7, "nesterov": True, "weight_decay": 0.01},
    ),
    "sgd/accumulation_ema": (
        "optimizer_sgd",
        "SGD",
        {"learning_rate": 0.05, "momentum": 0.5, "gradient_accumulation_steps": 2, "use_ema": True},
    ),
    "sgd/float32": ("optimizer_sgd", "SGD", {"momentum": 0.9, "dtype": "float32"}),
    "adagrad/defaults": ("optimizer_adagrad", "Adagrad", {"learning_rate": 0.05}),
    "adagrad/settings": (
        "optimizer_adagrad",
        "Adagrad",
        {"learning_rate": 0.05, "initial_accumulator_value": 0.5, "epsilon": 0.01},
    ),
    "adagrad/schedule_clip": (
        "optimizer_adagrad",
        "Adagrad",
        {"learning_rate": SCHEDULE, "global_clipnorm": 1.0, "weight_decay": 0.02},
    ),
    # Keras's path: dtypes the kernels would compute differently.
    "fallback/float16": ("optimizer_adam_w", "AdamW", {"learning_rate": 0.02, "dtype": "float16"}),
    "fallback/bfloat16": ("optimizer_sgd", "SGD", {"momentum": 0.9, "dtype": "bfloat16"}),
}

KERNELS = ("_fused_adam_", "_fused_adamw_", "_fused_sgd_", "_fused_adagrad_")


@contextmanager
def spied_kernels() -> Iterator[dict[str, int]]:
    """Count the calls into torch's fused optimizer kernels while inside."""
    counts = dict.fromkeys(KERNELS, 0)
    originals = {name: getattr(torch, name) for name in KERNELS}

    def spy(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return originals[name](*args, **kwargs)

        return call

    for name in KERNELS:
        setattr(torch, name, spy(name))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch, name, original)


def _settings(settings: dict[str, Any]) -> tuple[dict[str, Any], str, bool]:
    kwargs = dict(settings)
    dtype = kwargs.pop("dtype", "float64")
    exclude = kwargs.pop("exclude", False)
    rate = kwargs.get("learning_rate")
    if isinstance(rate, tuple):
        kwargs["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(**rate[1])
    return kwargs, dtype, exclude


def _variables(dtype: str) -> list[Any]:
    rng = np.random.default_rng(7)
    return [
        keras.Variable(rng.standard_normal(shape), dtype=dtype, name=name)
        for shape, name in zip(SHAPES, NAMES)
    ]


def _gradients(dtype: str) -> list[list[Any]]:
    rng = np.random.default_rng(11)
    out = []
    for _ in range(STEPS):
        scales = (1.0, 0.3, 2.0, 0.7)
        step = [rng.standard_normal(shape) * scale for shape, scale in zip(SHAPES, scales)]
        out.append([torch.tensor(g).to(getattr(torch, dtype)) for g in step])
    return out


def _train(optimizer: Any, dtype: str, exclude: bool) -> tuple[list[Any], list[Any], bool]:
    variables = _variables(dtype)
    if exclude:
        optimizer.exclude_from_weight_decay(var_names=["bias", "scalar"])
    untouched = True
    for grads in _gradients(dtype):
        before = [g.clone() for g in grads]
        optimizer.apply(grads, variables)
        untouched &= all(bool((a == b).all()) for a, b in zip(before, grads))
    values = [np.asarray(v.numpy(), dtype="float64") for v in variables]
    state = [np.asarray(v.numpy(), dtype="float64") for v in optimizer.variables]
    return values, state, untouched


def _difference(a: list[Any], b: list[Any]) -> float:
    if len(a) != len(b):
        return float("inf")
    return max((float(np.max(np.abs(x - y))) if x.size else 0.0) for x, y in zip(a, b))


def run_case(name: str) -> dict[str, Any]:
    builder, keras_class, settings = CASES[name]
    kwargs, dtype, exclude = _settings(settings)
    ours = getattr(keras3r, builder)(**kwargs)
    stock = getattr(keras.optimizers, keras_class)(**copy.deepcopy(kwargs))
    with spied_kernels() as calls:
        values, state, untouched = _train(ours, dtype, exclude)
    stock_values, stock_state, _ = _train(stock, dtype, exclude)
    config, stock_config = ours.get_config(), stock.get_config()
    config.pop("name"), stock_config.pop("name")
    return {
        "dtype": dtype,
        "variables": _difference(values, stock_values),
        "state": _difference(state, stock_state),
        "scale": max(float(np.max(np.abs(v))) for v in stock_values),
        "stats": stats(ours),
        "kernel_calls": calls,
        "grads_untouched": untouched,
        "same_class": type(ours) is type(stock),
        "same_config": repr(config) == repr(stock_config),
        "iterations": [int(ours.iterations.numpy()), int(stock.iterations.numpy())],
    }


def missing_kernel() -> dict[str, Any]:
    """A torch without `_fused_adam_`: Keras's path, and Keras's result."""
    original = torch._fused_adam_
    del torch._fused_adam_
    try:
        ours = keras3r.optimizer_adam_w(learning_rate=0.02)
        values, _, _ = _train(ours, "float64", False)
    finally:
        torch._fused_adam_ = original
    stock_values, _, _ = _train(keras.optimizers.AdamW(learning_rate=0.02), "float64", False)
    return {"stats": stats(ours), "variables": _difference(values, stock_values)}


def _model(seed: int) -> Any:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )


def fit_case(policy: str, loss_scale: bool) -> dict[str, Any]:
    """fit() with keras3r's AdamW against stock's, same data and start."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 6)).astype("float32")
    y = (x @ rng.standard_normal((6, 1))).astype("float32")
    keras.mixed_precision.set_global_policy(policy)
    try:
        weights = []
        inner = None
        for make in ("keras3r", "stock"):
            model = _model(5)
            if make == "keras3r":
                inner = keras3r.optimizer_adam_w(learning_rate=0.01, weight_decay=0.05)
                opt = keras3r.optimizer_loss_scale(inner) if loss_scale else inner
            else:
                stock_inner = keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.05)
                opt = stock_inner
                if loss_scale:
                    opt = keras.optimizers.LossScaleOptimizer(stock_inner)
            model.compile(optimizer=opt, loss="mse")
            model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
            weights.append([np.asarray(w, dtype="float64") for w in model.get_weights()])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return {
        "variables": _difference(weights[0], weights[1]),
        "scale": max(float(np.max(np.abs(w))) for w in weights[1]),
        "stats": stats(inner),
    }


# Per step, float rounding only.
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
KERNEL = {"optimizer_adam_w": "_fused_adam_", "optimizer_adam": "_fused_adam_",
          "optimizer_sgd": "_fused_sgd_"}  # fmt: skip
FAST_CASES = sorted(name for name in CASES if not name.startswith("fallback/"))
FALLBACK_CASES = sorted(name for name in CASES if name.startswith("fallback/"))


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    return {name: run_case(name) for name in CASES}


def _updates(case: dict[str, Any]) -> int:
    iterations = case["iterations"][0]
    assert iterations > 0
    return int(iterations)


@pytest.mark.parametrize("name", FAST_CASES)
def test_fused_update_equals_stock_keras(results: dict[str, Any], name: str) -> None:
    case = results[name]
    tolerance = TOLERANCE[case["dtype"]] * max(1.0, case["scale"])
    assert case["variables"] <= tolerance, case
    assert case["state"] <= tolerance, case
    assert case["iterations"][0] == case["iterations"][1]


@pytest.mark.parametrize("name", FAST_CASES)
def test_fast_path_was_taken(results: dict[str, Any], name: str) -> None:
    case = results[name]
    updates = _updates(case)
    assert case["stats"] == {"fused": updates, "keras": 0}, case
    function, _, settings = CASES[name]
    kernel = KERNEL.get(function)
    expected = dict.fromkeys(case["kernel_calls"], 0)
    if kernel is not None:  # Adagrad has no kernel for Keras's maths: foreach ops in place
        expected[kernel] = updates
    default = inspect.signature(getattr(keras3r, function)).parameters.get("weight_decay")
    decay = settings.get("weight_decay", default.default if default else None)
    if kernel == "_fused_adam_" and decay:
        # Weight decay is folded into the AdamW kernel on the CPU; variables
        # excluded from it still go through the Adam kernel.
        expected["_fused_adamw_"] = updates
        expected[kernel] = updates if settings.get("exclude") else 0
    assert case["kernel_calls"] == expected, case


@pytest.mark.parametrize("name", FAST_CASES + FALLBACK_CASES)
def test_class_config_and_gradients_stay_keras(results: dict[str, Any], name: str) -> None:
    case = results[name]
    assert case["same_class"] and case["same_config"], case
    assert case["grads_untouched"], case


@pytest.mark.parametrize("name", FALLBACK_CASES)
def test_unsupported_dtypes_keep_keras_path(results: dict[str, Any], name: str) -> None:
    case = results[name]
    updates = _updates(case)
    assert case["stats"] == {"fused": 0, "keras": updates}, case
    assert not any(case["kernel_calls"].values())
    assert case["variables"] == 0.0 and case["state"] == 0.0, case


def test_a_torch_without_the_kernel_keeps_keras_path() -> None:
    case = missing_kernel()
    assert case["stats"]["fused"] == 0 and case["stats"]["keras"] > 0
    assert case["variables"] == 0.0


def test_a_stateless_scope_keeps_keras_path() -> None:
    """Inside Keras's StatelessScope variables are read from the scope: Keras's path."""
    opt = keras3r.optimizer_adam_w(learning_rate=0.02)
    variables = _variables("float32")
    opt.build(variables)
    grads = [torch.ones_like(v.value) for v in variables]
    with keras.StatelessScope():
        opt.apply(grads, variables)
    assert stats(opt) == {"fused": 0, "keras": 1}


@pytest.mark.parametrize(("policy", "loss_scale"), [("float32", False), ("mixed_bfloat16", True)])
def test_fit_takes_the_fused_path_with_stock_results(policy: str, loss_scale: bool) -> None:
    case = fit_case(policy, loss_scale)
    # 64 samples, batch 16, 3 epochs.
    assert case["stats"] == {"fused": 12, "keras": 0}, case
    assert case["variables"] <= 1e-5 * max(1.0, case["scale"]), case


def test_a_saved_model_loads_in_plain_keras(tmp_path: Any) -> None:
    model = _model(2)
    model.compile(optimizer=keras3r.optimizer_adam_w(learning_rate=0.01), loss="mse")
    x = np.ones((8, 6), "float32")
    model.fit(x, np.ones((8, 1), "float32"), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert state_of(loaded.optimizer) is None
    assert type(loaded.optimizer) is type(model.optimizer)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))


def test_plain_takes_the_fused_update_away() -> None:
    opt = keras3r.optimizer_sgd(learning_rate=0.1, momentum=0.5)
    variables = _variables("float32")
    grads = [torch.ones_like(v.value) for v in variables]
    with spied_kernels() as calls:
        opt.apply(grads, variables)
        keras3r.plain(opt)
        assert keras3r_additions(opt) == []
        opt.apply(grads, variables)
    assert calls["_fused_sgd_"] == 1
    assert int(opt.iterations.numpy()) == 2


def test_a_non_contiguous_gradient_keeps_keras_path() -> None:
    """torch's CPU kernels read a transposed view as if laid out in order: Keras's path."""
    results = []
    for make in (keras3r.optimizer_adam_w, keras.optimizers.AdamW):
        opt = make(learning_rate=0.1)
        variable = keras.Variable(np.zeros((3, 4), "float32"))
        grad = torch.arange(12.0).reshape(4, 3).t()
        assert not grad.is_contiguous()
        opt.apply([grad], [variable])
        results.append(variable.numpy())
        if make is keras3r.optimizer_adam_w:
            assert stats(opt) == {"fused": 0, "keras": 1}
    np.testing.assert_array_equal(results[0], results[1])
