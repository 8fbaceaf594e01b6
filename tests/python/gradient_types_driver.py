"""Drives every kind of gradient Keras accepts through keras3r optimizers and stock twins.

Run by test_gradient_types.py as a script, once per backend (Keras fixes its
backend once per process):

    KERAS_BACKEND=jax python tests/python/gradient_types_driver.py OUT.json

For each kind of gradient (dense backend tensors, NumPy arrays of several
dtypes, Python lists and numbers, Keras variables, missing gradients, and
each backend's sparse gradients), each optimizer is driven a few eager steps
as a keras3r optimizer and as a stock Keras optimizer built from the same
config. Reported: what each raised, if anything, both final states, and
keras3r's path counters. It only reports: the assertions are the test's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driver_reports import write_report

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
# Kinds that Keras's own path must take (missing, sparse): the same result as stock.
OTHER_KINDS = ["one_missing", "all_missing", "fewer_gradients"]
SPARSE_KINDS = {
    "tensorflow": [
        "indexed_slices",
        "indexed_slices_then_dense",
        "sparse_tensor",
        "tf_variable",
        # Inside the user's own tf.function: the update nested as an XLA function.
        "tf_function_dense",
        "tf_function_indexed_slices",
    ],
    "jax": ["bcoo", "bcoo_then_dense", "bcsr", "weak_typed_scalar"],
    "torch": ["torch_sparse_coo"],
}
OPTIMIZERS = ["adam_w", "sgd_momentum", "adagrad"]


def dense_values(step: int) -> list[np.ndarray]:
    rng = np.random.default_rng(10 + step)
    values = [rng.standard_normal(s).astype("float32") for s in SHAPES]
    # Zero the rows a sparse gradient leaves out, so every kind is the same gradient.
    values[0][[r for r in range(SHAPES[0][0]) if r not in ROWS]] = 0.0
    return values


def make_optimizer(name: str) -> Any:
    import keras3r

    if name == "adam_w":
        return keras3r.optimizer_adam_w(learning_rate=0.05, weight_decay=0.01)
    if name == "sgd_momentum":
        return keras3r.optimizer_sgd(learning_rate=0.1, momentum=0.9)
    if name == "adagrad":
        return keras3r.optimizer_adagrad(learning_rate=0.1)
    raise ValueError(name)


def fresh_variables() -> list[Any]:
    import keras

    rng = np.random.default_rng(0)
    return [keras.Variable(rng.standard_normal(s).astype("float32")) for s in SHAPES]


def sparse_matrix(backend: str, kind: str, dense: np.ndarray) -> Any:
    """`dense` (rows outside ROWS zero) as the backend's sparse gradient of kind `kind`."""
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


def gradients(backend: str, kind: str, step: int, variables: list[Any]) -> list[Any]:
    """The gradients of `step`, as `kind` hands them to `apply`."""
    import keras

    values = dense_values(step)
    tensors = [keras.ops.convert_to_tensor(v) for v in values]
    if kind in ("backend_tensor", "apply_gradients_zip"):
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
    if kind == "tf_function_dense":
        return tensors
    if kind.endswith("_then_dense") and step % 2 == 1:
        return tensors  # dense steps between sparse ones: the compiled path, then back
    sparse_kind = kind.removesuffix("_then_dense").removeprefix("tf_function_")
    return [sparse_matrix(backend, sparse_kind, values[0])] + tensors[1:]


def drive(backend: str, kind: str, opt: Any, variables: list[Any]) -> str | None:
    """STEPS eager steps; the exception's type name if one was raised."""
    def apply(grads: list[Any]) -> None:
        opt.apply(grads, variables)

    if kind.startswith("tf_function_"):
        import tensorflow as tf

        # The user's step: variables captured, slots made before the first trace.
        opt.build(variables)
        apply = tf.function(apply)
    try:
        for step in range(STEPS):
            grads = gradients(backend, kind, step, variables)
            if kind == "apply_gradients_zip":
                opt.apply_gradients(zip(grads, variables))
            else:
                apply(grads)
    except Exception as error:  # compared with stock's, not judged here
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return None


def state(opt: Any, variables: list[Any]) -> list[list[float]]:
    import keras

    arrays = list(variables) + list(opt.variables)
    return [np.ravel(keras.ops.convert_to_numpy(v)).astype("float64").tolist() for v in arrays]


def scenarios() -> dict[str, Any]:
    import keras

    from keras3r.compiled_apply import stats

    backend = keras.backend.backend()
    out: dict[str, Any] = {"backend": backend, "runs": {}}
    for kind in DENSE_KINDS + OTHER_KINDS + SPARSE_KINDS[backend]:
        for name in OPTIMIZERS:
            ours = make_optimizer(name)
            stock = type(ours).from_config(ours.get_config())
            ours_vars, stock_vars = fresh_variables(), fresh_variables()
            ours_error = drive(backend, kind, ours, ours_vars)
            stock_error = drive(backend, kind, stock, stock_vars)
            out["runs"][f"{kind}/{name}"] = {
                "ours_error": ours_error,
                "stock_error": stock_error,
                "ours": state(ours, ours_vars),
                "stock": state(stock, stock_vars),
                "stats": stats(ours),
                "stock_patched": "apply" in vars(stock),
            }
    return out


if __name__ == "__main__":
    write_report(scenarios)
