"""Where nesting the XLA update in a plain tf.function pays: the figures behind the rule.

keras3r nests its compiled update inside a user's plain (non-XLA)
`tf.function` only where the variables hold MIN_PARAMETERS_TO_NEST
parameters or more on average (keras3r.adapt.tensorflow._worth_nesting).
This prints, for variables of several counts and sizes, the median time of
a training step (forward, backward and AdamW's `apply()` in one
`tf.function`) with the update always nested against stock Keras's graph
ops, their ratio (below 1: nesting is faster), and the largest average
variable size at which nesting lost in this run, beside the threshold in
force. The threshold is a tuning figure: move it where this says, on the
machines that matter.

How it times: the two steps of a cell run in alternating blocks of steps
(the first of each block untimed), medians over the rounds, so that load from
other processes falls on both alike.

A figure, not a test: `make bench`, or `.venv/bin/python bench/bench_nesting.py`
(about 2 minutes; `--quick`: fewer rounds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras3r  # noqa: E402
from keras3r.adapt import tensorflow as tensorflow_adapter  # noqa: E402
from keras3r.adapt.eager_apply import stats  # noqa: E402

# (variables, parameters each): small and large averages, few and many variables.
CELLS = (
    (50, 4_000), (6, 20_000), (100, 10_000), (40, 25_000), (20, 50_000),
    (10, 100_000), (4, 200_000), (16, 500_000),
)


def _step(opt: Any, variables: list[Any]) -> Callable[[], None]:
    """A plain tf.function: a cheap forward pass, its gradients, and the update."""
    scale = [tf.constant(np.linspace(0.5, 1.5, v.shape[0]), "float32") for v in variables]

    @tf.function(jit_compile=False)
    def step() -> None:
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_sum(v * s) for v, s in zip(variables, scale)])
        opt.apply(tape.gradient(loss, variables), variables)

    return step


def _block(step: Callable[[], None], variables: list[Any], steps: int) -> float:
    step()  # untimed: the other step ran last
    start = time.perf_counter()
    for _ in range(steps):
        step()
    variables[0].numpy()
    return (time.perf_counter() - start) / steps


def _cell(count: int, size: int, rounds: int, steps: int) -> tuple[float, float]:
    ours_vars = [keras.Variable(np.zeros(size, "float32")) for _ in range(count)]
    stock_vars = [keras.Variable(np.zeros(size, "float32")) for _ in range(count)]
    with mock.patch.object(tensorflow_adapter, "MIN_PARAMETERS_TO_NEST", 0):
        ours = keras3r.optimizer_adam_w(learning_rate=1e-3)
        ours_step = _step(ours, ours_vars)
        ours_step()  # traced here, nested whatever the size
    assert stats(ours)["nested"] > 0, "the update was not nested: the figure would be stock's"
    stock = keras.optimizers.AdamW(learning_rate=1e-3)
    stock_step = _step(stock, stock_vars)
    stock_step()
    runs = {"nested": (ours_step, ours_vars), "stock": (stock_step, stock_vars)}
    times: dict[str, list[float]] = {"nested": [], "stock": []}
    for i in range(rounds):
        order = ("nested", "stock") if i % 2 == 0 else ("stock", "nested")
        for name in order:
            times[name].append(_block(*runs[name], steps))
    return statistics.median(times["nested"]), statistics.median(times["stock"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds, steps = (3, 5) if args.quick else (7, 10)
    print(
        f"tf.function step, AdamW: nested XLA update against stock graph ops "
        f"(ms, median of {rounds} rounds of {steps} steps)"
    )
    losses = []
    for count, size in CELLS:
        nested, stock = _cell(count, size, rounds, steps)
        ratio = nested / stock
        if ratio >= 1:
            losses.append(size)
        print(
            f"  {count:4d} x {size:>7,d}  nested {nested * 1e3:8.2f}  stock {stock * 1e3:8.2f}  "
            f"ratio {ratio:.2f}"
        )
    # The threshold the run supports: above the largest average at which
    # nesting lost, it won every time.
    largest_loss = f"{max(losses):,d}" if losses else "none"
    print(
        f"largest average (parameters a variable) at which nesting lost: {largest_loss}; "
        f"threshold in force: {tensorflow_adapter.MIN_PARAMETERS_TO_NEST:,d}"
    )


if __name__ == "__main__":
    main()
