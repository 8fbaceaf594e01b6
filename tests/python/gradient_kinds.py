"""Every kind of gradient Keras accepts, driven through a keras3r optimizer and its stock twin.

keras3r's compiled eager update takes dense gradients; everything else
(sparse gradients, missing ones, a list that does not pair with the
variables) must reach Keras's own path and end exactly as stock Keras ends,
whether that is an update or an error. `run(kind, optimizer)` drives both
optimizers a few eager steps with one kind of gradient on the backend of
this process; `assert_same_as_stock` and `assert_path` are the checks.
Keras warns of missing gradients: both optimizers' warnings are recorded
(not shown) and must be the same. The
test modules, one per backend (test_gradient_types.py, with_jax/ and
with_torch/), say which path each kind must take there.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any
from unittest import mock

import keras
import numpy as np

import keras3r
from harness import arrays, assert_same_state, fresh_variables, state, stock_twin
from keras3r.adapt import tensorflow as tensorflow_adapter
from keras3r.adapt.eager_apply import stats

# Variables: a matrix whose rows a sparse gradient can skip, a vector, a scalar.
SHAPES = [(5, 4), (4,), ()]
# Rows of the matrix that a sparse gradient holds.
ROWS = [0, 2, 4]
STEPS = 3

# Kinds every backend accepts densely: keras3r compiles these on TensorFlow and JAX.
DENSE_KINDS = [
    "backend_tensor",
    "numpy_float32",
    "numpy_float64",
    "numpy_int64",
    "python_lists",
    "keras_variables",
    "float16_tensor",
    "apply_gradients_zip",
]
# Missing gradients, or fewer than variables: Keras's own path on every backend.
OTHER_KINDS = ["one_missing", "all_missing", "fewer_gradients"]
OPTIMIZERS = ["adam_w", "sgd_momentum", "adagrad"]


def make_optimizer(name: str) -> keras.optimizers.Optimizer:
    if name == "adam_w":
        return keras3r.optimizer_adam_w(learning_rate=0.05, weight_decay=0.01)
    if name == "sgd_momentum":
        return keras3r.optimizer_sgd(learning_rate=0.1, momentum=0.9)
    if name == "adagrad":
        return keras3r.optimizer_adagrad(learning_rate=0.1)
    raise ValueError(name)


def dense_values(step: int) -> list[np.ndarray]:
    values = arrays(SHAPES, seed=10 + step)
    # Zero the rows a sparse gradient leaves out, so every kind is the same gradient.
    values[0][[r for r in range(SHAPES[0][0]) if r not in ROWS]] = 0.0
    return values


def sparse_matrix(kind: str, dense: np.ndarray) -> Any:
    """`dense` (rows outside ROWS zero) as this backend's sparse gradient of kind `kind`."""
    backend = keras.backend.backend()
    rows = dense[ROWS]
    if backend == "tensorflow":
        import tensorflow as tf

        if kind == "sparse_tensor":
            return tf.sparse.from_dense(tf.constant(dense))
        return tf.IndexedSlices(tf.constant(rows), tf.constant(ROWS), tf.constant(dense.shape))
    if backend == "jax":
        import jax.numpy as jnp
        from jax.experimental import sparse

        if kind == "bcsr":
            return sparse.BCSR.fromdense(jnp.asarray(dense))
        indices = jnp.asarray(np.array(ROWS)[:, None])
        return sparse.BCOO((jnp.asarray(rows), indices), shape=dense.shape)
    import torch

    return torch.from_numpy(dense).to_sparse_coo()


def gradients(kind: str, step: int) -> list[Any]:
    """The gradients of `step`, as `kind` hands them to `apply`."""
    values = dense_values(step)
    tensors = [keras.ops.convert_to_tensor(v) for v in values]
    if kind in ("backend_tensor", "apply_gradients_zip", "tf_function_dense"):
        return tensors
    if kind.startswith("numpy_"):
        dtype = kind.removeprefix("numpy_")
        if dtype == "int64":
            return [np.round(v * 3).astype("int64") for v in values]
        return [v.astype(dtype) for v in values]
    if kind == "python_lists":
        return [v.tolist() for v in values]  # the scalar becomes a Python float
    if kind == "keras_variables":
        return [keras.Variable(v, trainable=False) for v in values]
    if kind == "float16_tensor":
        return [keras.ops.cast(t, "float16") for t in tensors]
    if kind == "one_missing":
        return [tensors[0], None, tensors[2]]
    if kind == "all_missing":
        return [None] * len(tensors)
    if kind == "fewer_gradients":
        return tensors[:2]
    if kind == "tf_variable":
        import tensorflow as tf

        return [tf.Variable(v) for v in values]
    if kind == "weak_typed_scalar":
        import jax.numpy as jnp

        return tensors[:2] + [jnp.asarray(float(values[2]))]
    if kind.endswith("_then_dense") and step % 2 == 1:
        return tensors  # dense steps between sparse ones: the compiled path, then back
    sparse_kind = kind.removesuffix("_then_dense").removeprefix("tf_function_")
    return [sparse_matrix(sparse_kind, values[0])] + tensors[1:]


