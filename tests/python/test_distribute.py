"""optimizer_adam_w under tf.distribute.MirroredStrategy on two CPUs.

Two replicas with the same global batch must train the same model as one
device.  Stock Keras 3 clips each replica's gradient before the replicas are
summed, so with `clipnorm`/`global_clipnorm` it does not; keras3r clips the sum
(keras3r/adapt/tensorflow_distribute.py).

An eager `apply()` under two replicas keeps Keras's path: keras3r's compiled
update (keras3r.adapt.eager_apply) is for one device.

The two logical CPUs must be configured before TensorFlow initialises, so the
training runs in a child process: this file run as a script (`train` mode).
Loading the saved model runs in another child that cannot import keras3r
(`load` mode). The measured differences go to distribute.json in the
`figures` directory of conftest.py. (On JAX and torch keras3r adds no
clipping fix: with_jax/test_compiled_apply.py and with_torch/test_instance.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

GLOBAL_BATCH = 16
EPOCHS = 3
LEARNING_RATE = 0.01
# Small enough that clipping is active at every step (checked below).
CLIPS = {
    "none": {},
    "clipnorm": {"clipnorm": 0.05},
    "global_clipnorm": {"global_clipnorm": 0.05},
    "clipvalue": {"clipvalue": 0.01},
}
SMALL = 1e-5  # float32 round-off of a different summation order
LARGE = 1e-2  # a visibly different model
# Adam divides by the gradient's running size, so clipping shows in the
# weights less than it would with SGD; still far above round-off.
EFFECT = 1e-3


def _child(args: list[str], backend: str = "tensorflow", timeout: int = 120) -> str:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"{args[0]} child failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


# --------------------------------------------------------------------------
# Child process modes


def _train(out: Path) -> None:
    """Train every (clipping, optimizer) pair on one device and on two; save results."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np

    import keras3r

    rng = np.random.default_rng(0)
    n, d = 4 * GLOBAL_BATCH, 8
    x = rng.normal(size=(n, d)).astype("float32")
    y = x @ rng.normal(size=(d, 1)).astype("float32")
    # The second half of each global batch (the second replica's share) has
    # much larger targets, so the two replicas' gradients differ in size and
    # direction: clipping each share is then visibly not clipping the sum.
    y = y.reshape(-1, GLOBAL_BATCH, 1)
    y[:, GLOBAL_BATCH // 2 :] *= 20.0
    y = y.reshape(-1, 1)

    def make_model() -> keras.Model:
        keras.utils.set_random_seed(1)
        return keras.Sequential(
            [keras.Input((d,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)]
        )

    initial = make_model().get_weights()

    # Gradient sizes at the start, per global batch: the clip settings are
    # below them, so clipping is active (on one device too).
    probe = make_model()
    probe.set_weights(initial)
    sizes: dict = {"norm_per_variable": [], "global_norm": [], "max_abs": []}
    for start in range(0, n, GLOBAL_BATCH):
        batch = slice(start, start + GLOBAL_BATCH)
        with tf.GradientTape() as tape:
            loss = keras.losses.MeanSquaredError()(y[batch], probe(x[batch]))
        grads = tape.gradient(loss, probe.trainable_variables)
        sizes["norm_per_variable"].append(min(float(tf.norm(g)) for g in grads))
        sizes["global_norm"].append(float(tf.linalg.global_norm(grads)))
        sizes["max_abs"].append(max(float(tf.reduce_max(tf.abs(g))) for g in grads))
    makers = {
        # Named as keras3r names it (Keras's own default is "adam_w"), so that
        # the two configs can be compared whole.
        "stock": lambda kw: keras.optimizers.AdamW(learning_rate=LEARNING_RATE, name="adamw", **kw),
        "keras3r": lambda kw: keras3r.optimizer_adam_w(learning_rate=LEARNING_RATE, **kw),
    }
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    results: dict = {"dist_vs_single": {}, "single_k3r_vs_stock": {}, "dist_k3r_vs_stock": {}}

    # Eager apply() in replica context, then outside the scope (built under 2 replicas).
    from keras3r.adapt.eager_apply import stats

    with strategy.scope():
        eager = keras3r.optimizer_adam_w()
        eager_variables = [keras.Variable(np.ones((4,), "float32"))]
    eager_grads = [tf.constant(np.full((4,), 0.5, "float32"))]
    strategy.run(lambda: eager.apply(eager_grads, eager_variables))
    eager.apply(eager_grads, eager_variables)
    results["replicas_eager_apply"] = {**stats(eager), "iterations": int(eager.iterations.numpy())}

    def fit(lib: str, clip: str, distributed: bool) -> tuple[keras.Model, object]:
        scope = strategy.scope() if distributed else contextlib.nullcontext()
        with scope:
            model = make_model()
            model.set_weights(initial)
            optimizer = makers[lib](CLIPS[clip])
            model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
        return model, optimizer

    def max_diff(a: list, b: list) -> float:
        return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))

    weights: dict = {}
    for clip in CLIPS:
        for lib in makers:
            single, _ = fit(lib, clip, distributed=False)
            dist, optimizer = fit(lib, clip, distributed=True)
            assert type(optimizer) is keras.optimizers.AdamW
            assert ("_clip_gradients" in vars(optimizer)) == (lib == "keras3r")
            weights[clip, lib] = (single.get_weights(), dist.get_weights())
            results["dist_vs_single"].setdefault(clip, {})[lib] = max_diff(
                single.get_weights(), dist.get_weights()
            )
            if clip == "clipnorm" and lib == "keras3r":
                # Keep one strategy-trained keras3r optimizer for the load check.
                dist.save(out / "model.keras")
                np.savez(out / "optimizer.npz", *[np.asarray(v) for v in optimizer.variables])
                (out / "config.json").write_text(json.dumps(optimizer.get_config()))
                stock_config = makers["stock"](CLIPS[clip]).get_config()
                assert optimizer.get_config() == stock_config
        results["single_k3r_vs_stock"][clip] = max_diff(
            weights[clip, "keras3r"][0], weights[clip, "stock"][0]
        )
        results["dist_k3r_vs_stock"][clip] = max_diff(
            weights[clip, "keras3r"][1], weights[clip, "stock"][1]
        )
    # Proof that the clip settings bite: on one device they change the model.
    results["clip_effect_single"] = {
        clip: max_diff(weights[clip, "stock"][0], weights["none", "stock"][0])
        for clip in CLIPS
        if clip != "none"
    }
    results["initial_gradient_min"] = {k: min(v) for k, v in sizes.items()}
    (out / "results.json").write_text(json.dumps(results, indent=2))


