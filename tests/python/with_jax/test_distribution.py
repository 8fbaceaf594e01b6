"""optimizer_adam_w under keras.distribution on four virtual JAX devices.

`DataParallel` replicates every variable over the four devices and splits the
batch; `ModelParallel` with a `LayoutMap` splits the hidden Dense layers'
kernels and biases over a "model" axis of a 2 x 2 mesh. Under both, with
`clipnorm` and with `global_clipnorm`:

- `fit()` gives stock Keras's losses and weights;
- each optimizer variable (Adam's momentum and velocity) is sharded as the
  variable it belongs to, after `fit()` and after 50 eager `apply()` calls
  that run keras3r's compiled update (keras3r.adapt.jax), which a call with
  gradients placed otherwise (replicated) leaves for Keras's path;
- that compiled update adds no gathering collective: its optimised HLO holds
  no all-gather, all-to-all or collective-permute, and its only all-reduces
  are scalars (the norms of sharded gradients that the clipping needs).

JAX takes the number of host devices from XLA_FLAGS when it starts, so the
training runs in a child process: this file run as a script. This pytest
process (Keras on JAX, one device) only reads the child's results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
DEVICES = 4
CLIPS = {"clipnorm": {"clipnorm": 0.05}, "global_clipnorm": {"global_clipnorm": 0.05}}
EAGER_CALLS = 50
GATHERING = ("all-gather", "all-to-all", "collective-permute", "reduce-scatter")


def _child(out: Path) -> None:
    import jax
    import keras
    import numpy as np

    import keras3r
    from keras3r.adapt import eager_apply
    from keras3r.adapt.eager_apply import compiled_hlo, stats

    devices = jax.devices()
    assert len(devices) == DEVICES, devices

    def distributions() -> dict[str, Any]:
        mesh = keras.distribution.DeviceMesh((2, 2), ["batch", "model"], devices=devices)
        layout = keras.distribution.LayoutMap(mesh)
        layout[".*hidden.*kernel"] = (None, "model")
        layout[".*hidden.*bias"] = ("model",)
        return {
            "DataParallel": keras.distribution.DataParallel(devices=devices),
            "ModelParallel": keras.distribution.ModelParallel(
                layout_map=layout, batch_dim_name="batch"
            ),
        }

    def make_model() -> keras.Model:
        keras.utils.set_random_seed(1)
        return keras.Sequential([
            keras.Input((8,)),
            keras.layers.Dense(16, activation="tanh", name="hidden_a"),
            keras.layers.Dense(16, activation="tanh", name="hidden_b"),
            keras.layers.Dense(1, name="head"),
        ])

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")

    def slot_shardings(opt: Any, variables: list[Any]) -> dict[str, Any]:
        """Per variable: its sharding's spec, and whether every slot of it is sharded alike."""
        found = {}
        for variable in variables:
            index = opt._get_variable_index(variable)
            slots = [opt._momentums[index], opt._velocities[index]]
            sharding = variable.value.sharding
            found[variable.path] = {
                "spec": str(sharding.spec),
                "split": not sharding.is_fully_replicated,
                "slots_alike": all(
                    s.value.sharding.is_equivalent_to(sharding, len(variable.shape)) for s in slots
                ),
            }
        return found

    results: dict[str, Any] = {}
    for dist_name, distribution in distributions().items():
        for clip_name, clip in CLIPS.items():
            runs = {}
            for lib in ("stock", "keras3r"):
                with distribution.scope():
                    model = make_model()
                    if lib == "stock":
                        opt = keras.optimizers.AdamW(learning_rate=0.01, **clip)
                    else:
                        opt = keras3r.optimizer_adam_w(learning_rate=0.01, **clip)
                    model.compile(optimizer=opt, loss="mse")
                history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
                runs[lib] = (model, opt, history.history["loss"])
            (model, opt, losses), (stock_model, _, stock_losses) = runs["keras3r"], runs["stock"]
            variables = model.trainable_variables
            case: dict[str, Any] = {
                "loss_diff": max(abs(a - b) for a, b in zip(losses, stock_losses)),
                "weight_diff": max(
                    float(np.max(np.abs(a - b)))
                    for a, b in zip(model.get_weights(), stock_model.get_weights())
                ),
                "after_fit": slot_shardings(opt, variables),
            }
            before = {v.path: v.value.sharding for v in variables}
            grads = [
                jax.device_put(np.full(v.shape, 0.01, "float32"), v.value.sharding)
                for v in variables
            ]
            calls_before = stats(opt)["compiled_calls"]
            for _ in range(EAGER_CALLS):
                opt.apply(grads, variables)
            case["compiled_calls"] = stats(opt)["compiled_calls"] - calls_before
            # A structure new to the process runs its first calls on Keras's path.
            case["least_compiled"] = EAGER_CALLS - eager_apply.KERAS_CALLS_BEFORE_COMPILING
            case["after_apply"] = slot_shardings(opt, variables)
            case["variables_kept"] = all(
                v.value.sharding.is_equivalent_to(before[v.path], len(v.shape)) for v in variables
            )
            # Gradients replicated over the mesh, not placed as the compiled
            # update's were: that update refuses them, and Keras's path runs.
            replicated = jax.sharding.NamedSharding(
                jax.tree_util.tree_leaves(before)[0].mesh, jax.sharding.PartitionSpec()
            )
            steps = int(opt.iterations.numpy())
            opt.apply([jax.device_put(np.asarray(g), replicated) for g in grads], variables)
            case["other_placement_ran"] = int(opt.iterations.numpy()) == steps + 1
            hlo = "\n".join(compiled_hlo(opt))
            case["hlo_found"] = bool(hlo)
            case["collectives"] = sorted(
                {
                    f"{op} {shape}"
                    for shape, op in re.findall(
                        r"=\s*(\S+)\s+(all-reduce|all-gather|all-to-all|collective-permute"
                        r"|reduce-scatter)(?:-start)?\(",
                        hlo,
                    )
                }
            )
            results[f"{dist_name} {clip_name}"] = case
    out.write_text(json.dumps(results, indent=2))


