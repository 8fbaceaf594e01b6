"""keras3r against stock Keras in every driving mode, at three sizes, on every backend.

One run prints, for AdamW and each cell of

  sizes:  "mlp"    a 32-64-64-1 MLP, batch 128 (6.3k parameters in 6 variables)
          "1M/100" 1M parameters in 100 variables
          "8M/16"  8M parameters in 16 variables
  modes:  TensorFlow: eager `apply()`, a custom step in `tf.function`
          (forward, backward, `apply()`), fit()'s step without and with
          `jit_compile`;  JAX: eager `apply()`, fit()'s (jitted) step;
          torch: eager `apply()`, fit()'s step,

the median time of one step with keras3r's `optimizer_adam_w()` and with stock
`keras.optimizers.AdamW`, their ratio (keras3r / stock: below 1 is faster)
and the noise figure: stock's step timed again in blocks of its own in the
same rounds, stock2 / stock. Each step ends by waiting for its results (the
iteration counter read back; on JAX every variable, since JAX dispatches
each array's computation apart, asynchronously). fit()'s step is driven by
`train_on_batch`, which runs the train function fit() compiles. The "1M/100"
and "8M/16" models are one layer holding the variables with a cheap call,
so that the step is mostly the update.

On torch it also prints `torch.optim.AdamW(fused=True)`'s step on the same
tensors at 1M/100 and 8M/16 against keras3r's eager `apply()` (goal: within
1.2x), and fit()'s epoch time for an MLP of about 8M parameters on
synthetic data, keras3r against stock.

The floor: AdamW reads a variable, its gradient and two slots and writes
three arrays, 28 bytes a float32 parameter, so no step over the 1M/100 and
8M/16 cells can take less than moving those bytes. The eager `apply()` rows
of those cells time, in the same rounds as stock and keras3r, a NumPy copy
that moves as many bytes (read plus write), and print it as the floor,
keras3r's time as a multiple of it, and torch's fused step beside them. The
copy bandwidth of a 256 MB copy at the start of the run is printed too.

How it times: each backend runs in a process of its own (Keras fixes its
backend at import, and TF's, JAX's and torch's thread pools would otherwise
compete); in a process, the implementations of one cell run in rounds, a
block of consecutive steps each (the first untimed, after compiling), the
order alternating from round to round so that load from other processes
falls on all of them alike.

A figure, not a test: `make bench`, or `.venv/bin/python bench/bench_matrix.py`
(about 4 minutes; `--quick`: fewer rounds and a smaller torch fit()).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")
SIZES = ("mlp", "1M/100", "8M/16")
SHAPES = {"1M/100": (100, 10_000), "8M/16": (16, 500_000)}
BATCH = 128
MODES = {
    "tensorflow": ("eager apply()", "tf.function step", "fit() step", "fit() step, XLA"),
    "jax": ("eager apply()", "fit() step, jit"),
    "torch": ("eager apply()", "fit() step"),
}


# --- In one backend's process --------------------------------------------------------


def _model(size: str) -> Any:
    import keras

    keras.utils.set_random_seed(1)
    if size == "mlp":
        return keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(1),
            ]
        )
    count, length = SHAPES[size]

    class Bag(keras.layers.Layer):
        """`count` variables of `length`; each gets a dense gradient from a cheap call."""

        def build(self, input_shape: Any) -> None:
            self.bag = [
                self.add_weight(shape=(length,), initializer="ones", name=f"w{i}")
                for i in range(count)
            ]

        def call(self, x: Any) -> Any:
            means = keras.ops.stack([keras.ops.mean(w) for w in self.bag])
            return keras.ops.sum(x, axis=1, keepdims=True) * keras.ops.mean(means)

    return keras.Sequential([keras.Input((32,)), Bag()])


def _data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((BATCH, 32)).astype("float32"),
        rng.standard_normal((BATCH, 1)).astype("float32"),
    )


def _optimizer(implementation: str) -> Any:
    import keras

    import keras3r

    if implementation == "keras3r":
        return keras3r.optimizer_adam_w(learning_rate=1e-4)
    return keras.optimizers.AdamW(learning_rate=1e-4)


def _gradients(model: Any, x: Any, y: Any) -> list[Any]:
    """One step's gradients as the backend's tensors, computed once."""
    import keras

    backend = keras.backend.backend()
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        return list(tape.gradient(loss, variables))
    if backend == "jax":
        import jax

        values = [v.value for v in variables]

        def loss(values: list[Any]) -> Any:
            out, _ = model.stateless_call(values, [], x)
            return ((out - y) ** 2).mean()

        return list(jax.grad(loss)(values))
    import torch

    model.zero_grad()
    loss = ((model(torch.as_tensor(x)) - torch.as_tensor(y)) ** 2).mean()
    loss.backward()
    return [v.value.grad.detach().clone() for v in variables]


def _synced(step: Callable[[], Any], optimizer: Any, model: Any) -> Callable[[], Any]:
    """`step`, then a wait for its results: JAX dispatches asynchronously, each array apart."""
    import keras

    if keras.backend.backend() != "jax":
        return lambda: (step(), keras.ops.convert_to_numpy(optimizer.iterations))
    import jax

    def run() -> Any:
        step()
        variables = list(model.trainable_variables) + list(optimizer.variables)
        return jax.block_until_ready([v.value for v in variables])

    return run


def _step(mode: str, implementation: str, size: str) -> Callable[[], Any]:
    """One step of `mode` for a fresh model and optimizer, compiled by a first call."""
    import keras

    model = _model(size)
    x, y = _data()
    optimizer = _optimizer(implementation)
    if mode == "eager apply()":
        from keras3r.adapt import eager_apply

        grads = _gradients(model, x, y)
        variables = model.trainable_variables
        step = _synced(lambda: optimizer.apply(grads, variables), optimizer, model)
        # Past keras3r's first calls, which run on Keras's path until it
        # compiles: the matrix compares steady steps (a --quick run times as
        # few as two steps a cell, which would otherwise include them).
        for _ in range(eager_apply.KERAS_CALLS_BEFORE_COMPILING + 1):
            step()
        return step
    if mode == "tf.function step":
        import tensorflow as tf

        @tf.function
        def step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x, training=True) - y) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return loss

        tx, ty = tf.constant(x), tf.constant(y)
        return _synced(lambda: step(tx, ty), optimizer, model)
    # fit()'s own choice per backend: XLA on TensorFlow only when asked,
    # always jitted on JAX, eager on torch.
    jit = {"tensorflow": mode.endswith("XLA"), "jax": True}.get(keras.backend.backend(), False)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit)
    return _synced(lambda: model.train_on_batch(x, y), optimizer, model)


def interleaved(
    steps: dict[str, Callable[[], Any]], rounds: int, block: int
) -> dict[str, float]:
    """Median seconds a step, blocks of steps rotating between implementations."""
    for step in steps.values():
        step()
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            step = steps[name]
            step()  # untimed: refill caches after the previous implementation
            for _ in range(block):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _plan(size: str, quick: bool) -> tuple[int, int]:
    """(rounds, block): fewer steps where one step is long."""
    if size == "8M/16":
        return (2, 1) if quick else (3, 2)
    return (3, 3) if quick else (5, 4)


def _torch_fused(size: str, quick: bool) -> dict[str, float]:
    """torch.optim.AdamW(fused=True) against keras3r's eager apply() on the same tensors."""
    import keras
    import torch

    count, length = SHAPES[size]
    grads = [torch.randn(length) for _ in range(count)]
    params = [torch.nn.Parameter(torch.zeros(length)) for _ in range(count)]
    for param, grad in zip(params, grads):
        param.grad = grad
    fused = torch.optim.AdamW(params, lr=1e-4, fused=True)
    variables = [keras.Variable(torch.zeros(length)) for _ in range(count)]
    ours = _optimizer("keras3r")
    rounds, block = _plan(size, quick)
    found = interleaved(
        {"torch fused": fused.step, "keras3r": lambda: ours.apply(grads, variables)},
        rounds,
        block,
    )
    return found


