"""Train a small regression model from Python with keras3r's optimizer_adam_w."""

from __future__ import annotations

import keras
import numpy as np

from keras3r import learning_rate_schedule_cosine_decay, optimizer_adam_w


def main() -> None:
    keras.utils.set_random_seed(42)
    rng = np.random.default_rng(42)
    x = rng.normal(size=(1024, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(1024, 1))).astype("float32")

    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    schedule = learning_rate_schedule_cosine_decay(1e-2, decay_steps=320)
    model.compile(optimizer=optimizer_adam_w(learning_rate=schedule), loss="mse")
    print(f"Python: Keras {keras.__version__} on {keras.backend.backend()}, "
          f"optimizer {type(model.optimizer).__name__} named {model.optimizer.name!r}")
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=2)
    first, last = history.history["loss"][0], history.history["loss"][-1]
    print(f"Python: loss {first:.4f} -> {last:.4f}")


if __name__ == "__main__":
    main()