def test_keras_distribution_matches_stock_and_keeps_shardings(tmp_path, figures):
    out = tmp_path / "distribution.json"
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={DEVICES}",
        JAX_PLATFORMS="cpu",
    )
    done = subprocess.run(
        [sys.executable, __file__, str(out)],
        capture_output=True, text=True, env=env, timeout=240, cwd=ROOT,
    )
    assert done.returncode == 0, f"child failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    results = json.loads(out.read_text())
    (figures / "jax_distribution.json").write_text(json.dumps(results, indent=2) + "\n")

    assert len(results) == 2 * len(CLIPS)
    for name, case in results.items():
        # Stock's numbers: the compiled update is Keras's own maths.
        assert case["loss_diff"] < 1e-6, name
        assert case["weight_diff"] < 1e-6, name
        # The eager calls ran keras3r's compiled update.
        assert case["compiled_calls"] >= case["least_compiled"], name
        assert case["hlo_found"], name
        for when in ("after_fit", "after_apply"):
            for path, seen in case[when].items():
                assert seen["slots_alike"], (name, when, path, seen)
        assert case["variables_kept"], name
        assert case["other_placement_ran"], name
        split = {path for path, seen in case["after_apply"].items() if seen["split"]}
        if name.startswith("ModelParallel"):
            # The layout really split the hidden layers (else this proves nothing).
            assert len(split) == 4 and all("/hidden_" in path for path in split), split
        else:
            assert not split, split
        for collective in case["collectives"]:
            op, shape = collective.split(" ", 1)
            assert op not in GATHERING, (name, collective)
            # A reduction of a scalar (a partial norm) is the only traffic allowed.
            assert op == "all-reduce" and re.fullmatch(r"f32\[\]\S*", shape), (name, collective)


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