def _torch_fit_epoch(quick: bool) -> dict[str, float]:
    """fit()'s epoch time for an MLP of about 8M parameters on synthetic data."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    samples = 512 if quick else 1024
    x = rng.standard_normal((samples, 1024)).astype("float32")
    y = rng.standard_normal((samples, 1)).astype("float32")
    models = {}
    for implementation in ("stock", "keras3r"):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [
                keras.Input((1024,)),
                keras.layers.Dense(2560, activation="relu"),
                keras.layers.Dense(2048, activation="relu"),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer=_optimizer(implementation), loss="mse")
        models[implementation] = model

    def epoch(model: Any) -> Callable[[], Any]:
        return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)

    found = interleaved(
        {name: epoch(model) for name, model in models.items()}, 1 if quick else 2, 1
    )
    found["parameters"] = float(models["stock"].count_params())
    return found


def run_backend(backend: str, quick: bool) -> dict[str, Any]:
    if backend == "torch":
        import torch

        # One thread, for stock, keras3r and torch.optim alike: on 2 shared
        # cores torch's OpenMP workers stall on their barriers whenever
        # another process runs (steps of 1 ms measured at 80 ms), which
        # drowns every ratio in noise.
        torch.set_num_threads(1)
    rows = []
    for size in SIZES:
        rounds, block = _plan(size, quick)
        for mode in MODES[backend]:
            steps = {name: _step(mode, name, size) for name in ("stock", "keras3r")}
            # The noise: stock against itself, the same step timed in blocks of its own.
            steps["stock2"] = steps["stock"]
            parameters = _parameters(size)
            if parameters and mode == "eager apply()":
                steps["floor"] = _floor_copy(parameters)
            found = interleaved(steps, rounds, block)
            rows.append({"backend": backend, "mode": mode, "size": size, **found})
            print(f"  {backend} {mode} {size} done", file=sys.stderr, flush=True)
    extra: dict[str, Any] = {}
    if backend == "torch":
        extra["fused"] = {size: _torch_fused(size, quick) for size in SHAPES}
        extra["fit_epoch"] = _torch_fit_epoch(quick)
    return {"rows": rows, **extra}


# --- The driver ------------------------------------------------------------------------


# AdamW's memory traffic: variable, gradient, first and second moments read,
# variable and both moments written, 4 bytes each.
BYTES_PER_PARAMETER = 28


def copy_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Bytes a second a large float32 copy moves (read + write), the best of `repeats`.

    NumPy on one thread: what one core's loads and stores reach, the bound of
    an update that streams its arrays once.
    """
    import numpy as np

    source = np.ones(megabytes * 2**20 // 4, np.float32)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best


def _floor_copy(parameters: int) -> Callable[[], Any]:
    """A copy moving AdamW's bytes for `parameters` (half read, half written)."""
    import numpy as np

    source = np.ones(BYTES_PER_PARAMETER * parameters // 2 // 4, np.float32)
    target = np.empty_like(source)
    return lambda: np.copyto(target, source)


def _parameters(size: str) -> int | None:
    if size not in SHAPES:
        return None
    count, length = SHAPES[size]
    return count * length


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f}"


def report(results: dict[str, dict[str, Any]], bandwidth: float) -> None:
    print(f"\ncopy bandwidth {bandwidth / 1e9:.1f} GB/s (read + write) at the start; the floor: "
          f"a copy of {BYTES_PER_PARAMETER} bytes a parameter, timed with each cell")  # fmt: skip
    print("AdamW step, median ms (keras3r / stock: below 1 is faster; "
          "stock2 / stock: the noise)")  # fmt: skip
    print(f"{'backend':<11}{'mode':<18}{'size':<8}{'stock':>9}{'keras3r':>9}"
          f"{'k3r/stock':>11}{'noise':>8}")  # fmt: skip
    worst_noise = 1.0
    fused_times = {
        size: found["torch fused"]
        for size, found in results.get("torch", {}).get("fused", {}).items()
    }
    for backend, result in results.items():
        for row in result["rows"]:
            ratio = row["keras3r"] / row["stock"]
            noise = row["stock2"] / row["stock"]
            worst_noise = max(worst_noise, noise, 1 / noise)
            line = (f"{backend:<11}{row['mode']:<18}{row['size']:<8}{_ms(row['stock'])}"
                    f"{_ms(row['keras3r'])}{ratio:11.2f}{noise:8.2f}")  # fmt: skip
            floor = row.get("floor")
            if floor:
                fused = fused_times.get(row["size"])
                line += (f"   floor {_ms(floor).strip()}, "
                         f"keras3r / floor {row['keras3r'] / floor:.2f}")  # fmt: skip
                if fused is not None:
                    line += f", torch fused {_ms(fused).strip()}"
            print(line)
    print(f"noise: stock against stock within {worst_noise:.2f}x in every cell")
    torch_result = results.get("torch", {})
    for size, found in torch_result.get("fused", {}).items():
        ratio = found["keras3r"] / found["torch fused"]
        print(f"torch {size}: keras3r eager apply() {_ms(found['keras3r']).strip()} ms, "
              f"torch.optim.AdamW(fused=True) {_ms(found['torch fused']).strip()} ms, "
              f"keras3r / torch fused {ratio:.2f} (goal <= 1.2)")  # fmt: skip
    epoch = torch_result.get("fit_epoch")
    if epoch:
        print(f"torch fit() epoch, MLP of {int(epoch['parameters']):,} parameters: "
              f"stock {epoch['stock']:.2f} s, keras3r {epoch['keras3r']:.2f} s, "
              f"keras3r / stock {epoch['keras3r'] / epoch['stock']:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a short run")
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        result = run_backend(args.backend, args.quick)
        print(json.dumps(result))
        return
    results = {}
    started = time.perf_counter()
    bandwidth = copy_bandwidth()
    for backend in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, str(Path(__file__).resolve()), "--backend", backend]
        done = subprocess.run(
            command + (["--quick"] if args.quick else []),
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"bench_matrix: the {backend} run failed:\n{done.stderr[-3000:]}")
        results[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    report(results, bandwidth)
    print(f"(one run, {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
