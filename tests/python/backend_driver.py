"""Drives keras3r's optimizers on the Keras backend of this process.

`run_backend()` runs every configuration of every optimizer of OPTIMIZERS
(optimizer_adam_w's are CONFIGS) in every mode of MODES for this process's
backend, and the torch.optim.AdamW runs of TORCH_CONFIGS, and returns the
weights after every step and the optimizer state at the end. It only
reports: test_reference_updates.py, run in one pytest process per backend,
compares them with the float64 references. The problems (`make_problem`) and
configurations are shared with test_schedule_free_weights.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness import variables as float32_variables

STEPS = 50
SEED = 20240604
# Several shapes, a scalar among them; each variable has its own gradient scale.
SHAPES: tuple[tuple[int, ...], ...] = ((3, 4), (5,), (), (2, 3, 2))
GRAD_SCALES = (1.0, 0.3, 2.0, 0.7)

# keras3r arguments per configuration: every AdamW setting at least once.
CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "lr_wd": {"learning_rate": 0.02, "weight_decay": 0.1},
    "no_decay": {"learning_rate": 0.02, "weight_decay": 0.0},
    "betas_eps": {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.05},
    # beta_2 = 0.95 lets v fall below its running maximum often enough to matter.
    "amsgrad": {"learning_rate": 0.02, "amsgrad": True, "beta_2": 0.95},
    "clipnorm": {"learning_rate": 0.02, "clipnorm": 1.0},
    "clipvalue": {"learning_rate": 0.02, "clipvalue": 0.5},
    "global_clipnorm": {"learning_rate": 0.02, "global_clipnorm": 2.0},
    "accumulation": {"learning_rate": 0.02, "gradient_accumulation_steps": 3},
    "ema": {"learning_rate": 0.02, "use_ema": True, "ema_momentum": 0.9},
    "ema_overwrite": {
        "learning_rate": 0.02,
        "use_ema": True,
        "ema_momentum": 0.8,
        "ema_overwrite_frequency": 4,
    },
    "everything": {
        "learning_rate": 0.02,
        "weight_decay": 0.05,
        "amsgrad": True,
        "clipnorm": 1.5,
        "use_ema": True,
        "ema_momentum": 0.7,
        "ema_overwrite_frequency": 3,
        "gradient_accumulation_steps": 2,
    },
}

@dataclass(frozen=True)
class Problem:
    """The variables an optimizer is tested on: shapes, paths, gradient scales."""

    shapes: tuple[tuple[int, ...], ...] = SHAPES
    scales: tuple[float, ...] = GRAD_SCALES
    paths: tuple[str, ...] = ()  # variable names (and so paths); w0, w1, ... if empty
    zeros: tuple[int, ...] = ()  # variables that start at 0 (as a bias does)

    def names(self) -> list[str]:
        return list(self.paths) or [f"w{i}" for i in range(len(self.shapes))]


@dataclass(frozen=True)
class OptimizerCase:
    function: str  # the keras3r function
    keras_class: str  # in keras.optimizers
    name: str  # the name keras3r gives it
    configs: dict[str, dict[str, Any]]
    problem: Problem = field(default_factory=Problem)


# LAMB: a bias that starts at 0 takes the trust ratio's "1 when a norm is 0" branch.
LAMB_CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "lr_wd": {"learning_rate": 0.02, "weight_decay": 0.1},
    "betas_eps": {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.05},
    "global_clipnorm": {"learning_rate": 0.02, "global_clipnorm": 2.0},
    "everything": {
        "learning_rate": 0.02,
        "weight_decay": 0.05,
        "clipnorm": 1.5,
        "use_ema": True,
        "ema_momentum": 0.7,
        "ema_overwrite_frequency": 3,
        "gradient_accumulation_steps": 2,
    },
}

# Muon: wide and tall matrices (Newton-Schulz transposes tall ones), an
# embedding and a "head" matrix (AdamW by default / by pattern), and non-2-D
# variables (always AdamW).
MUON_CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "lr_wd": {
        "learning_rate": 0.02,
        "weight_decay": 0.1,
        "adam_weight_decay": 0.05,
        "adam_lr_ratio": 0.5,
    },
    "newton_schulz": {
        "learning_rate": 0.02,
        "muon_a": 2.0,
        "muon_b": -1.5,
        "muon_c": 0.5,
        "ns_steps": 3,
        "momentum": 0.9,
        "nesterov": False,
    },
    "no_rms_rate": {"learning_rate": 0.02, "rms_rate": None},
    "split": {"learning_rate": 0.02, "exclude_layers": ["head"], "exclude_embeddings": False},
    "adam_part": {
        "learning_rate": 0.02,
        "adam_beta_1": 0.8,
        "adam_beta_2": 0.95,
        "epsilon": 0.05,
        "weight_decay": 0.0,
        "adam_weight_decay": 0.0,
    },
    "everything": {
        "learning_rate": 0.02,
        "clipnorm": 1.0,
        "use_ema": True,
        "ema_momentum": 0.7,
        "ema_overwrite_frequency": 3,
        "gradient_accumulation_steps": 2,
    },
}

SCHEDULE_FREE_CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "lr": {"learning_rate": 0.02},
    "warmup": {"learning_rate": 0.05, "warmup_steps": 10},
    "betas_eps": {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.05},
    "weight_decay": {"learning_rate": 0.02, "weight_decay": 0.1},
    "everything": {
        "learning_rate": 0.02,
        "warmup_steps": 5,
        "weight_decay": 0.05,
        "clipvalue": 0.5,
        "use_ema": True,
        "ema_momentum": 0.7,
        "ema_overwrite_frequency": 3,
        "gradient_accumulation_steps": 2,
    },
}

OPTIMIZERS: dict[str, OptimizerCase] = {
    "adam_w": OptimizerCase("optimizer_adam_w", "AdamW", "adamw", CONFIGS),
    "lamb": OptimizerCase(
        "optimizer_lamb",
        "Lamb",
        "lamb",
        LAMB_CONFIGS,
        Problem(SHAPES + ((4,),), GRAD_SCALES + (0.5,), zeros=(len(SHAPES),)),
    ),
    "muon": OptimizerCase(
        "optimizer_muon",
        "Muon",
        "muon",
        MUON_CONFIGS,
        Problem(
            ((3, 4), (5, 3), (4, 4), (2, 3), (5,), ()),
            (1.0, 0.5, 2.0, 0.7, 0.3, 1.5),
            ("dense_kernel", "tall_kernel", "token_embedding", "head_kernel", "bias", "scale"),
        ),
    ),
    "schedule_free_adam_w": OptimizerCase(
        "optimizer_schedule_free_adam_w",
        "ScheduleFreeAdamW",
        "schedule_free_adam_w",
        SCHEDULE_FREE_CONFIGS,
    ),
}

# Stock Keras (not keras3r's instance) on one configuration, eagerly: what
# keras3r's ScheduleFreeAdamW correction (keras3r.schedule_free) is measured against.
STOCK_RUNS: dict[str, str] = {"schedule_free_adam_w": "lr"}

# On TensorFlow and JAX, keras3r runs an eager apply() as one cached compiled
# update (keras3r.adapt.tensorflow, keras3r.adapt.jax): "eager" is that path.
# "eager_keras" runs under tf.config.run_functions_eagerly(True), where keras3r
# leaves Keras's own op-by-op eager path in place.
MODES = {
    "tensorflow": ("eager", "eager_keras", "function", "xla"),
    "jax": ("eager", "jit"),
    "torch": ("eager",),
}

# torch.optim.AdamW against Keras: tiny epsilons, so the different epsilon
# placements (see reference_adamw) do not matter; 1e-12 is far below sqrt(v).
TORCH_STEPS = 100
TORCH_SEED = 7
TORCH_EPSILON = 1e-12
TORCH_CONFIGS: dict[str, dict[str, Any]] = {
    "adamw": {"learning_rate": 0.01, "weight_decay": 0.05, "epsilon": TORCH_EPSILON},
    "adamw_amsgrad": {
        "learning_rate": 0.01,
        "weight_decay": 0.05,
        "epsilon": TORCH_EPSILON,
        "amsgrad": True,
        "beta_2": 0.99,
    },
}
# A large epsilon, in float64, to pin down where torch adds it.
TORCH_BIG_EPSILON = 0.03


def make_problem(
    steps: int = STEPS, seed: int = SEED, problem: Problem | None = None
) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Initial weights and per-step gradients, float32, the same in every process.

    Each step's gradients are also scaled by a factor between 0.05 and 3, so
    that clipping acts at some steps and not at others.
    """
    problem = problem or Problem()
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape).astype(np.float32) for shape in problem.shapes]
    for i in problem.zeros:
        initial[i] = np.zeros_like(initial[i])
    grads = []
    for _ in range(steps):
        factor = math.exp(rng.uniform(math.log(0.05), math.log(3.0)))
        grads.append(
            [
                (rng.standard_normal(shape) * scale * factor).astype(np.float32)
                for shape, scale in zip(problem.shapes, problem.scales)
            ]
        )
    return initial, grads


