"""keras3r's optimizers compute their methods: every backend and mode against float64 references.

Each optimizer of backend_driver.OPTIMIZERS (optimizer_adam_w,
optimizer_lamb, optimizer_muon, optimizer_schedule_free_adam_w) runs STEPS
steps on several float32 variables with seeded random gradients for every
one of its configurations, on the Keras backend of this process: on
TensorFlow eagerly (keras3r's compiled eager apply and Keras's own op-by-op
path), in tf.function and under XLA; on JAX eagerly (keras3r's jit-compiled
eager apply) and jitted through stateless_apply; on torch eagerly. Keras
fixes its backend once per process, so this module runs in the main pytest
process (TensorFlow) and again in the JAX and torch ones (the Makefile's
test-python names it beside with_jax and with_torch).
The weights after every step and the whole optimizer state at the end are
compared with float64 NumPy references written from the papers and Keras's
sources: reference_adamw.py, reference_lamb.py, reference_muon.py and
reference_schedule_free.py (their shared base optimizer: reference_common.py).
For schedule-free AdamW the averaged point x that keras3r hands to users
(keras3r.schedule_free_averaged_weights) is compared with the reference's x
too. torch.optim.AdamW, which nobody here wrote, is compared with AdamW.

Tolerance. Keras computes in float32 (unit roundoff u = 2**-24 = 6e-8) and the
references in float64, so each step may leave a few u of the variable's
magnitude in every weight, and these add up over the steps: about STEPS * u =
3e-6 of the magnitude after 50 steps. An error is therefore measured against
the largest magnitude the variable (or state slot) reaches, and must stay
within RTOL = 5e-5 of it: above the float32 drift with a margin, and far below
what any mistake in the algorithm does. test_each_feature_changes_the_result
checks the latter: switching any tested feature off, or computing it the way
a plausible mistake would (no trust ratio, the exact SVD instead of
Newton-Schulz, the paper's averaging weights, ...), changes the reference by
more than 100 * RTOL, so a Keras that ignored or misapplied it would fail here.
The worst errors are printed, recorded with record_property and written to
reference_errors_<backend>.json in the `figures` directory of conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import backend_driver as driver
from reference_adamw import AdamWConfig, ReferenceAdamW, run_reference
from reference_common import ReferenceOptimizer
from reference_common import run_reference as run_any_reference
from reference_lamb import LambConfig, ReferenceLamb
from reference_muon import MuonConfig, ReferenceMuon
from reference_schedule_free import ReferenceScheduleFree, ScheduleFreeConfig

RTOL = 5e-5
BACKEND = keras.backend.backend()

REFERENCES: dict[str, tuple[type[ReferenceOptimizer], type]] = {
    "adam_w": (ReferenceAdamW, AdamWConfig),
    "lamb": (ReferenceLamb, LambConfig),
    "muon": (ReferenceMuon, MuonConfig),
    "schedule_free_adam_w": (ReferenceScheduleFree, ScheduleFreeConfig),
}

CASES = [
    (optimizer, backend, mode, name)
    for optimizer, case in driver.OPTIMIZERS.items()
    for backend in [BACKEND]
    for mode in driver.MODES[backend]
    for name in case.configs
]
# What each configuration is compared with in test_each_feature_changes_the_result.
FEATURE_OFF: dict[str, dict[str, dict[str, Any]]] = {
    "adam_w": {
        "defaults": {"learning_rate": 0.002},
        "lr_wd": {"weight_decay": 0.0},
        "no_decay": {"weight_decay": 0.004},
        "betas_eps": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        "amsgrad": {"amsgrad": False},
        "clipnorm": {"clipnorm": None},
        "clipvalue": {"clipvalue": None},
        "global_clipnorm": {"global_clipnorm": None},
        "accumulation": {"gradient_accumulation_steps": None},
        "ema": {"ema_momentum": 0.5},
        "ema_overwrite": {"ema_overwrite_frequency": None},
        "everything": {"gradient_accumulation_steps": None},
    },
    "lamb": {
        "defaults": {"trust_ratio": False},
        "lr_wd": {"decay_placement": "paper"},
        "betas_eps": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        "global_clipnorm": {"global_clipnorm": None},
        "everything": {"gradient_accumulation_steps": None},
    },
    "muon": {
        "defaults": {"learning_rate": 0.002},
        "lr_wd": {"adam_lr_ratio": 1.0},
        "newton_schulz": {"orthogonalize": "svd"},
        "no_rms_rate": {"rms_rate": 0.2},
        "split": {"exclude_layers": (), "exclude_embeddings": True},
        "adam_part": {"adam_beta_1": 0.9, "adam_beta_2": 0.999, "epsilon": 1e-7},
        "everything": {"gradient_accumulation_steps": None},
    },
    "schedule_free_adam_w": {
        "defaults": {"learning_rate": 0.005},
        "lr": {"x_from_new_z": True},
        "warmup": {"averaging": "paper"},
        "betas_eps": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
        "weight_decay": {"weight_decay": None},
        "everything": {"gradient_accumulation_steps": None},
    },
}

# Which variables Muon hands to AdamW (has a velocity slot), per configuration:
# not 2-D; "embedding" in the path unless exclude_embeddings = FALSE; a match of
# an exclude_layers pattern. Variables: dense_kernel (3x4), tall_kernel (5x3),
# token_embedding (4x4), head_kernel (2x3), bias (5), scale ().
MUON_ADAMW_SPLIT = {
    "default": [False, False, True, False, True, True],
    "split": [False, False, False, True, True, True],
}

_figures: dict[str, Any] = {
    "rtol": RTOL,
    "steps": driver.STEPS,
    "modes": {},
    "cases": {},
    "torch": {},
    "schedule_free_averaged": {},
    "stock_keras": {},
}


def reference_config(optimizer: str, kwargs: dict[str, Any], **overrides: Any) -> Any:
    """The reference's configuration for keras3r arguments `kwargs`."""
    config_class = REFERENCES[optimizer][1]
    values = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in {**kwargs, **overrides}.items()
    }
    return config_class(**values)


