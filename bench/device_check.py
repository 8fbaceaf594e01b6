"""The device check's measurements (bench/device_check.sh runs them).

    device_check.py measure BACKEND OUT [--quick]   one backend's figures, as OUT/BACKEND.json
    device_check.py report OUT [--gpu]              OUT/device_check.json and .md from them
    device_check.py wheels FOLDER                   the carried wheels complete a bare image?

`measure jax` (Keras on JAX) times one AdamW update, eagerly, per shape:
keras3r's `apply()` (its cached jit-compiled update), stock Keras's `apply()`
(op by op), stock's `stateless_apply` under `jax.jit` with its state donated
(Keras's trainer's step), the same maths written in jax.numpy under `jax.jit`
with donation, and `optax.adamw` likewise (left out, and said so, where optax
is not installed); it counts the bytes keras3r's compiled HLO moves per
parameter (bench/hlo_traffic.py) against the 28-byte floor (read weight,
gradient, m, v; write weight, m, v) and measures the device's copy bandwidth.
`measure torch` (Keras on torch) times keras3r's and stock's `apply()`
against `torch.optim.AdamW(fused=True)`. Both time `fit()` steps per second,
keras3r / stock, on a model of large Dense kernels and a small batch, so that
the update dominates the step.

Steps are dispatched asynchronously and timed in blocks ended by waiting for
the last result; blocks rotate between implementations, and each figure is
the median of the rounds (one run, one device: ratios, not absolute times,
are what carries across machines).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
FLOOR_BYTES = 28  # AdamW, float32: reads p, g, m, v and writes p, m, v once
SETTINGS = {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
            "weight_decay": 0.004}  # Keras AdamW's defaults
# (variables, parameters in all) per shape; the quick ones keep the kinds
# (few large variables, very large ones, many small) at CPU sizes.
SHAPES = {
    "gpu": {"8M in 16": (16, 8_000_000), "256M in 16": (16, 256_000_000),
            "1M in 100": (100, 1_000_000)},
    "cpu": {"8M in 16": (16, 8_000_000), "1M in 100": (100, 1_000_000)},
    "quick": {"200k in 16": (16, 200_000), "1M in 4": (4, 1_000_000),
              "20k in 50": (50, 20_000)},
}
# fit(): Dense width and batch; the update of 2 width^2 parameters outweighs
# the products with a batch this small.
FIT = {"gpu": (4096, 8, 30), "cpu": (1024, 8, 10), "quick": (128, 8, 4)}
# Goals on a GPU (bench/README.md): keras3r's eager update against stock's
# jitted step and the copy bandwidth at the largest shape, and against
# torch's fused AdamW on Keras's torch backend.
GOAL_JIT = 1.05
GOAL_BANDWIDTH = 0.85
GOAL_TORCH = 1.2
# Wheels keras3r needs that the GPU image (Python 3.12, PyTorch, JAX, optax,
# NumPy 2; no TensorFlow, no Keras) lacks are carried; these it has.
IMAGE_HAS = {"absl-py", "numpy", "rich", "h5py", "ml-dtypes", "packaging",
             "typing-extensions", "jax", "jaxlib", "optax", "torch", "pytest",
             "hypothesis", "markdown-it-py", "pygments", "mdurl"}


def timed_blocks(steps: dict[str, tuple[Callable[[], None], Callable[[], Any]]],
                 wait: Callable[[Any], None], rounds: int, block: int,
                 warmup: int = 3) -> dict[str, float]:
    """Median milliseconds per step over `rounds` rotating blocks of `block` steps.

    Each step first runs `warmup` times untimed: keras3r compiles once more
    on its second call, when the buffers its first call made can be donated.
    """
    names = list(steps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for step, last in steps.values():
        for _ in range(warmup):
            step()
        wait(last())
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            step, last = steps[name]
            step()  # untimed: caches refill after the previous implementation
            wait(last())
            start = time.perf_counter()
            for _ in range(block):
                step()
            wait(last())
            samples[name].append((time.perf_counter() - start) / block)
    return {name: statistics.median(s) * 1e3 for name, s in samples.items()}


def _arrays(n_vars: int, total: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    size = total // n_vars
    params = [rng.standard_normal(size, dtype=np.float32) for _ in range(n_vars)]
    grads = [rng.standard_normal(size, dtype=np.float32) * 1e-2 for _ in range(n_vars)]
    return params, grads


def _keras_steps(keras: Any, opt: Any, params: list[np.ndarray], grads: list[Any]) -> Any:
    variables = [keras.Variable(p) for p in params]
    opt.build(variables)
    # Holding a variable's value across steps would keep its buffer alive
    # and stop keras3r from donating it on JAX: read it only at the end.
    return (lambda: opt.apply(grads, variables)), (lambda: variables[-1].value)


def _fit_rates(keras: Any, keras3r: Any, mode: str, rounds: int) -> dict[str, float]:
    """fit() steps per second with keras3r's AdamW and stock's, alternating epochs."""
    width, batch, steps = FIT[mode]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch * steps, width), dtype=np.float32)
    y = rng.standard_normal((batch * steps, 1), dtype=np.float32)
    models = {}
    for lib in ("keras3r", "stock"):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([
            keras.Input((width,)), keras.layers.Dense(width), keras.layers.Dense(width),
            keras.layers.Dense(1),
        ])
        opt = keras3r.optimizer_adam_w() if lib == "keras3r" else keras.optimizers.AdamW()
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compiles the step
        models[lib] = model
    samples: dict[str, list[float]] = {lib: [] for lib in models}
    for index in range(rounds):
        for lib in list(models)[index % 2 :] + list(models)[: index % 2]:
            start = time.perf_counter()
            models[lib].fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
            samples[lib].append(steps / (time.perf_counter() - start))
    return {
        "parameters": int(models["stock"].count_params()),
        "batch": batch,
        **{lib: statistics.median(s) for lib, s in samples.items()},
    }


def stock_jit_step(params: list[np.ndarray], grads: list[Any]) -> Any:
    """stateless_apply under jax.jit, state donated and returned in order (Keras's trainer)."""
    import jax
    import keras

    opt = keras.optimizers.AdamW()
    variables = [keras.Variable(p) for p in params]
    opt.build(variables)

    def update(slots: list[Any], g: list[Any], weights: list[Any]) -> tuple[Any, Any]:
        new_weights, new_slots = opt.stateless_apply(slots, g, weights)
        return new_slots, new_weights

    jitted = jax.jit(update, donate_argnums=(0, 2))
    state = {"slots": [v.value for v in opt.variables], "weights": [v.value for v in variables]}
    del variables

    def step() -> None:
        state["slots"], state["weights"] = jitted(state["slots"], grads, state["weights"])

    return step, lambda: state["weights"][-1]


def measure_jax(mode: str) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import keras

    import keras3r
    from keras3r.adapt import eager_apply
    from keras3r.adapt.eager_apply import compiled_hlo, stats

    sys.path.insert(0, str(HERE))
    from hlo_traffic import hlo_traffic_bytes

    # Compile on the first call: the compiled update is what is measured
    # (a new structure's first calls otherwise take Keras's path).
    eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0
    try:
        import optax
    except ImportError:
        optax = None
    rounds, block = (2, 2) if mode == "quick" else (5, 20 if mode == "gpu" else 4)
    lr, b1, b2, eps, wd = (SETTINGS[k] for k in
                           ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay"))

    def handwritten(params: list[np.ndarray], grads: list[Any]) -> Any:
        def update(p: list[Any], m: list[Any], v: list[Any], g: list[Any], t: Any) -> Any:
            t = t + 1
            alpha = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
            new_m = [mi + (gi - mi) * (1 - b1) for mi, gi in zip(m, g)]
            new_v = [vi + (gi * gi - vi) * (1 - b2) for vi, gi in zip(v, g)]
            new_p = [pi * (1 - wd * lr) - alpha * mi / (jnp.sqrt(vi) + eps)
                     for pi, mi, vi in zip(p, new_m, new_v)]
            return new_p, new_m, new_v, t

        jitted = jax.jit(update, donate_argnums=(0, 1, 2))
        box = {"p": [jnp.asarray(p) for p in params], "m": [jnp.zeros_like(jnp.asarray(p))
               for p in params], "v": [jnp.zeros_like(jnp.asarray(p)) for p in params],
               "t": jnp.zeros((), jnp.float32)}

        def step() -> None:
            box["p"], box["m"], box["v"], box["t"] = jitted(
                box["p"], box["m"], box["v"], grads, box["t"])

        return step, lambda: box["p"][-1]

    def optax_step(params: list[np.ndarray], grads: list[Any]) -> Any:
        tx = optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=wd)
        box = {"p": [jnp.asarray(p) for p in params]}
        box["s"] = tx.init(box["p"])

        def update(p: list[Any], s: Any, g: list[Any]) -> Any:
            updates, s = tx.update(g, s, p)
            return optax.apply_updates(p, updates), s

        jitted = jax.jit(update, donate_argnums=(0, 1))

        def step() -> None:
            box["p"], box["s"] = jitted(box["p"], box["s"], grads)

        return step, lambda: box["p"][-1]

    def copy_bandwidth(n: int) -> float:
        """GB/s, bytes read plus written, of an in-place scaled copy of n float32."""
        scale = jax.jit(lambda a: a * 1.0000001, donate_argnums=0)
        box = {"a": jnp.ones(n, jnp.float32)}

        def step() -> None:
            box["a"] = scale(box["a"])

        ms = timed_blocks({"copy": (step, lambda: box["a"])}, jax.block_until_ready,
                    rounds * 2, max(block, 5))["copy"]
        return 8 * n / (ms / 1e3) / 1e9

    shapes = SHAPES[mode if mode != "full" else ("gpu" if jax.default_backend() == "gpu"
                                                  else "cpu")]
    cells = []
    for label, (n_vars, total) in shapes.items():
        params, host_grads = _arrays(n_vars, total)
        grads = [jnp.asarray(g) for g in host_grads]
        del host_grads
        ours = keras3r.optimizer_adam_w()
        steps = {"keras3r": _keras_steps(keras, ours, params, grads),
                 "stock eager": _keras_steps(keras, keras.optimizers.AdamW(), params, grads),
                 "stock jit": stock_jit_step(params, grads),
                 "jax.jit": handwritten(params, grads)}
        if optax is not None:
            steps["optax"] = optax_step(params, grads)
        n_params = sum(p.size for p in params)
        del params
        ms = timed_blocks(steps, jax.block_until_ready, rounds, block)
        hlo = compiled_hlo(ours)
        traffic = hlo_traffic_bytes(hlo[0])[0] if hlo else math.nan
        cells.append({
            "shape": label, "variables": n_vars, "parameters": n_params, "ms": ms,
            "bytes_per_parameter": traffic / n_params,
            "keras3r_compiled_calls": stats(ours)["compiled_calls"],
        })
        del steps, grads, ours
    largest = max(total for _, total in shapes.values())
    return {
        "backend": "jax",
        "device": f"{jax.devices()[0].device_kind} ({jax.default_backend()})",
        "versions": {"keras": keras.__version__, "jax": jax.__version__,
                     "optax": getattr(optax, "__version__", None), "numpy": np.__version__,
                     "python": platform.python_version()},
        "left_out": [] if optax is not None else ["optax: not installed in this Python"],
        "copy_gbps": copy_bandwidth(largest),
        "cells": cells,
        "fit": _fit_rates(keras, keras3r, mode if mode != "full" else
                          ("gpu" if jax.default_backend() == "gpu" else "cpu"), rounds),
    }


def measure_torch(mode: str) -> dict[str, Any]:
    import keras
    import torch

    import keras3r
    from keras3r.adapt.torch import stats

    on_gpu = torch.cuda.is_available() and mode != "quick"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rounds, block = (2, 2) if mode == "quick" else (5, 20 if on_gpu else 4)

    def wait(result: Any) -> None:
        if result.is_cuda:
            torch.cuda.synchronize()

    def fused(params: list[np.ndarray], grads: list[Any]) -> Any:
        weights = [torch.nn.Parameter(torch.from_numpy(p).to(device)) for p in params]
        for w, g in zip(weights, grads):
            w.grad = g
        opt = torch.optim.AdamW(weights, fused=True, lr=SETTINGS["learning_rate"],
                                betas=(SETTINGS["beta_1"], SETTINGS["beta_2"]),
                                eps=SETTINGS["epsilon"], weight_decay=SETTINGS["weight_decay"])
        return opt.step, lambda: weights[-1]

    shapes = SHAPES[mode if mode != "full" else ("gpu" if on_gpu else "cpu")]
    cells = []
    for label, (n_vars, total) in shapes.items():
        params, host_grads = _arrays(n_vars, total)
        grads = [torch.from_numpy(g).to(device) for g in host_grads]
        del host_grads
        ours = keras3r.optimizer_adam_w()
        steps = {"keras3r": _keras_steps(keras, ours, params, grads),
                 "stock eager": _keras_steps(keras, keras.optimizers.AdamW(), params, grads),
                 "torch fused": fused(params, grads)}
        n_params = sum(p.size for p in params)
        del params
        ms = timed_blocks(steps, wait, rounds, block)
        cells.append({"shape": label, "variables": n_vars, "parameters": n_params, "ms": ms,
                      "keras3r_fused_calls": stats(ours).get("fused", 0)})
        del steps, grads, ours
    return {
        "backend": "torch",
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "versions": {"keras": keras.__version__, "torch": torch.__version__},
        "left_out": [],
        "cells": cells,
        "fit": _fit_rates(keras, keras3r, mode if mode != "full" else
                          ("gpu" if on_gpu else "cpu"), rounds),
    }


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def report(out: Path, gpu: bool) -> int:
    """Write device_check.json and device_check.md from the parts; 1 if a part is missing."""
    parts = {}
    for backend in ("jax", "torch"):
        path = out / f"{backend}.json"
        if not path.exists():
            print(f"device check: no figures from {backend} ({path})", file=sys.stderr)
            return 1
        parts[backend] = json.loads(path.read_text())
    tests = out / "tests.json"
    summary: dict[str, Any] = {"parts": parts, "gpu": gpu,
                               "tests": json.loads(tests.read_text()) if tests.exists() else {}}
    lines = ["| backend | shape | keras3r ms | stock eager ms | stock jit ms | jax.jit ms | "
             "optax ms | torch fused ms | keras3r / stock eager | keras3r / stock jit | "
             "keras3r / best peer | HLO bytes per parameter | % of copy bandwidth |",
             "|" + "---|" * 13]
    goals: list[tuple[str, bool]] = []
    for backend, part in parts.items():
        for cell in part["cells"]:
            ms = cell["ms"]
            ours = ms["keras3r"]
            peers = [ms[k] for k in ("jax.jit", "optax", "torch fused") if k in ms]
            bpp = cell.get("bytes_per_parameter")
            share = None
            if backend == "jax":
                share = FLOOR_BYTES * cell["parameters"] / (ours / 1e3) / 1e9 / part["copy_gbps"]
            lines.append(
                f"| {backend} | {cell['shape']} | {ours:.3f} | {ms['stock eager']:.3f} | "
                + " | ".join(f"{ms[k]:.3f}" if k in ms else "-"
                             for k in ("stock jit", "jax.jit", "optax", "torch fused"))
                + f" | {_ratio(ours, ms['stock eager'])} | {_ratio(ours, ms.get('stock jit'))}"
                + f" | {_ratio(ours, min(peers) if peers else None)}"
                + (f" | {bpp:.1f} (floor {FLOOR_BYTES})" if bpp is not None else " | -")
            )
            lines[-1] += f" | {share:.0%} |" if share is not None else " | - |"
            goals.append((f"{backend} {cell['shape']}: keras3r <= stock eager",
                          ours <= ms["stock eager"]))
            if "stock jit" in ms:
                goals.append((f"{backend} {cell['shape']}: keras3r <= stock jit",
                              ours <= ms["stock jit"]))
        fit = part["fit"]
        goals.append((f"{backend} fit(): keras3r steps/s >= stock's",
                      fit["keras3r"] >= fit["stock"]))
    jax_cells = parts["jax"]["cells"]
    largest = max(jax_cells, key=lambda c: c["parameters"])
    big = largest["ms"]
    goals.append((f"jax {largest['shape']}: keras3r <= {GOAL_JIT} x stock jit",
                  big["keras3r"] <= GOAL_JIT * big["stock jit"]))
    share = FLOOR_BYTES * largest["parameters"] / (big["keras3r"] / 1e3) / 1e9
    goals.append((f"jax {largest['shape']}: keras3r >= {GOAL_BANDWIDTH:.0%} of copy bandwidth",
                  share >= GOAL_BANDWIDTH * parts["jax"]["copy_gbps"]))
    for cell in parts["torch"]["cells"]:
        goals.append((f"torch {cell['shape']}: keras3r <= {GOAL_TORCH} x torch fused",
                      cell["ms"]["keras3r"] <= GOAL_TORCH * cell["ms"]["torch fused"]))
    lines += ["", "| backend | fit() model | keras3r steps/s | stock steps/s | keras3r / stock |",
              "|---|---|---|---|---|"]
    for backend, part in parts.items():
        fit = part["fit"]
        lines.append(f"| {backend} | {fit['parameters']:,} parameters, batch {fit['batch']} | "
                     f"{fit['keras3r']:.1f} | {fit['stock']:.1f} | "
                     f"{fit['keras3r'] / fit['stock']:.2f} |")
    lines.append("")
    for backend, part in parts.items():
        lines.append(f"- {backend}: {part['device']}; " + ", ".join(
            f"{k} {v}" for k, v in part["versions"].items()))
        if backend == "jax":
            lines.append(f"- copy bandwidth (read + written): {part['copy_gbps']:.0f} GB/s")
        for note in part["left_out"]:
            lines.append(f"- left out: {note}")
    for name, result in summary["tests"].items():
        lines.append(f"- tests {name}: {result}")
    lines.append("")
    lines.append("Goals" + ("" if gpu else " (set for a GPU; on this CPU for information)") + ":")
    lines += [f"- {'met' if ok else 'NOT MET'}: {name}" for name, ok in goals]
    summary["goals"] = {name: ok for name, ok in goals}
    (out / "device_check.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "device_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def check_wheels(folder: Path) -> int:
    """0 when every requirement of the carried wheels is carried or in the GPU image."""
    wheels = sorted(folder.glob("*.whl"))
    carried = {w.name.split("-")[0].lower().replace("_", "-") for w in wheels}
    missing = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            for line in archive.read(meta).decode().splitlines():
                if not line.startswith("Requires-Dist:") or "extra ==" in line:
                    continue
                spec = line.split(":", 1)[1].split(";")[0].strip()
                name = spec.split("[")[0].split("<")[0].split(">")[0].split("=")[0]
                name = name.split("!")[0].split("~")[0].strip().lower().replace("_", "-")
                if name not in carried and name not in IMAGE_HAS:
                    missing.append(f"{wheel.name} needs {spec}")
    if not wheels or missing:
        print("device wheels incomplete:", *(missing or [f"no wheels in {folder}"]),
              sep="\n  ", file=sys.stderr)
        return 1
    print(f"device wheels: {', '.join(w.name for w in wheels)}; "
          f"{sum(w.stat().st_size for w in wheels) / 2**20:.1f} MiB; needs met")
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "measure":
        backend, out = argv[1], Path(argv[2])
        mode = "quick" if "--quick" in argv else "full"
        os.environ.setdefault("KERAS_BACKEND", backend)
        started = time.perf_counter()
        part = (measure_jax if backend == "jax" else measure_torch)(mode)
        part["seconds"] = round(time.perf_counter() - started, 1)
        (out / f"{backend}.json").write_text(json.dumps(part, indent=2) + "\n")
        print(f"device check: {backend} measured in {part['seconds']} s")
        return 0
    if argv[0] == "report":
        return report(Path(argv[1]), "--gpu" in argv)
    if argv[0] == "wheels":
        return check_wheels(Path(argv[1]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
