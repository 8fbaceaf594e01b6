"""Variables, gradients and stock twins for tests that drive optimizers step by step.

Most tests of keras3r's compiled update drive a keras3r optimizer and its
stock twin (the plain Keras optimizer built from the same config) on twin
variables with the same gradients, then compare the two states. The
variables and gradients come from seeded NumPy generators, so every process
and every Keras backend sees the same numbers; the states are read through
`keras.ops`, so the helpers work on whichever backend Keras runs here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np

# A matrix, a vector, a scalar and a 3-D array: the shapes an update must handle.
SHAPES: tuple[tuple[int, ...], ...] = ((30, 20), (20,), (), (7, 3, 5))


def arrays(
    shapes: Iterable[tuple[int, ...]] = SHAPES, seed: int = 0, dtype: str = "float32"
) -> list[np.ndarray]:
    """Standard normal arrays of `shapes`, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


# What keras3r.adapt.eager_apply.stats() reports for an optimizer whose apply()
# ran nothing of keras3r's (torch, plain(), or never called).
NOTHING_COMPILED = {"traces": 0, "compiled_calls": 0, "keras_calls": 0, "entries": 0, "nested": 0}


def gradient_steps(
    steps: int, shapes: Iterable[tuple[int, ...]] = SHAPES, dtype: str = "float32"
) -> list[list[np.ndarray]]:
    """`steps` lists of gradients for `shapes`; step t is the same whatever `steps` is."""
    shapes = list(shapes)
    return [arrays(shapes, seed=100 + t, dtype=dtype) for t in range(steps)]


def variables(values: Iterable[np.ndarray], names: Sequence[str] = ()) -> list[keras.Variable]:
    """A float32 Keras variable for each value, named `names[i]` where given."""
    values = list(values)
    names = list(names) or [None] * len(values)
    return [keras.Variable(v, dtype="float32", name=n) for v, n in zip(values, names)]


def fresh_variables(shapes: Iterable[tuple[int, ...]] = SHAPES) -> list[keras.Variable]:
    """New variables with the same initial values every time (seed 0)."""
    return variables(arrays(shapes))


def stock_twin(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The same optimizer built by plain Keras from its config (no keras3r behaviour)."""
    return type(optimizer).from_config(optimizer.get_config())


def drive(
    optimizer: keras.optimizers.Optimizer,
    targets: Sequence[Any],
    steps: Iterable[Sequence[np.ndarray]],
    via: str = "apply",
) -> None:
    """One eager update per gradient list, as backend tensors, by `apply` or `apply_gradients`."""
    for grads in steps:
        tensors = [keras.ops.convert_to_tensor(g) for g in grads]
        if via == "apply":
            optimizer.apply(tensors, targets)
        else:
            optimizer.apply_gradients(zip(tensors, targets))


def state(optimizer: keras.optimizers.Optimizer, targets: Sequence[Any]) -> list[np.ndarray]:
    """The weights, then the optimizer's own variables, as NumPy copies."""
    return [
        np.array(keras.ops.convert_to_numpy(v)) for v in list(targets) + list(optimizer.variables)
    ]


def assert_same_state(
    ours: Sequence[np.ndarray],
    stock: Sequence[np.ndarray],
    exact: bool = False,
    rtol: float = 1e-5,
    scaled_atol: float = 1e-6,
) -> None:
    """Two states, array by array: equal, or close at the scale of each stock array.

    A compiled update fuses the element-wise ops, so it rounds differently
    from Keras's op-by-op eager path: a few float32 ulps of each array's
    largest value (`scaled_atol` of it), which also covers optimizers whose
    slots grow large (Ftrl).
    """
    assert len(ours) == len(stock)
    for i, (a, b) in enumerate(zip(ours, stock)):
        a, b = np.asarray(a), np.asarray(b)
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=f"array {i}")
        else:
            scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
            atol = scaled_atol * scale
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"array {i}")


def drive_a_new_structure_past_compiling(
    shapes: Sequence[tuple[int, ...]], keras_calls: int
) -> tuple[keras.optimizers.Optimizer, list[list[np.ndarray]]]:
    """A keras3r AdamW of a structure nothing has compiled, next to stock AdamW.

    Its first `keras_calls` steps take Keras's own path (stock's numbers
    exactly, nothing compiled), the next two its compiled update (stock's to
    float rounding). Returns the optimizer and the steps it was given.
    """
    import keras3r
    from keras3r.adapt.eager_apply import compiled_functions, stats

    steps = gradient_steps(keras_calls + 2, shapes)
    ours, stock = keras3r.optimizer_adam_w(), keras.optimizers.AdamW()
    ours_vars, stock_vars = fresh_variables(shapes), fresh_variables(shapes)
    drive(ours, ours_vars, steps[:keras_calls])
    drive(stock, stock_vars, steps[:keras_calls])
    assert compiled_functions(ours) == []
    assert stats(ours)["keras_calls"] == keras_calls
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars), exact=True)
    drive(ours, ours_vars, steps[keras_calls:])
    drive(stock, stock_vars, steps[keras_calls:])
    assert stats(ours)["compiled_calls"] == 2
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars))
    return ours, steps
