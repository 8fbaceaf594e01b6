"""optimizer_adam_w in torch's DistributedDataParallel, two processes on gloo.

As in Keras's guide to distributed training with torch: a Keras model
wrapped in `DistributedDataParallel`, each process taking its share of every
global batch, in a custom loop; the gradients that DDP has averaged over the
processes go to the Keras optimizer's `apply()`. With `clipnorm` and with
`global_clipnorm` (both below the gradients' sizes, so clipping acts):

- keras3r's update (torch's fused kernel, keras3r.adapt.torch) gives stock
  Keras's weights, in each process;
- two processes give one process's weights (clipping acts on the averaged
  gradient, as on one device), and the two processes hold the same weights.

The two processes are this file run as a script, rendezvousing on a free
port of 127.0.0.1; the first also trains alone, in a process group of its
own (no third process to start). Each exits by itself (a timeout bounds the
wait).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
GLOBAL_BATCH = 16
STEPS = 8
LEARNING_RATE = 0.01
CLIPS = {"clipnorm": {"clipnorm": 0.05}, "global_clipnorm": {"global_clipnorm": 0.05}}
TIMEOUT = 180


def _worker(rank: int, port: int, out: Path) -> None:
    import keras
    import numpy as np
    import torch
    import torch.distributed as dist

    import keras3r
    from keras3r.adapt.torch import stats

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    # Every process takes part in making a group, also one it is not in.
    groups = {2: None, 1: dist.new_group([0])}
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * GLOBAL_BATCH, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) * 5.0).astype("float32")

    def train(lib: str, clip: dict[str, float], world: int) -> tuple[list[Any], dict[str, Any]]:
        share = GLOBAL_BATCH // world
        keras.utils.set_random_seed(1)
        model = keras.Sequential([
            keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)
        ])
        if lib == "stock":
            opt = keras.optimizers.AdamW(learning_rate=LEARNING_RATE, **clip)
        else:
            opt = keras3r.optimizer_adam_w(learning_rate=LEARNING_RATE, **clip)
        ddp = torch.nn.parallel.DistributedDataParallel(model, process_group=groups[world])
        loss_fn = torch.nn.MSELoss()
        weights = model.trainable_variables
        norms = []
        for step in range(STEPS):
            start = step * GLOBAL_BATCH + rank * share
            inputs = torch.from_numpy(x[start : start + share])
            targets = torch.from_numpy(y[start : start + share])
            loss = loss_fn(ddp(inputs), targets)
            loss.backward()
            grads = [w.value.grad for w in weights]
            norms.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))
            opt.apply(grads, weights)
            for w in weights:
                w.value.grad = None
        info = {"smallest_global_norm": min(norms)}
        if lib == "keras3r":
            info["fused"] = stats(opt)["fused"]
        return [np.asarray(w.numpy()) for w in weights], info

    for world in (2, 1) if rank == 0 else (2,):
        results: dict[str, Any] = {}
        arrays = {}
        for clip_name, clip in CLIPS.items():
            for lib in ("stock", "keras3r"):
                weights, info = train(lib, clip, world)
                results[f"{clip_name} {lib}"] = info
                for index, w in enumerate(weights):
                    arrays[f"{clip_name} {lib} {index}"] = w
        np.savez(out / f"world{world}_rank{rank}.npz", **arrays)
        (out / f"world{world}_rank{rank}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


def test_ddp_two_processes_train_as_one_and_as_stock(tmp_path):
    import numpy as np

    # Here, not at the top: the workers run this file as a script, from a
    # folder where tests/python's helpers are not importable.
    from worker_processes import free_ports, max_diff, run_workers

    # On the CPU everywhere: two processes cannot share one GPU under DDP.
    env = dict(
        os.environ, KERAS_BACKEND="torch", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1",
        CUDA_VISIBLE_DEVICES="",
    )
    port = free_ports(1)[0]
    run_workers(
        __file__, [[str(rank), str(port), str(tmp_path)] for rank in range(2)],
        label="rank", env=env, cwd=ROOT, timeout=TIMEOUT,
    )

    def weights(world: int, rank: int, name: str) -> list[Any]:
        with np.load(tmp_path / f"world{world}_rank{rank}.npz") as stored:
            return [stored[k] for k in sorted(stored.files) if k.startswith(name + " ")]

    for clip in CLIPS:
        for world in (1, 2):
            info = json.loads((tmp_path / f"world{world}_rank0.json").read_text())
            # Clipping acts at every step (the setting is below the gradients' size).
            assert info[f"{clip} stock"]["smallest_global_norm"] > CLIPS[clip][clip]
            # keras3r's fused kernel ran, once a step.
            assert info[f"{clip} keras3r"]["fused"] == STEPS
            # keras3r gives stock's weights (the kernel orders a few operations
            # differently: float32 rounding).
            assert max_diff(
                weights(world, 0, f"{clip} keras3r"), weights(world, 0, f"{clip} stock")
            ) < 1e-6, (clip, world)
        for lib in ("stock", "keras3r"):
            name = f"{clip} {lib}"
            # The two processes hold one model ...
            assert max_diff(weights(2, 0, name), weights(2, 1, name)) == 0.0, name
            # ... and it is the one-process model (averaging order: rounding).
            assert max_diff(weights(2, 0, name), weights(1, 0, name)) < 1e-6, name


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
