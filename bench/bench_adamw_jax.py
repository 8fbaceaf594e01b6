"""AdamW update step on Keras's JAX backend, on the GPU when there is one.

The companion of bench_adamw.py (TensorFlow, CPU) for the same figures on JAX:
what the update costs, in time and in bytes per parameter, on the JAX backend,
and what share of the device's memory bandwidth that is. Runs wherever JAX
runs, CPU (`make bench`) or GPU, and needs no TensorFlow: a GPU machine with
only JAX (and torch, for its figure) installed will do.

Per shape it times one update step of
  * keras3r.optimizer_adam_w driven eagerly (`opt.apply(grads, vars)` in a
    loop: keras3r's cached jit-compiled update, keras3r.adapt.jax);
  * stock `keras.optimizers.AdamW` driven eagerly (Keras's op-by-op path);
  * stock AdamW's `stateless_apply` under `jax.jit` with its state donated,
    the way Keras's own JAX trainer runs it inside `fit()` ("stock jit");
  * `torch.optim.AdamW(fused=True)` on the same device, when torch has one.
Steps are dispatched asynchronously and timed in blocks ended by waiting for
the results, as a training loop runs them; blocks rotate between the
implementations. Bytes per parameter are counted from the HLO that XLA
compiled for keras3r's update (bench/hlo_traffic.py) and read from XLA's own
cost analysis; the bandwidth is measured in the same run with an in-place
triad and a copy.

A figure, not a test: `.venv/bin/python bench/bench_adamw_jax.py`.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras3r  # noqa: E402
from device_check import stock_jit_step, timed_blocks  # noqa: E402
from hlo_traffic import hlo_traffic_bytes  # noqa: E402
from keras3r.adapt import eager_apply  # noqa: E402
from keras3r.adapt.eager_apply import compiled_hlo, stats  # noqa: E402

# The compiled update and its first step's cost are measured here: compile on
# the first call (keras3r otherwise runs a new structure's first calls on
# Keras's path; bench_sweep.py measures those first steps).
eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0

try:
    import torch
except ImportError:  # the figures for torch are then left out
    torch = None

ON_GPU = jax.default_backend() == "gpu"
SHAPES = {
    "large": (16, 8_000_000),
    "many small": (100, 1_000_000),
}
if ON_GPU:  # big enough that the update, not the launch, dominates
    SHAPES["very large"] = (16, 256_000_000)
ROUNDS = 5
BLOCK = 20 if ON_GPU else 4
SEED = 0
TORCH_BPP = 28.0  # one pass: reads param, grad, m, v; writes param, m, v (4 bytes each)


def make_arrays(n_vars: int, total: int) -> tuple[list[np.ndarray], list[Any]]:
    rng = np.random.default_rng(SEED)
    size = total // n_vars
    params = [rng.standard_normal(size, dtype=np.float32) for _ in range(n_vars)]
    grads = [jnp.asarray(rng.standard_normal(size, dtype=np.float32) * 1e-2) for _ in range(n_vars)]
    return params, grads


# Each implementation is (step, last): `step()` dispatches one update and
# returns nothing, `last()` gives a result to wait for at the end of a block.
# Holding a result across steps would keep a buffer referenced, which stops
# keras3r from donating it (see keras3r.adapt.jax).
Steps = tuple[Callable[[], None], Callable[[], Any]]


def eager_step(opt: Any, params: list[np.ndarray], grads: list[Any]) -> Steps:
    variables = [keras.Variable(p) for p in params]
    opt.build(variables)
    return (lambda: opt.apply(grads, variables)), (lambda: variables[-1].value)


def torch_step(
    params: list[np.ndarray], grads: list[Any]
) -> tuple[Callable[[], None], Callable[[], Any], str]:
    device = "cuda" if ON_GPU and torch.cuda.is_available() else "cpu"
    weights = [torch.nn.Parameter(torch.from_numpy(p).to(device)) for p in params]
    for w, g in zip(weights, grads):
        w.grad = torch.from_numpy(np.array(g)).to(device)
    settings = {"lr": 1e-3, "weight_decay": 0.004, "eps": 1e-7}  # Keras AdamW's defaults
    try:
        opt = torch.optim.AdamW(weights, fused=True, **settings)
        opt.step()
        kind = f"fused on {device}"
    except (RuntimeError, TypeError):
        opt = torch.optim.AdamW(weights, foreach=True, **settings)
        kind = f"foreach on {device} (fused unavailable)"

    return (lambda: opt.step()), (lambda: weights[-1]), kind


def wait(result: Any) -> None:
    if torch is not None and isinstance(result, torch.Tensor):
        if result.is_cuda:
            torch.cuda.synchronize()
    else:
        jax.block_until_ready(result)


def time_blocks(steps: dict[str, Steps]) -> dict[str, float]:
    """Median ms per step over blocks of BLOCK asynchronously dispatched steps."""
    # No untimed warm-up: the first step of keras3r's update is timed apart.
    return timed_blocks(steps, wait, ROUNDS, BLOCK, warmup=0)


def bandwidth(n_bytes: int) -> dict[str, float]:
    """GB/s (bytes read plus written) of an in-place triad, and a device copy on a GPU.

    In place, as the optimizer updates its variables: a fresh output buffer
    per call would measure the allocator (page faults on a CPU), not memory.
    """
    n = n_bytes // 4 // 3
    b = jnp.full(n, 0.5, jnp.float32)
    triad = jax.jit(lambda x, y: x + 0.5 * y, donate_argnums=0)
    kernels: dict[str, tuple[Callable[[], Any], int]] = {}
    box = {"a": jnp.ones(n, jnp.float32)}

    def run_triad() -> Any:
        box["a"] = triad(box["a"], b)
        return box["a"]

    kernels["jax in-place triad"] = (run_triad, 3)
    if torch is not None and ON_GPU and torch.cuda.is_available():
        src = torch.ones(n, device="cuda")
        dst = torch.empty_like(src)
        kernels["torch copy"] = (lambda: dst.copy_(src), 2)
    out = {}
    for name, (kernel, arrays) in kernels.items():
        wait(kernel())
        times = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(10):
                result = kernel()
            wait(result)
            times.append((time.perf_counter() - start) / 10)
        out[name] = arrays * 4 * n / statistics.median(times) / 1e9
    return out


def bench_shape(label: str, n_vars: int, total: int) -> None:
    params, grads = make_arrays(n_vars, total)
    n_params = sum(p.size for p in params)
    ours_opt = keras3r.optimizer_adam_w()
    steps = {"ours eager": eager_step(ours_opt, params, grads)}
    start = time.perf_counter()
    steps["ours eager"][0]()  # traces and compiles
    wait(steps["ours eager"][1]())
    first_s = time.perf_counter() - start
    steps["stock eager"] = eager_step(keras.optimizers.AdamW(), params, grads)
    steps["stock jit"] = stock_jit_step(params, grads)
    torch_kind = None
    if torch is not None:
        step, last, torch_kind = torch_step(params, grads)
        steps["torch"] = (step, last)
    del params
    times = time_blocks(steps)
    counts = stats(ours_opt)

    hlo = compiled_hlo(ours_opt)
    traffic, n_kernels = hlo_traffic_bytes(hlo[0]) if hlo else (float("nan"), 0)
    ours_bpp = traffic / n_params
    entry = next(iter(eager_apply.compiled_state(ours_opt).entries.values()))
    cost = entry.compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    xla_bpp = float(cost.get("bytes accessed", float("nan"))) / n_params

    print(f"\n== {label}: {n_params:,} parameters in {n_vars} float32 variables ==")
    print(
        f"ours eager: first step (build + trace + compile) {first_s:.2f} s; over the run "
        f"{counts['traces']} trace for {counts['compiled_calls']} compiled calls, "
        f"{counts['keras_calls']} on Keras's path"
    )
    if torch_kind:
        print(f"torch.optim.AdamW {torch_kind}")
    base = times["stock jit"]
    print(f"{'implementation':<14} {'ms/step':>9} {'/ stock jit':>12} {'/ torch':>9}")
    for name, ms in times.items():
        vs_torch = f"{ms / times['torch']:9.2f}" if "torch" in times else ""
        print(f"{name:<14} {ms:9.3f} {ms / base:12.2f} {vs_torch}")
    print(
        f"bytes per parameter per update, ours: {ours_bpp:.1f} counted from the compiled "
        f"HLO ({n_kernels} kernels), {xla_bpp:.1f} by XLA's cost analysis; torch fused "
        f"{TORCH_BPP:.0f} (one pass)"
    )
    kernels = bandwidth(16 * n_params)
    best = max(kernels.values())
    print(
        "bandwidth at this working set: "
        + ", ".join(f"{k} {v:.0f}" for k, v in kernels.items())
        + f" GB/s; best {best:.0f}"
    )
    for name, bpp in (("ours eager", ours_bpp), ("stock jit", ours_bpp), ("torch", TORCH_BPP)):
        if name in times:
            achieved = bpp * n_params / (times[name] / 1e3) / 1e9
            print(f"  {name:<11} {achieved:7.0f} GB/s = {achieved / best:5.1%} of that bandwidth")
    sys.stdout.flush()


def main() -> None:
    device = jax.devices()[0]
    print(
        f"AdamW update on Keras's JAX backend, device {device.device_kind} "
        f"({jax.default_backend()}); median of {ROUNDS} rotating blocks of {BLOCK} steps"
    )
    print(
        f"python {platform.python_version()}, keras {keras.__version__}, jax {jax.__version__}, "
        f"torch {torch.__version__ if torch else 'absent'}, numpy {np.__version__}; "
        f"{os.cpu_count()} CPUs"
    )
    started = time.perf_counter()
    for label, (n_vars, total) in SHAPES.items():
        bench_shape(label, n_vars, total)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