def _drive(kind: str, opt: Any, targets: list[Any]) -> tuple[str | None, list[str]]:
    """STEPS eager steps: the exception's type and first line if one was raised, and the
    warnings given, as "Category: message" with Keras's variable numbers left out."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = _steps(kind, opt, targets)
    given = [
        f"{w.category.__name__}: {re.sub(r'variable_[0-9]+', 'variable', str(w.message))}"
        for w in caught
    ]
    return error, given


def _steps(kind: str, opt: Any, targets: list[Any]) -> str | None:

    def apply(grads: list[Any]) -> None:
        opt.apply(grads, targets)

    nesting = mock.patch.object(tensorflow_adapter, "MIN_PARAMETERS_TO_NEST", 0)
    if kind.startswith("tf_function_"):
        import tensorflow as tf

        # The user's step: variables captured, slots made before the first trace.
        opt.build(targets)
        apply = tf.function(apply)
        # These variables are far below the size from which keras3r nests its
        # update in a plain tf.function (test_nesting_rule.py tests that
        # rule); here every size nests, so that each kind of gradient meets
        # the nested update.
        nesting.start()
    try:
        for step in range(STEPS):
            grads = gradients(kind, step)
            if kind == "apply_gradients_zip":
                opt.apply_gradients(zip(grads, targets))
            else:
                apply(grads)
    except RecursionError:  # its message names where the stack ran out: the type alone
        return "RecursionError"
    except Exception as error:  # compared with stock's, not judged here
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        if kind.startswith("tf_function_"):
            nesting.stop()
    return None


@dataclass
class Outcome:
    """What a keras3r optimizer and its stock twin did with one kind of gradient."""

    ours_error: str | None
    stock_error: str | None
    ours_warnings: list[str]
    stock_warnings: list[str]
    ours: list[np.ndarray]
    stock: list[np.ndarray]
    stats: dict[str, int]
    stock_patched: bool


def run(kind: str, optimizer: str) -> Outcome:
    ours = make_optimizer(optimizer)
    stock = stock_twin(ours)
    ours_vars, stock_vars = fresh_variables(SHAPES), fresh_variables(SHAPES)
    ours_error, ours_warnings = _drive(kind, ours, ours_vars)
    stock_error, stock_warnings = _drive(kind, stock, stock_vars)
    return Outcome(
        ours_error,
        stock_error,
        ours_warnings,
        stock_warnings,
        state(ours, ours_vars),
        state(stock, stock_vars),
        stats(ours),
        "apply" in vars(stock),
    )


def assert_same_as_stock(outcome: Outcome, exact: bool | None = None) -> None:
    """The same error (type and first line) or none, the same warnings, and the same state.

    Compiled eagerly, or nested as an XLA function in the user's tf.function,
    XLA fuses the element-wise ops: a few float32 ulps apart. Keras's own
    path, op for op: exactly stock's numbers. `exact` overrides that choice.
    """
    assert outcome.ours_error == outcome.stock_error
    assert outcome.ours_warnings == outcome.stock_warnings
    assert not outcome.stock_patched, "the stock twin must be plain Keras"
    if exact is None:
        exact = outcome.stats["compiled_calls"] == 0 and outcome.stats["traces"] == 0
    assert_same_state(outcome.ours, outcome.stock, exact=exact)


def assert_path(outcome: Outcome, path: str) -> None:
    """Which path keras3r's `apply` took, as keras3r.adapt.eager_apply.stats() recorded it.

    compiled: every step compiled; keras: every step Keras's own; alternating:
    sparse steps 0 and 2 on Keras's path, the dense step 1 compiled; nested: one
    XLA function traced into the user's tf.function; untouched: keras3r
    compiled nothing (torch).
    """
    s = outcome.stats
    if path == "compiled":
        assert outcome.ours_error is None
        assert (s["compiled_calls"], s["keras_calls"]) == (STEPS, 0), s
    elif path == "keras":
        assert (s["compiled_calls"], s["traces"]) == (0, 0), s
        assert s["keras_calls"] >= 1, s
    elif path == "alternating":
        assert outcome.ours_error is None
        assert (s["compiled_calls"], s["keras_calls"]) == (1, 2), s
    elif path == "nested":
        assert (s["traces"], s["keras_calls"]) == (1, 0), s
    elif path == "nested_keras":
        assert (s["traces"], s["keras_calls"]) == (0, 1), s
    elif path == "untouched":
        assert s["compiled_calls"] == s["traces"] == 0, s
    else:
        raise ValueError(path)


def check(kind: str, optimizer: str, path: str, exact: bool | None = None) -> None:
    """Drive `kind` through keras3r and its stock twin: the same outcome, on `path`."""
    outcome = run(kind, optimizer)
    assert_same_as_stock(outcome, exact=exact)
    assert_path(outcome, path)
