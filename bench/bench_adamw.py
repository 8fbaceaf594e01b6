"""AdamW update step: keras3r's optimizer_adam_w against stock Keras and torch.

One run measures, for two shapes of model,
  (a) large: 8M parameters in 16 variables,
  (b) many small: 1M parameters in 100 variables,
the time of one update step of
  * keras3r.optimizer_adam_w driven eagerly (`opt.apply(grads, vars)` in a
    loop), inside a `tf.function`, and inside a `tf.function(jit_compile=True)`;
  * stock `keras.optimizers.AdamW` driven the same three ways;
  * `torch.optim.AdamW(fused=True)` (foreach when fused is not available),
and prints medians, ratios, the bytes one update moves per parameter (counted
from the HLO that XLA compiled for keras3r's update) and the share of this
machine's memory bandwidth (measured in the same run) that this is.

How it times: every implementation has its own optimizer and variables and
runs in blocks of consecutive steps (the first step of a block untimed, to
refill caches after the previous implementation), blocks rotating between
implementations round by round, so that load from other processes falls on
all of them alike.  torch runs in a phase of its own, after a pause: torch's
OpenMP threads and TensorFlow's thread pool keep spinning after each step, and
interleaving them step by step measured a 1 ms torch step at over 100 ms on 2
cores.  On a loaded machine torch's multi-threaded kernel can also stall on
its barriers, so torch is timed with its default threads and with 1 thread,
and compared at the faster of the two.

A figure, not a test: `make bench` or `.venv/bin/python bench/bench_adamw.py`.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

import keras3r  # noqa: E402
from hlo_traffic import hlo_traffic_bytes  # noqa: E402
from keras3r.adapt import eager_apply  # noqa: E402
from keras3r.adapt.eager_apply import compiled_hlo, stats  # noqa: E402

# The compiled update and its first step's cost are measured here: compile on
# the first call (keras3r otherwise runs a new structure's first calls on
# Keras's path; bench_sweep.py measures those first steps).
eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0

tf.get_logger().setLevel("ERROR")  # four steps share one Python body: no retrace warnings

SHAPES = {
    "large": (16, 8_000_000),
    "many small": (100, 1_000_000),
}
ROUNDS = 6  # rounds of blocks per shape
BLOCK = 4  # timed steps per block (after one untimed step)
PAUSE_S = 0.5  # between the TensorFlow and torch phases, for spinning threads to sleep
MODES = ("eager", "tf.function", "XLA")
SEED = 0

def memory_bandwidth(n_bytes: int, repeats: int = 9) -> dict[str, float]:
    """GB/s of simple streaming kernels over a working set of `n_bytes`.

    Counted as bytes read plus bytes written, as STREAM does: a copy moves 2
    arrays, the in-place triad `a = a + s * b` 3.  Several kernels and thread
    counts, because on a shared 2-core machine any one of them can stall
    (torch's multi-threaded kernels did, so none is used here); the best is
    taken as the machine's figure.
    """
    n = n_bytes // 4 // 3  # three float32 arrays make the working set
    rng = np.random.default_rng(SEED)
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    va, vb = tf.Variable(b), tf.Variable(c)
    # In place, as the optimizer updates its variables (a fresh output buffer
    # each call would measure page faults, not bandwidth).
    xla_triad = tf.function(lambda: va.assign(va + 0.5 * vb), jit_compile=True)  # 3 arrays
    halves = [(a[: n // 2], b[: n // 2]), (a[n // 2 :], b[n // 2 :])]
    pool = ThreadPoolExecutor(2)
    kernels = {
        "NumPy copy 1 thread": (lambda: np.copyto(a, b), 2),
        "NumPy copy 2 threads": (lambda: list(pool.map(lambda h: np.copyto(*h), halves)), 2),
        "XLA triad": (xla_triad, 3),
    }
    results = {}
    for name, (kernel, arrays) in kernels.items():
        kernel()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            kernel()
            times.append(time.perf_counter() - start)
        results[name] = arrays * 4 * n / statistics.median(times) / 1e9
    pool.shutdown()
    return results


# ---------------------------------------------------------------- the steps


def make_arrays(n_vars: int, total: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(SEED)
    size = total // n_vars
    params = [rng.standard_normal(size).astype(np.float32) for _ in range(n_vars)]
    grads = [(rng.standard_normal(size) * 1e-2).astype(np.float32) for _ in range(n_vars)]
    return params, grads


def graph_step(opt: Any, variables: list[Any], jit_compile: bool) -> Callable[[list[Any]], None]:
    # The variables are captured by the step, never passed to it: a
    # tf.function argument (a default included) arrives as a plain tensor.
    def step(grads: list[Any]) -> None:
        opt.apply(grads, variables)

    return tf.function(step, jit_compile=jit_compile)


def keras_steps(
    make_optimizer: Callable[[], Any], params: list[np.ndarray], grads: list[np.ndarray]
) -> tuple[dict[str, Callable[[], Any]], Any]:
    """An eager, a tf.function and an XLA step, each with its own optimizer and
    variables; and the eager step's optimizer."""
    tensors = [tf.constant(g) for g in grads]
    steps: dict[str, Callable[[], Any]] = {}
    eager_optimizer = None
    for mode in MODES:
        variables = [keras.Variable(p) for p in params]
        opt = make_optimizer()
        opt.build(variables)  # slots made eagerly, for every mode alike
        if mode == "eager":
            steps[mode] = (lambda o, v: lambda: o.apply(tensors, v))(opt, variables)
            eager_optimizer = opt
        else:
            function = graph_step(opt, variables, jit_compile=(mode == "XLA"))
            steps[mode] = (lambda f: lambda: f(tensors))(function)
    return steps, eager_optimizer


def torch_optimizer(params: list[np.ndarray], grads: list[np.ndarray]) -> tuple[Any, str]:
    weights = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    for w, g in zip(weights, grads):
        w.grad = torch.from_numpy(g.copy())
    settings = {"lr": 1e-3, "weight_decay": 0.004, "eps": 1e-7}  # Keras AdamW's defaults
    try:
        opt = torch.optim.AdamW(weights, fused=True, **settings)
        opt.step()
        return opt, "fused"
    except (RuntimeError, TypeError) as error:
        opt = torch.optim.AdamW(weights, foreach=True, **settings)
        return opt, f"foreach: fused is unavailable on this CPU build ({error})"


def time_blocks(
    steps: dict[str, Callable[[], Any]], before: dict[str, Callable[[], Any]] | None = None
) -> dict[str, float]:
    """Median ms per step: blocks of BLOCK timed steps, order rotating each round."""
    names = list(steps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(ROUNDS):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if before:
                before[name]()
            steps[name]()  # untimed: caches refill after the previous implementation
            for _ in range(BLOCK):
                start = time.perf_counter()
                steps[name]()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) * 1e3 for name, s in samples.items()}


