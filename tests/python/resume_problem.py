"""The small regression that the save-and-resume tests train, save half-way and resume.

test_state.py (AdamW) and test_newest_optimizers.py (the newest optimizers)
train the same model on the same data, so that their runs can be cut at the
same place: 5 steps an epoch, so the cut after EPOCHS / 2 epochs falls after
15 (odd) steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

EPOCHS = 6
SAMPLES, BATCH = 40, 8


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((SAMPLES, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.1).astype("float32")
    return x, y


def mlp(make_optimizer: Callable[[], Any]) -> keras.Model:
    """The model, with its seed set, compiled with `make_optimizer()`."""
    keras.utils.set_random_seed(1234)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            # Fixed names, so that variable paths agree across models and processes.
            keras.layers.Dense(8, activation="tanh", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="mlp",
    )
    model.compile(optimizer=make_optimizer(), loss="mse")
    return model


def fit(model: keras.Model, epochs: int) -> None:
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)