def _load(out: Path) -> None:
    """Load the saved model with plain Keras, keras3r made unimportable."""
    sys.modules["keras3r"] = None  # any `import keras3r` now raises ImportError

    import keras
    import numpy as np

    model = keras.saving.load_model(out / "model.keras")
    optimizer = model.optimizer
    assert type(optimizer) is keras.optimizers.AdamW, type(optimizer)
    assert "_clip_gradients" not in vars(optimizer)
    saved = json.loads((out / "config.json").read_text())
    assert json.loads(json.dumps(optimizer.get_config())) == saved
    assert saved["name"] == "adamw" and saved["clipnorm"] == CLIPS["clipnorm"]["clipnorm"]
    with np.load(out / "optimizer.npz") as stored:
        trained = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    loaded = [np.asarray(v) for v in optimizer.variables]
    assert len(loaded) == len(trained)
    for a, b in zip(loaded, trained):
        np.testing.assert_array_equal(a, b)
    assert int(optimizer.iterations.numpy()) == EPOCHS * 4
    print("loaded", type(optimizer).__module__, type(optimizer).__name__)


# --------------------------------------------------------------------------
# Tests


def test_mirrored_strategy_matches_one_device(tmp_path, figures):
    _child(["train", str(tmp_path)], timeout=180)
    results = json.loads((tmp_path / "results.json").read_text())
    _child(["load", str(tmp_path)])

    (figures / "distribute.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))

    # Under two replicas an eager apply() keeps Keras's path, compiling nothing.
    eager = results["replicas_eager_apply"]
    assert (eager["compiled_calls"], eager["traces"], eager["iterations"]) == (0, 0, 2)

    dist = results["dist_vs_single"]
    # (a) No clipping: two replicas train the one-device model.
    assert dist["none"]["keras3r"] < SMALL
    assert dist["none"]["stock"] < SMALL
    # The clip settings are active: below the gradients' sizes, and on one
    # device they change the model.
    grad = results["initial_gradient_min"]
    assert grad["norm_per_variable"] > CLIPS["clipnorm"]["clipnorm"]
    assert grad["global_norm"] > CLIPS["global_clipnorm"]["global_clipnorm"]
    assert grad["max_abs"] > CLIPS["clipvalue"]["clipvalue"]
    for clip, effect in results["clip_effect_single"].items():
        assert effect > EFFECT, clip
    # (b) Stock Keras clips per replica, which the test can see ...
    assert dist["clipnorm"]["stock"] > LARGE
    assert dist["global_clipnorm"]["stock"] > LARGE
    # ... while keras3r clips the summed gradient, as one device does.
    for clip in CLIPS:
        assert dist[clip]["keras3r"] < SMALL, clip
    # One device: keras3r is stock Keras up to float32 rounding (its update is
    # XLA-compiled inside the training step, keras3r.adapt.eager_apply, which
    # fuses the element-wise ops); without clipping, the two-replica run,
    # which keeps Keras's path, is stock bit for bit.
    for clip in CLIPS:
        assert results["single_k3r_vs_stock"][clip] < 1e-6, clip
    assert results["dist_k3r_vs_stock"]["none"] == 0.0


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "train":
        _train(Path(sys.argv[2]))
    elif mode == "load":
        _load(Path(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
