"""Build and drop optimizers in a loop, as a long R session does; print what is kept.

Run as `python long_session_driver.py BACKEND [at-once]` (a process of its
own, so that Keras runs on BACKEND and no other test's memory counts);
`at-once` makes keras3r compile from each optimizer's first call (see
keras3r.adapt.eager_apply.KERAS_CALLS_BEFORE_COMPILING), so that every
optimizer of the sweep runs the compiled update. Each round
builds a small model's variables (16-32-1 MLP), a new AdamW, two eager
`apply()` steps, then drops everything and collects garbage. Stock Keras's
rounds run first, then keras3r's, each after warm-up rounds; printed as JSON:
  * resident memory kept per dropped optimizer (MB), stock's and keras3r's;
  * Python heap kept per dropped optimizer (bytes, tracemalloc), both;
  * whether every keras3r optimizer, its variables and the state keras3r
    gave it were collected (weak references), and how many compiled
    updates keras3r shares at the end.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

WARMUP = 4
ROUNDS = 24  # resident memory: page-granular noise shrinks 24-fold per optimizer
TRACED_ROUNDS = 6  # tracemalloc slows every allocation: fewer rounds


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(backend: str, at_once: bool) -> dict[str, Any]:
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    import keras3r
    from keras3r.adapt import eager_apply, shared_updates

    if at_once:
        eager_apply.KERAS_CALLS_BEFORE_COMPILING = 0
    rng = np.random.default_rng(0)
    grads = [
        (rng.standard_normal(s) * 1e-2).astype("float32") for s in ((16, 32), (32,), (32, 1), (1,))
    ]
    refs: list[weakref.ref[Any]] = []

    def one_round(make: Callable[[], Any], watch: bool) -> None:
        model = keras.Sequential(
            [keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
        )
        variables = model.trainable_variables
        optimizer = make()
        tensors = [keras.ops.convert_to_tensor(g) for g in grads]
        optimizer.apply(tensors, variables)
        optimizer.apply(tensors, variables)
        if watch:
            state = eager_apply.compiled_state(optimizer)
            watched = [optimizer, *variables, *optimizer.variables]
            watched += [] if state is None else [state]
            refs.extend(weakref.ref(x) for x in watched)

    def kept(make: Callable[[], Any], watch: bool) -> tuple[float, float]:
        for _ in range(WARMUP):
            one_round(make, False)
        gc.collect()
        before = resident_bytes()
        for _ in range(ROUNDS):
            one_round(make, watch)
            gc.collect()
        resident = (resident_bytes() - before) / ROUNDS / 1e6
        tracemalloc.start()
        gc.collect()
        traced_before = tracemalloc.get_traced_memory()[0]
        for _ in range(TRACED_ROUNDS):
            one_round(make, False)
            gc.collect()
        traced = (tracemalloc.get_traced_memory()[0] - traced_before) / TRACED_ROUNDS
        tracemalloc.stop()
        return resident, traced

    stock_resident, stock_traced = kept(keras.optimizers.AdamW, False)
    ours_resident, ours_traced = kept(keras3r.optimizer_adam_w, True)
    gc.collect()
    return {
        "stock_mb": stock_resident,
        "ours_mb": ours_resident,
        "stock_python_bytes": stock_traced,
        "ours_python_bytes": ours_traced,
        "watched": len(refs),
        "alive": sum(ref() is not None for ref in refs),
        "shared": shared_updates.shared_count(),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:] == ["at-once"])))