STATE_KINDS = ("momentum", "velocity", "velocity_hat", "average", "gradient_accumulator")


def optimizer_state(opt: Any, variables: Sequence[Any]) -> dict[str, Any]:
    """The optimizer's variables by kind, in the order of `variables`.

    Every optimizer variable must be accounted for: one that is not an
    iteration counter, the learning rate or a known per-variable slot is
    reported under "unexpected", which the test requires to be empty.
    """
    import keras

    by_name = {v.name: v for v in opt.variables}
    seen = set()
    state: dict[str, Any] = {}
    for kind in STATE_KINDS:
        names = [f"{v.name}_{kind}" for v in variables]
        # Muon gives only its AdamW variables a velocity: None for the others.
        if any(name in by_name for name in names):
            state[kind] = [
                keras.ops.convert_to_numpy(by_name[n]).tolist() if n in by_name else None
                for n in names
            ]
            seen.update(n for n in names if n in by_name)
    for name in ("iteration", "learning_rate"):
        seen.add(name)
    state["iterations"] = int(keras.ops.convert_to_numpy(opt.iterations))
    state["raw_iterations"] = int(keras.ops.convert_to_numpy(opt._iterations))
    state["learning_rate"] = float(keras.ops.convert_to_numpy(opt.learning_rate))
    state["unexpected"] = sorted(name for name in by_name if name not in seen)
    return state


