"""optimizer_adam_w under tf.distribute.MultiWorkerMirroredStrategy, two workers.

Keras 3.15's `fit()` does not run under this strategy (keras-team/keras#20585,
open): with NumPy arrays or a dataset, its TensorFlow trainer hands the
per-replica batch to an op that wants a tensor, and stock Keras stops with
"Attempt to convert a value (PerReplica:{...}) with an unsupported type ...
to a Tensor". What runs is the custom loop of TensorFlow's own guide: a
`tf.function` step that calls `strategy.run()` on a replica step, which
computes the gradients of the worker's share of the global batch and hands
them to the Keras optimizer's `apply()`. That is what this test trains, with
`clipnorm` and `global_clipnorm` (below the gradients' sizes):

- keras3r clips the summed gradient (keras3r/adapt/tensorflow_distribute.py),
  so two workers train the one-device model;
- stock Keras clips each worker's share, which the test sees (so it can fail);
- both workers end with the same weights.

The two workers are this file run as a script, each a process with its own
TF_CONFIG naming two free ports of 127.0.0.1; each also trains the one-device
model, without the strategy. They exit by themselves (a timeout bounds the
wait).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from worker_processes import free_ports, max_diff, run_workers

ROOT = Path(__file__).resolve().parents[2]
GLOBAL_BATCH = 16
STEPS = 6
LEARNING_RATE = 0.01
CLIPS = {"clipnorm": {"clipnorm": 0.05}, "global_clipnorm": {"global_clipnorm": 0.05}}
TIMEOUT = 240


def _worker(index: int, ports: list[int], out: Path) -> None:
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    })
    import keras
    import numpy as np
    import tensorflow as tf

    import keras3r

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * GLOBAL_BATCH, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) * 5.0).astype("float32")
    # The second worker's rows have much larger targets, so the two shares'
    # gradients differ: clipping each share is then visibly not clipping the sum.
    y[1::2] *= 20.0
    loss_fn = keras.losses.MeanSquaredError(reduction="sum")

    def make(lib: str, clip: dict[str, float]) -> tuple[Any, Any]:
        keras.utils.set_random_seed(1)
        model = keras.Sequential([
            keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)
        ])
        if lib == "stock":
            return model, keras.optimizers.AdamW(learning_rate=LEARNING_RATE, **clip)
        return model, keras3r.optimizer_adam_w(learning_rate=LEARNING_RATE, **clip)

    def replica_step(model: Any, opt: Any, xb: Any, yb: Any) -> None:
        with tf.GradientTape() as tape:
            # The global batch's mean: each worker's sum over the global size.
            loss = loss_fn(yb, model(xb)) / GLOBAL_BATCH
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)

    def distributed(lib: str, clip: dict[str, float]) -> list[Any]:
        with strategy.scope():
            model, opt = make(lib, clip)
        def share(context: Any) -> Any:
            # Worker i takes rows i, i + 2, ...: its half of each global batch.
            return (
                tf.data.Dataset.from_tensor_slices((x, y))
                .shard(context.num_input_pipelines, context.input_pipeline_id)
                .batch(context.get_per_replica_batch_size(GLOBAL_BATCH))
            )

        dataset = strategy.distribute_datasets_from_function(share)

        @tf.function
        def step(xb: Any, yb: Any) -> None:
            strategy.run(replica_step, args=(model, opt, xb, yb))

        for xb, yb in dataset:
            step(xb, yb)
        return model.get_weights()

    def one_device(lib: str, clip: dict[str, float]) -> list[Any]:
        model, opt = make(lib, clip)

        @tf.function
        def step(xb: Any, yb: Any) -> None:
            replica_step(model, opt, xb, yb)

        for start in range(0, len(x), GLOBAL_BATCH):
            step(x[start : start + GLOBAL_BATCH], y[start : start + GLOBAL_BATCH])
        return model.get_weights()

    arrays = {}
    for clip_name, clip in CLIPS.items():
        for lib in ("stock", "keras3r"):
            for where, train in (("workers", distributed), ("one", one_device)):
                for i, w in enumerate(train(lib, clip)):
                    arrays[f"{clip_name} {lib} {where} {i}"] = w
    np.savez(out / f"worker{index}.npz", **arrays)


def test_two_workers_train_the_one_device_model(tmp_path):
    import numpy as np

    ports = free_ports(2)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    run_workers(
        __file__, [[str(index), *map(str, ports), str(tmp_path)] for index in range(2)],
        label="worker", env=env, cwd=ROOT, timeout=TIMEOUT,
    )

    stored = [np.load(tmp_path / f"worker{index}.npz") for index in range(2)]

    def weights(worker: int, name: str) -> list[Any]:
        files = stored[worker].files
        return [stored[worker][k] for k in sorted(files) if k.startswith(name + " ")]

    for clip in CLIPS:
        for lib in ("stock", "keras3r"):
            # Both workers hold one model.
            name = f"{clip} {lib} workers"
            assert max_diff(weights(0, name), weights(1, name)) == 0.0, name
        ours, stock = f"{clip} keras3r", f"{clip} stock"
        # keras3r: the one-device model (summation order: float32 rounding).
        assert max_diff(weights(0, f"{ours} workers"), weights(0, f"{ours} one")) < 1e-6, clip
        # Stock Keras clips each worker's share: a visibly different model.
        assert max_diff(weights(0, f"{stock} workers"), weights(0, f"{stock} one")) > 1e-2, clip
        # On one device keras3r is stock Keras.
        assert max_diff(weights(0, f"{ours} one"), weights(0, f"{stock} one")) < 1e-6, clip

if __name__ == "__main__":
    _worker(int(sys.argv[1]), [int(sys.argv[2]), int(sys.argv[3])], Path(sys.argv[4]))