def reference_run(optimizer: str, config: Any) -> tuple[list[list[np.ndarray]], Any]:
    case = driver.OPTIMIZERS[optimizer]
    initial, grads = driver.make_problem(problem=case.problem)
    return run_any_reference(
        REFERENCES[optimizer][0], config, initial, grads, case.problem.names()
    )


@pytest.fixture(scope="module")
def results(figures: Path) -> Any:
    """This backend's report, keyed by the backend's name."""
    out = {BACKEND: driver.run_backend()}
    seconds = out[BACKEND]["seconds"]
    print(f"\ndriver seconds per mode on {BACKEND}: {seconds}")
    yield out
    _figures["driver_seconds"] = seconds
    figure = figures / f"reference_errors_{BACKEND}.json"
    figure.write_text(json.dumps(_figures, indent=2, sort_keys=True) + "\n")
    print(f"\nworst errors against the float64 references ({figure}):")
    shown = ("modes", "torch", "schedule_free_averaged", "stock_keras")
    print(json.dumps({k: _figures[k] for k in shown}, indent=2, sort_keys=True))


def _scaled_error(actual: Any, expected: np.ndarray, scale: float) -> tuple[float, float]:
    """(max abs error, max abs error / scale)."""
    err = float(np.max(np.abs(np.asarray(actual, dtype=np.float64) - expected), initial=0.0))
    return err, err / max(scale, 1e-30)


def _note(key: str, abs_err: float, scaled: float) -> None:
    entry = _figures["modes"].setdefault(key, {"max_abs_error": 0.0, "max_scaled_error": 0.0})
    entry["max_abs_error"] = max(entry["max_abs_error"], abs_err)
    entry["max_scaled_error"] = max(entry["max_scaled_error"], scaled)