def _numpy(values: Sequence[Any]) -> list[np.ndarray]:
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]


def run_keras(
    kwargs: dict[str, Any],
    mode: str,
    initial: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray]],
    case: OptimizerCase = OPTIMIZERS["adam_w"],
    stock: bool = False,
) -> dict[str, Any]:
    """keras3r's optimizer (or stock Keras's) on fresh float32 variables for len(grads) steps."""
    import keras

    import keras3r

    if stock:
        opt = getattr(keras.optimizers, case.keras_class)(**kwargs)
    else:
        opt = getattr(keras3r, case.function)(**kwargs)
    variables = float32_variables(initial, case.problem.names())
    opt.build(variables)
    backend = keras.backend.backend()
    tensors = [[keras.ops.convert_to_tensor(g, dtype="float32") for g in gs] for gs in grads]
    trajectory: list[list[list[float]]] = []

    step: Callable[[list[Any]], None]
    if mode == "eager":

        def step(gs: list[Any]) -> None:
            opt.apply(gs, variables)

    elif mode == "eager_keras" and backend == "tensorflow":
        import tensorflow as tf

        def step(gs: list[Any]) -> None:
            previous = tf.config.functions_run_eagerly()
            tf.config.run_functions_eagerly(True)
            try:
                opt.apply(gs, variables)
            finally:
                tf.config.run_functions_eagerly(previous)

    elif mode in ("function", "xla") and backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=(mode == "xla"))
        def step(gs: list[Any]) -> None:
            opt.apply(gs, variables)

    elif mode == "jit" and backend == "jax":
        import jax

        @jax.jit
        def stateless(opt_values: list[Any], gs: list[Any], values: list[Any]) -> Any:
            return opt.stateless_apply(opt_values, gs, values)

        opt_values = [v.value for v in opt.variables]
        values = [v.value for v in variables]
        for gs in tensors:
            values, opt_values = stateless(opt_values, gs, values)
            trajectory.append([w.tolist() for w in _numpy(values)])
        # Hand the final state back to the Keras variables, to read it as usual.
        for var, value in zip(opt.variables, opt_values):
            var.assign(value)
        for var, value in zip(variables, values):
            var.assign(value)
        return _report(opt, variables, trajectory, case)
    else:
        raise ValueError(f"mode {mode!r} on backend {backend!r}")

    for gs in tensors:
        step(gs)
        trajectory.append([w.tolist() for w in _numpy(variables)])
    return _report(opt, variables, trajectory, case)


