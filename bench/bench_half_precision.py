"""Eager apply() on float16 and bfloat16 variables: keras3r against stock Keras.

keras3r leaves such variables on Keras's own path (keras3r.adapt.eager_apply), so
the ratio should sit at 1 within noise. One run: Adam, SGD with momentum and
Adagrad on 16 variables of 64x1024, each timed in alternating blocks of 20
steps, medians of 5 rounds, on the backend KERAS_BACKEND names.

A figure, not a test: `.venv/bin/python bench/bench_half_precision.py`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras3r  # noqa: E402

BUILDERS: dict[str, Callable[[], Any]] = {
    "adam": lambda: keras3r.optimizer_adam(learning_rate=1e-3),
    "sgd": lambda: keras3r.optimizer_sgd(learning_rate=1e-3, momentum=0.9),
    "adagrad": lambda: keras3r.optimizer_adagrad(learning_rate=1e-3),
}


def block(opt: Any, variables: list[Any], grads: list[Any], steps: int = 20) -> float:
    opt.apply(grads, variables)  # untimed: refill caches after the other one
    start = time.perf_counter()
    for _ in range(steps):
        opt.apply(grads, variables)
    keras.ops.convert_to_numpy(variables[0])
    return (time.perf_counter() - start) / steps


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"backend {keras.backend.backend()}: ms per eager step, median of 5 rounds")
    for dtype in ("float16", "bfloat16"):
        for name, build in BUILDERS.items():
            ours = build()
            stock = type(ours).from_config(ours.get_config())
            start = [rng.normal(size=(64, 1024)).astype("float32") for _ in range(16)]
            grads = [keras.ops.cast(rng.normal(size=(64, 1024)), dtype) for _ in range(16)]
            ours_vars = [keras.Variable(w, dtype=dtype) for w in start]
            stock_vars = [keras.Variable(w, dtype=dtype) for w in start]
            times: dict[str, list[float]] = {"keras3r": [], "stock": []}
            for _ in range(5):
                times["keras3r"].append(block(ours, ours_vars, grads))
                times["stock"].append(block(stock, stock_vars, grads))
            a, b = (statistics.median(times[k]) * 1e3 for k in ("keras3r", "stock"))
            print(f"  {dtype:9s} {name:8s} keras3r {a:7.2f}  stock {b:7.2f}  ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