# ---------------------------------------------------------------- report


def bench_shape(label: str, n_vars: int, total: int) -> None:
    params, grads = make_arrays(n_vars, total)
    n_params = sum(p.size for p in params)
    ours, ours_eager_opt = keras_steps(lambda: keras3r.optimizer_adam_w(), params, grads)
    stock, _ = keras_steps(lambda: keras.optimizers.AdamW(), params, grads)
    steps = {f"ours {m}": s for m, s in ours.items()}
    steps.update({f"stock {m}": s for m, s in stock.items()})

    start = time.perf_counter()
    ours["eager"]()  # the first eager step traces and XLA-compiles
    first_step_s = time.perf_counter() - start
    for step in steps.values():
        step()
    times = time_blocks(steps)
    counts = stats(ours_eager_opt)

    time.sleep(PAUSE_S)
    torch_opt, torch_kind = torch_optimizer(params, grads)
    default_threads = torch.get_num_threads()
    torch_times = time_blocks(
        {f"torch {default_threads} threads": torch_opt.step, "torch 1 thread": torch_opt.step},
        before={
            f"torch {default_threads} threads": lambda: torch.set_num_threads(default_threads),
            "torch 1 thread": lambda: torch.set_num_threads(1),
        },
    )
    torch.set_num_threads(default_threads)
    torch_best = min(torch_times, key=torch_times.get)
    torch_ms = torch_times[torch_best]
    time.sleep(PAUSE_S)

    print(f"\n== ({'a' if n_vars == 16 else 'b'}) {label}: {n_params:,} parameters "
          f"in {n_vars} float32 variables ==")
    print(f"ours eager: first step (trace + XLA compile) {first_step_s:.2f} s; over the run "
          f"{counts['traces']} trace for {counts['compiled_calls']} compiled calls, "
          f"{counts['keras_calls']} on Keras's eager path")
    print(f"torch.optim.AdamW {torch_kind}: "
          + ", ".join(f"{k} {v:.2f} ms" for k, v in torch_times.items())
          + f"; compared below at the faster ({torch_best})")
    print(f"{'mode':<12} {'ours ms':>9} {'stock ms':>9} {'ours/stock':>11} "
          f"{'ours/stock-XLA':>15} {'ours/torch':>11}")
    for mode in MODES:
        o, s = times[f"ours {mode}"], times[f"stock {mode}"]
        print(f"{mode:<12} {o:9.2f} {s:9.2f} {o / s:11.2f} "
              f"{o / times['stock XLA']:15.2f} {o / torch_ms:11.2f}")


    hlo = compiled_hlo(ours_eager_opt)
    traffic, n_kernels = hlo_traffic_bytes(hlo[0]) if hlo else (float("nan"), 0)
    ours_bpp = traffic / n_params
    torch_bpp = 28.0  # one pass: reads param, grad, m, v and writes param, m, v (4 B each)
    working_set = 16 * n_params  # param, grad, m, v
    kernels = memory_bandwidth(working_set)
    bandwidth = max(kernels.values())
    print(f"bytes streamed per parameter per update: ours {ours_bpp:.1f}, counted from the "
          f"HLO XLA compiled ({n_kernels} kernels for {n_vars} variables: XLA's CPU backend "
          f"writes new m and v in kernels of their own and the parameter's kernel reads them "
          f"back); torch fused {torch_bpp:.0f} (one pass, the minimum for AdamW)")
    print("  (the re-reads of a variable's just-written m and v can hit cache, so a share "
          "above 100% below means cache reuse, not a wrong clock)")
    print(f"memory bandwidth at this working set ({working_set / 2**20:.0f} MiB): "
          + ", ".join(f"{k} {v:.1f}" for k, v in kernels.items())
          + f" GB/s; best {bandwidth:.1f} GB/s")
    for name, ms, bpp in (
        ("ours eager", times["ours eager"], ours_bpp),
        ("ours XLA", times["ours XLA"], ours_bpp),
        ("stock XLA", times["stock XLA"], ours_bpp),
        ("torch", torch_ms, torch_bpp),
    ):
        achieved = bpp * n_params / (ms / 1e3) / 1e9
        print(f"  {name:<11} {achieved:6.1f} GB/s = {achieved / bandwidth:5.1%} of that bandwidth")


def main() -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"AdamW update step, median of {ROUNDS * BLOCK} steps per implementation "
          f"({ROUNDS} rotating blocks of {BLOCK}, after warm-up)")
    print(f"python {platform.python_version()}, keras {keras.__version__}, tensorflow "
          f"{tf.__version__}, torch {torch.__version__}, numpy {np.__version__}; "
          f"{os.cpu_count()} CPUs; load average at start {load}")
    started = time.perf_counter()
    for label, (n_vars, total) in SHAPES.items():
        bench_shape(label, n_vars, total)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at end {load}")


if __name__ == "__main__":
    main()