def _report(
    opt: Any, variables: Sequence[Any], trajectory: list[Any], case: OptimizerCase
) -> dict[str, Any]:
    import keras

    import keras3r

    try:
        from keras3r.adapt.eager_apply import stats
    except ImportError:  # a keras3r without it: nothing to report
        apply_stats = None
    else:
        apply_stats = stats(opt)
    out = {
        "weights": trajectory,
        "apply_stats": apply_stats,
        "state": optimizer_state(opt, variables),
        "is_keras_class": isinstance(opt, getattr(keras.optimizers, case.keras_class)),
        "name": opt.name,
        "config": {k: v for k, v in opt.get_config().items() if k != "name"},
    }
    if case.keras_class == "ScheduleFreeAdamW":
        # The averaged point x, as keras3r gives it to users.
        out["averaged"] = [w.tolist() for w in keras3r.schedule_free_averaged_weights(opt)]
    return out


def run_torch_optim(
    kwargs: dict[str, Any],
    initial: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray]],
    dtype: str = "float32",
) -> list[list[list[float]]]:
    """torch.optim.AdamW with the same hyper-parameters; weights after each step."""
    import torch

    torch_dtype = getattr(torch, dtype)
    params = [torch.tensor(np.asarray(w), dtype=torch_dtype) for w in initial]
    opt = torch.optim.AdamW(
        params,
        lr=kwargs.get("learning_rate", 0.001),
        betas=(kwargs.get("beta_1", 0.9), kwargs.get("beta_2", 0.999)),
        eps=kwargs.get("epsilon", 1e-7),
        weight_decay=kwargs.get("weight_decay", 0.004),
        amsgrad=kwargs.get("amsgrad", False),
        foreach=False,
    )
    trajectory = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(np.asarray(g), dtype=torch_dtype)
        opt.step()
        trajectory.append([p.detach().numpy().tolist() for p in params])
    return trajectory


def run_backend() -> dict[str, Any]:
    """Everything this backend has to report, as a JSON-ready dict."""
    import keras

    backend = keras.backend.backend()
    out: dict[str, Any] = {"backend": backend, "runs": {}, "seconds": {}, "stock": {}}
    for optimizer, case in OPTIMIZERS.items():
        initial, grads = make_problem(problem=case.problem)
        runs = out["runs"][optimizer] = {}
        for mode in MODES[backend]:
            start = time.perf_counter()
            for name, kwargs in case.configs.items():
                runs[f"{mode}/{name}"] = run_keras(kwargs, mode, initial, grads, case)
            out["seconds"][f"{optimizer}/{mode}"] = round(time.perf_counter() - start, 2)
        if optimizer in STOCK_RUNS:
            name = STOCK_RUNS[optimizer]
            out["stock"][optimizer] = run_keras(
                case.configs[name], "eager", initial, grads, case, stock=True
            )
    # The problems that torch.optim.AdamW also solves (torch.optim runs on
    # every backend's process: it does not depend on Keras's backend).
    t_initial, t_grads = make_problem(TORCH_STEPS, TORCH_SEED)
    out["torch_problems"] = {}
    for name, kwargs in TORCH_CONFIGS.items():
        big = dict(kwargs, epsilon=TORCH_BIG_EPSILON)
        out["torch_problems"][name] = {
            "keras": run_keras(kwargs, "eager", t_initial, t_grads)["weights"],
            "torch_optim": run_torch_optim(kwargs, t_initial, t_grads),
            "torch_optim_f64_big_eps": run_torch_optim(big, t_initial, t_grads, "float64"),
        }
    return out
