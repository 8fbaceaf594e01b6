"""A sweep of many small models in one session: memory kept and first-step cost.

R users keep one session open for hours and build model after model in it
(hyperparameter sweeps, cross-validation folds). This measures what each new
optimizer costs there, keras3r's `optimizer_adam_w` against stock
`keras.optimizers.AdamW`, on TensorFlow and JAX:

  * memory kept per dropped optimizer: the process's resident memory after
    MODELS models (each a 16-32-1 MLP with a new AdamW, two eager `apply()`
    steps, then dropped and garbage-collected) minus that after WARMUP such
    models, divided by MODELS;
  * the time of a new optimizer's first two steps (median over the MODELS);
  * for the two sizes of bench_adamw.py, the time of each of the first
    STEPS steps of a new optimizer, for the first optimizer of that size in
    the process and for a second one of the same size (a model rebuilt,
    the next fold of a cross-validation).

keras3r is measured as released (a new structure's first calls run on
Keras's path, see keras3r.adapt.eager_apply.KERAS_CALLS_BEFORE_COMPILING, so a
two-step optimizer never compiles) and compiling from the first call
("keras3r at once", what a sweep of longer trainings runs: one compiled
update shared by every optimizer of a structure).

Each (backend, implementation) runs in a process of its own, so that one's
memory does not count in another's. One run, not a test: the lead reruns
it alone for published figures (`make bench`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

WARMUP = 10
MODELS = 80
STEPS = 6
IMPLEMENTATIONS = ("stock", "keras3r", "keras3r at once")
SIZES = {"large": (16, 8_000_000), "many small": (100, 1_000_000)}
SEED = 0


def resident_mb() -> float:
    """Resident set size of this process, in MB (Linux /proc/self/statm)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def child(backend: str, implementation: str) -> dict[str, Any]:
    """The figures for one backend and implementation, in this process."""
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import gc

    import keras
    import numpy as np

    import keras3r
    from keras3r.adapt import eager_apply

    if implementation == "keras3r at once":
        eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0
    if backend == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")

    def make_optimizer() -> Any:
        if implementation.startswith("keras3r"):
            return keras3r.optimizer_adam_w()
        return keras.optimizers.AdamW()

    rng = np.random.default_rng(SEED)

    def one_model() -> float:
        model = keras.Sequential(
            [keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
        )
        variables = model.trainable_variables
        grads = [
            keras.ops.convert_to_tensor((rng.standard_normal(v.shape) * 1e-2).astype("float32"))
            for v in variables
        ]
        optimizer = make_optimizer()
        start = time.perf_counter()
        optimizer.apply(grads, variables)
        optimizer.apply(grads, variables)
        return time.perf_counter() - start

    for _ in range(WARMUP):
        one_model()
        gc.collect()
    before = resident_mb()
    times = []
    for _ in range(MODELS):
        times.append(one_model())
        gc.collect()
    kept = (resident_mb() - before) / MODELS

    sizes: dict[str, list[list[float]]] = {}
    for label, (n_vars, total) in SIZES.items():
        size = total // n_vars
        params = [rng.standard_normal(size).astype("float32") for _ in range(n_vars)]
        grads = [
            keras.ops.convert_to_tensor((rng.standard_normal(size) * 1e-2).astype("float32"))
            for _ in range(n_vars)
        ]
        runs = []
        for _ in range(2):  # the first optimizer of this size, then a second one
            variables = [keras.Variable(p) for p in params]
            optimizer = make_optimizer()
            step_times = []
            for _ in range(STEPS):
                start = time.perf_counter()
                optimizer.apply(grads, variables)
                if backend == "jax":  # wait for the update, as the next step would
                    variables[0].value.block_until_ready()
                step_times.append(time.perf_counter() - start)
            runs.append(step_times)
            del variables, optimizer
            gc.collect()
        sizes[label] = runs
    return {"kept_mb": kept, "first_two_s": statistics.median(times), "sizes": sizes}


def main() -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Sweep: {MODELS} models (16-32-1 MLP, a new AdamW each, two eager apply() steps, "
          f"dropped and collected) after {WARMUP} warm-up models; one process per row; "
          f"{os.cpu_count()} CPUs; load average at start {load}")
    started = time.perf_counter()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for backend in ("tensorflow", "jax"):
        for implementation in IMPLEMENTATIONS:
            out = subprocess.run(
                [sys.executable, __file__, "--child", backend, implementation],
                check=True, capture_output=True, text=True,
            ).stdout
            results[backend, implementation] = json.loads(out.strip().splitlines()[-1])

    print(f"\n{'backend':<11} {'optimizer':<16} {'MB kept per dropped optimizer':>30} "
          f"{'first two steps (s)':>20}")
    for (backend, implementation), r in results.items():
        print(f"{backend:<11} {implementation:<16} {r['kept_mb']:30.3f} "
              f"{r['first_two_s']:20.4f}")
    for backend in ("tensorflow", "jax"):
        stock = results[backend, "stock"]["first_two_s"]
        for implementation in IMPLEMENTATIONS[1:]:
            ours = results[backend, implementation]["first_two_s"]
            print(f"{backend}: {implementation} / stock first two steps = {ours / stock:.2f}")

    print(f"\nFirst {STEPS} steps of a new optimizer (s each), sizes of bench_adamw.py; "
          "'1st' is the first optimizer of that size in the process, '2nd' a second one")
    for backend in ("tensorflow", "jax"):
        for label, (n_vars, total) in SIZES.items():
            for implementation in IMPLEMENTATIONS:
                runs = results[backend, implementation]["sizes"][label]
                for which, step_times in zip(("1st", "2nd"), runs):
                    steps = " ".join(f"{t:7.3f}" for t in step_times)
                    print(f"{backend:<11} {label:<10} ({total:,} in {n_vars} variables) "
                          f"{implementation:<15} {which}: {steps}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at end {load}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
    else:
        main()