@pytest.mark.parametrize(("optimizer", "backend", "mode", "name"), CASES)
def test_matches_reference(results, record_property, optimizer, backend, mode, name):
    case = driver.OPTIMIZERS[optimizer]
    run = results[backend]["runs"][optimizer][f"{mode}/{name}"]
    kwargs = case.configs[name]
    initial, _ = driver.make_problem(problem=case.problem)
    steps = len(run["weights"])
    assert steps == driver.STEPS
    config = reference_config(optimizer, kwargs)
    trajectory, ref = reference_run(optimizer, config)

    # Which path an eager apply() took (see backend_driver.MODES).
    stats = run["apply_stats"]
    if backend in ("tensorflow", "jax") and stats is not None:
        record_property("apply_stats", stats)
        if mode == "eager_keras":
            assert stats["compiled_calls"] == 0, stats
        if backend == "jax" and mode == "eager":  # keras3r.adapt.jax, every step
            assert stats["compiled_calls"] == steps and stats["keras_calls"] == 0, stats

    # A genuine Keras optimizer of the class and name keras3r promises,
    # configured as the case asks, with the reference's defaults (keras3r's) for
    # everything not given.
    assert run["is_keras_class"]
    assert run["name"] == case.name
    expected = dataclasses.asdict(config)
    for key in type(config).reference_only:
        del expected[key]
    for key, value in expected.items():
        if value is None or isinstance(value, bool):
            assert run["config"][key] is value, key
        elif isinstance(value, tuple):
            assert list(run["config"][key]) == list(value), key
        else:  # learning_rate comes back from a float32 variable
            assert run["config"][key] == pytest.approx(value, rel=1e-7), key

    # Weights after every step, each against the largest magnitude it reaches.
    scales = [
        max(float(np.max(np.abs(step[i]))) for step in trajectory + [initial])
        for i in range(len(initial))
    ]
    worst_abs, worst = 0.0, 0.0
    for t, (got, want) in enumerate(zip(run["weights"], trajectory)):
        for i, (g, w) in enumerate(zip(got, want)):
            abs_err, scaled = _scaled_error(g, w, scales[i])
            worst_abs, worst = max(worst_abs, abs_err), max(worst, scaled)
            assert scaled <= RTOL, (
                f"step {t + 1}, variable {i}: error {abs_err:.3g} is {scaled:.3g} of its "
                f"scale {scales[i]:.3g} (tolerance {RTOL})"
            )

    # The optimizer state at the end: every slot, and nothing else.
    state = run["state"]
    want_state = ref.state()
    assert state["unexpected"] == []
    got_kinds = set(state) & set(driver.STATE_KINDS)
    assert got_kinds == set(want_state) - {"iterations"}
    assert state["raw_iterations"] == steps
    assert state["iterations"] == ref.update_iterations
    assert state["learning_rate"] == pytest.approx(config.learning_rate, rel=1e-7)
    worst_state = 0.0
    for kind in got_kinds:
        for i, (g, w) in enumerate(zip(state[kind], want_state[kind])):
            if w is None:  # a slot this variable does not have (Muon's split)
                assert g is None, f"{kind}[{i}]: Keras has a slot the reference does not"
                continue
            assert g is not None, f"{kind}[{i}]: the reference has a slot Keras does not"
            scale = float(np.max(np.abs(w)))
            # The EMA (and schedule-free's z, "momentum") live at the weights' scale.
            if kind == "average" or (kind == "momentum" and optimizer == "schedule_free_adam_w"):
                scale = max(scale, scales[i])
            abs_err, scaled = _scaled_error(g, w, scale)
            worst_state = max(worst_state, scaled)
            assert scaled <= RTOL, f"{kind}[{i}]: error {abs_err:.3g}, {scaled:.3g} of scale"

    # Schedule-free: the averaged point x that keras3r gives users.
    worst_x = 0.0
    if "averaged" in run:
        want_x = ref.averaged()
        assert len(run["averaged"]) == len(want_x)
        for i, (g, w) in enumerate(zip(run["averaged"], want_x)):
            abs_err, scaled = _scaled_error(g, w, max(scales[i], float(np.max(np.abs(w)))))
            worst_x = max(worst_x, scaled)
            assert scaled <= RTOL, f"averaged x[{i}]: error {abs_err:.3g}, {scaled:.3g} of scale"
        key = f"{backend}/{mode}"
        _figures["schedule_free_averaged"][key] = max(
            _figures["schedule_free_averaged"].get(key, 0.0), worst_x
        )

    _note(f"{optimizer}/{backend}/{mode}", worst_abs, max(worst, worst_state, worst_x))
    _figures["cases"][f"{optimizer}/{backend}/{mode}/{name}"] = {
        "max_abs_error": worst_abs,
        "max_scaled_error_weights": worst,
        "max_scaled_error_state": worst_state,
        "max_scaled_error_averaged": worst_x,
    }
    record_property("max_abs_error", worst_abs)
    record_property("max_scaled_error", max(worst, worst_state, worst_x))
    print(
        f"{optimizer}/{backend}/{mode}/{name}: max abs {worst_abs:.3g}, "
        f"scaled {max(worst, worst_state, worst_x):.3g}"
    )


def _max_scaled_difference(a: Any, b: Any) -> float:
    """Largest difference between two runs, as a fraction of each variable's magnitude."""
    worst = 0.0
    for step_a, step_b in zip(a, b):
        for x, y in zip(step_a, step_b):
            x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
            scale = max(float(np.max(np.abs(y))), 1e-30)
            worst = max(worst, float(np.max(np.abs(x - y))) / scale)
    return worst


FEATURE_CASES = [
    (optimizer, name) for optimizer, case in driver.OPTIMIZERS.items() for name in case.configs
]


@pytest.mark.parametrize(("optimizer", "name"), FEATURE_CASES)
def test_each_feature_changes_the_result(optimizer, name):
    """The comparisons above can fail: each configuration's feature matters."""
    kwargs = driver.OPTIMIZERS[optimizer].configs[name]
    config = reference_config(optimizer, kwargs)
    traj_on, ref_on = reference_run(optimizer, config)
    off = dataclasses.replace(config, **FEATURE_OFF[optimizer][name])
    traj_off, ref_off = reference_run(optimizer, off)
    if (optimizer, name) == ("adam_w", "ema"):
        # Without overwriting, EMA leaves the weights alone and shows in its state.
        diff = _max_scaled_difference([ref_on.averages], [ref_off.averages])
    else:
        diff = _max_scaled_difference(traj_on, traj_off)
    assert diff > 100 * RTOL, f"{name}: the feature moves the result by only {diff:.3g}"
    # And the features were exercised: clipping at some steps but not all.
    if "clip" in name:
        per_step = 1 if config.global_clipnorm else len(traj_on[0])
        assert 0 < ref_on.counts["clipped"] < per_step * ref_on.counts["updates"]
    if config.ema_overwrite_frequency:
        assert ref_on.counts["ema_overwrites"] > 0
    if optimizer == "lamb":  # the zero bias took the "ratio 1" branch, once
        assert ref_on.counts["unit_ratio"] == 1


def test_muon_splits_variables_as_documented(results):
    """Which variables Muon updates with AdamW, read from the slots Keras made."""
    for backend in results:
        runs = results[backend]["runs"]["muon"]
        for name in driver.MUON_CONFIGS:
            velocity = runs[f"eager/{name}"]["state"]["velocity"]
            split = [v is not None for v in velocity]
            assert split == MUON_ADAMW_SPLIT.get(name, MUON_ADAMW_SPLIT["default"]), (
                backend,
                name,
            )


@pytest.mark.parametrize("backend", [BACKEND])
def test_stock_schedule_free_update_differs_where_keras3r_corrects_it(results, backend):
    """Keras 3.15's own ScheduleFreeAdamW is the paper's method on JAX only.

    Its update keeps `momentum.value` as z before the step, which on
    TensorFlow and torch is the live variable: x is then recovered from the
    new z (reference option x_from_new_z). keras3r's instances read z first
    (keras3r.schedule_free), and test_matches_reference holds them to the
    paper on every backend. If this fails on TensorFlow or torch because stock
    Keras now matches the paper, Keras has fixed its update and keras3r's
    correction can go.
    """
    optimizer = "schedule_free_adam_w"
    name = driver.STOCK_RUNS[optimizer]
    kwargs = driver.OPTIMIZERS[optimizer].configs[name]
    stock = results[backend]["stock"][optimizer]["weights"]
    paper, _ = reference_run(optimizer, reference_config(optimizer, kwargs))
    aliased, _ = reference_run(optimizer, reference_config(optimizer, kwargs, x_from_new_z=True))
    to_paper = _max_scaled_difference(stock, paper)
    to_aliased = _max_scaled_difference(stock, aliased)
    _figures["stock_keras"][f"{backend}/{optimizer}/{name}"] = {
        "vs_paper_reference": to_paper,
        "vs_x_from_new_z_reference": to_aliased,
    }
    print(f"stock Keras {optimizer} on {backend}: {to_paper:.3g} from the paper's method, "
          f"{to_aliased:.3g} from x recovered with the new z")
    if backend == "jax":
        assert to_paper <= RTOL < 100 * RTOL < to_aliased
    else:
        assert to_aliased <= RTOL < 100 * RTOL < to_paper


@pytest.mark.parametrize("backend", [BACKEND])
@pytest.mark.parametrize("name", list(driver.TORCH_CONFIGS))
def test_agrees_with_torch_optim_adamw(results, record_property, backend, name):
    """Keras's AdamW (on every backend) and torch.optim.AdamW, both float32.

    With epsilon = 1e-12 in both, the two epsilon placements differ by less
    than 1e-12 / sqrt(v) of a step, far below float32 resolution.
    """
    runs = results[backend]["torch_problems"][name]
    keras_run = runs["keras"]
    torch_run = runs["torch_optim"]
    assert len(torch_run) == len(keras_run) == driver.TORCH_STEPS
    diff = _max_scaled_difference(keras_run, torch_run)
    abs_diff = max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y)), initial=0.0))
        for sa, sb in zip(keras_run, torch_run)
        for x, y in zip(sa, sb)
    )
    entry = _figures["torch"].setdefault(f"keras_{backend}_vs_torch_optim", {})
    entry[name] = {"max_abs_difference": abs_diff, "max_scaled_difference": diff}
    record_property("max_abs_difference", abs_diff)
    print(f"keras/{backend} vs torch.optim.AdamW ({name}): max abs {abs_diff:.3g}")
    assert diff <= RTOL


@pytest.mark.parametrize("name", list(driver.TORCH_CONFIGS))
def test_torch_epsilon_placement(results, name):
    """torch adds eps to sqrt(v_hat); Keras adds epsilon to sqrt(v) (epsilon hat).

    In float64 with a large epsilon, torch.optim.AdamW matches the reference in
    torch's placement to rounding, and not in Keras's: the reference knows
    exactly how the two differ (epsilon_keras = eps_torch * sqrt(1 - beta_2**t)).
    """
    kwargs = dict(driver.TORCH_CONFIGS[name], epsilon=driver.TORCH_BIG_EPSILON)
    initial, grads = driver.make_problem(driver.TORCH_STEPS, driver.TORCH_SEED)
    torch_run = results[BACKEND]["torch_problems"][name]["torch_optim_f64_big_eps"]
    as_torch, _ = run_reference(AdamWConfig(**kwargs, eps_placement="torch"), initial, grads)
    as_keras, _ = run_reference(AdamWConfig(**kwargs), initial, grads)
    exact = _max_scaled_difference(torch_run, as_torch)
    placement = _max_scaled_difference(torch_run, as_keras)
    _figures["torch"].setdefault("float64_big_epsilon", {})[name] = {
        "vs_reference_torch_placement": exact,
        "vs_reference_keras_placement": placement,
    }
    print(f"torch f64 eps={driver.TORCH_BIG_EPSILON}: {exact:.3g} (torch form), "
          f"{placement:.3g} (Keras form)")
    assert exact < 1e-12
    assert placement > 100 * RTOL
