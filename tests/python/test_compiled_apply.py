"""Eager apply() of a keras3r optimizer on TensorFlow runs one cached XLA-compiled update.

Checked here: the eager path uses the compiled function and never retraces,
its results equal stock Keras driven the same way (AdamW in every setting,
every optimizer of the family, the loss-scale wrapper), calls inside a
tf.function (and fit()) keep Keras's path or nest the update as an XLA
function, settings changed after a step take effect, sparse and missing
gradients take Keras's path, and the optimizer saves and loads as a plain
AdamW. No timings: bench/bench_adamw.py measures those.

Traces are counted by TensorFlow: experimental_get_tracing_count() of the
XLA tf.functions behind an optimizer's cached updates
(keras3r.adapt.eager_apply.compiled_functions) or of the user's own
tf.function. Which path a call took (compiled or Keras's) is read from
keras3r.adapt.eager_apply.stats(), the only record of that choice.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import keras3r
from harness import SHAPES, assert_same_state, drive, fresh_variables, gradient_steps, state
from keras3r.adapt import schedule_free_step, state_of
from keras3r.adapt.eager_apply import compiled_functions, stats
from keras3r.spec import SPECS

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the compiled apply is TensorFlow-only"
)

STEPS = 12
# XLA fuses the element-wise ops, so it rounds differently from Keras's eager
# ops: parameters agree to a few float32 ulps.
RTOL, ATOL = 2e-6, 1e-7


def assert_all_close(ours: list[np.ndarray], stock: list[np.ndarray]) -> None:
    assert_same_state(ours, stock, rtol=RTOL, scaled_atol=ATOL)


def tracing_counts(opt) -> list[int]:
    """TensorFlow's trace count of each compiled update `opt` holds."""
    return [f.experimental_get_tracing_count() for f in compiled_functions(opt)]


def assert_compiled_without_retracing(opt, targets, steps) -> None:
    """The first step may trace; every later one runs the compiled update, tracing nothing."""
    drive(opt, targets, steps[:1])
    first, traced = stats(opt), tracing_counts(opt)
    drive(opt, targets, steps[1:])
    assert traced and tracing_counts(opt) == traced
    assert stats(opt)["compiled_calls"] - first["compiled_calls"] == len(steps) - 1
    assert stats(opt)["keras_calls"] == 0


def test_eager_apply_uses_one_compiled_function_without_retracing():
    opt = keras3r.optimizer_adam_w(learning_rate=0.01)
    variables = fresh_variables()
    assert_compiled_without_retracing(opt, variables, gradient_steps(30))
    assert int(opt.iterations.numpy()) == 30


def test_fresh_lists_of_the_same_variables_reuse_the_compiled_function():
    # What an R loop does: a new list object every call, the same variables.
    opt = keras3r.optimizer_adam_w()
    variables = fresh_variables()
    steps = gradient_steps(5)
    opt.apply([tf.constant(g) for g in steps[0]], list(variables))
    traced = tracing_counts(opt)
    for grads in steps[1:]:
        opt.apply([tf.constant(g) for g in grads], list(variables))
    assert traced and tracing_counts(opt) == traced
    assert stats(opt)["compiled_calls"] == 5


@pytest.mark.parametrize("via", ["apply", "apply_gradients"])
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"learning_rate": 0.01, "weight_decay": 0.1, "clipnorm": 1.0},
        {"global_clipnorm": 0.5, "amsgrad": True},
        {"use_ema": True, "ema_overwrite_frequency": 3},
        {"gradient_accumulation_steps": 2},
    ],
    ids=["defaults", "clipnorm", "global_clipnorm-amsgrad", "ema", "accumulation"],
)
def test_results_equal_stock_adamw_driven_eagerly(settings, via):
    ours = keras3r.optimizer_adam_w(**settings)
    stock = keras.optimizers.AdamW(**settings)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(STEPS)
    drive(ours, ours_vars, steps, via)
    drive(stock, stock_vars, steps, via)
    assert stats(ours)["compiled_calls"] == STEPS
    assert_all_close(state(ours, ours_vars), state(stock, stock_vars))


def test_same_maths_as_stock_keras_under_xla_bit_for_bit():
    # The compiled update is Keras's own apply traced under XLA: it must be
    # exactly what stock Keras computes in a jit-compiled step (as in fit()).
    ours = keras3r.optimizer_adam_w(learning_rate=0.01, clipnorm=1.0)
    stock = keras.optimizers.AdamW(learning_rate=0.01, clipnorm=1.0)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()

    @tf.function(jit_compile=True)
    def stock_step(grads):
        stock.apply(grads, stock_vars)

    for grads in gradient_steps(STEPS):
        tensors = [tf.constant(g) for g in grads]
        ours.apply(tensors, ours_vars)
        stock_step(tensors)
    for a, b in zip(state(ours, ours_vars), state(stock, stock_vars)):
        np.testing.assert_array_equal(a, b)


def _xla_step_hlo(opt: keras.optimizers.Optimizer) -> str:
    """Optimised HLO of a user's XLA step applying `opt`, names and metadata removed."""
    variables = fresh_variables()
    opt.build(variables)
    step = tf.function(lambda grads: opt.apply(grads, variables), jit_compile=True)
    tensors = [tf.constant(g) for g in gradient_steps(1)[0]]
    step(tensors)
    text = step.experimental_get_compiler_ir(tensors)(stage="optimized_hlo")
    text = re.sub(r"metadata=\{[^}]*\}", "", text)
    text = re.sub(r"HloModule \S+", "", text)
    # Instruction and computation names carry TF name scopes (the optimizer's
    # name among them): number them in order of first appearance instead.
    names: dict[str, str] = {}
    return re.sub(r"%[\w.\-]+", lambda m: names.setdefault(m.group(), f"%n{len(names)}"), text)


@pytest.mark.parametrize("settings", [{}, {"clipnorm": 1.0, "use_ema": True, "amsgrad": True}])
def test_inside_a_users_xla_step_the_program_is_stock_keras(settings):
    # Under XLA (fit()'s default step, jit_compile=True) keras3r keeps Keras's
    # path: XLA must compile the very program it compiles for stock AdamW, so
    # the update can cost no more than stock there.
    ours = _xla_step_hlo(keras3r.optimizer_adam_w(**settings))
    stock = _xla_step_hlo(keras.optimizers.AdamW(**settings))
    assert ours == stock


def test_numpy_float64_gradients_as_from_r():
    ours = keras3r.optimizer_adam_w()
    stock = keras.optimizers.AdamW()
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(5, dtype="float64")
    ours.apply(steps[0], ours_vars)
    traced = tracing_counts(ours)
    for grads in steps[1:]:
        ours.apply(grads, ours_vars)
    for grads in steps:
        stock.apply(grads, stock_vars)
    assert traced and tracing_counts(ours) == traced
    assert (stats(ours)["compiled_calls"], stats(ours)["keras_calls"]) == (5, 0)
    assert_all_close(state(ours, ours_vars), state(stock, stock_vars))


def test_optimizer_variables_are_built_eagerly_before_the_trace():
    opt = keras3r.optimizer_adam_w()
    variables = fresh_variables()
    assert not opt.built
    drive(opt, variables, gradient_steps(1))
    assert opt.built
    # iterations, learning_rate, then a momentum and a velocity per variable.
    assert len(opt.variables) == 2 + 2 * len(SHAPES)
    assert all(isinstance(v, keras.Variable) for v in opt.variables)


def test_changed_settings_compile_a_new_update():
    ours = keras3r.optimizer_adam_w()
    stock = keras.optimizers.AdamW()
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    first, second = gradient_steps(6)[:3], gradient_steps(6)[3:]
    drive(ours, ours_vars, first)
    drive(stock, stock_vars, first)
    for opt in (ours, stock):
        opt.weight_decay = 0.2  # a Python float: baked into a trace
        opt.learning_rate = 0.05  # a variable: read by the same trace
    # Compiled again for the new settings on their first step, then reused; an
    # update traced with the old weight decay would part from stock below.
    assert_compiled_without_retracing(ours, ours_vars, second)
    drive(stock, stock_vars, second)
    assert_all_close(state(ours, ours_vars), state(stock, stock_vars))


def test_learning_rate_replaced_by_a_schedule_is_seen():
    ours = keras3r.optimizer_adam_w(learning_rate=0.01)
    stock = keras.optimizers.AdamW(learning_rate=0.01)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(6)
    drive(ours, ours_vars, steps[:3])
    drive(stock, stock_vars, steps[:3])
    for opt in (ours, stock):
        opt.learning_rate = keras.optimizers.schedules.ExponentialDecay(0.05, 2, 0.5)
    # An update traced with the old constant rate would part from stock below.
    assert_compiled_without_retracing(ours, ours_vars, steps[3:])
    drive(stock, stock_vars, steps[3:])
    assert_all_close(state(ours, ours_vars), state(stock, stock_vars))


def test_learning_rate_function_is_called_every_eager_step():
    # A trace would call it once and freeze its value: Keras's path runs it.
    calls = []

    def rate():
        calls.append(1)
        return 0.01 / len(calls)

    stock_calls = []

    def stock_rate():
        stock_calls.append(1)
        return 0.01 / len(stock_calls)

    ours = keras3r.optimizer_adam_w(learning_rate=rate)
    stock = keras.optimizers.AdamW(learning_rate=stock_rate)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    drive(ours, ours_vars, gradient_steps(4))
    drive(stock, stock_vars, gradient_steps(4))
    assert stats(ours)["compiled_calls"] == 0
    assert stats(ours)["keras_calls"] == 4
    assert len(calls) == len(stock_calls) >= 4
    for a, b in zip(state(ours, ours_vars), state(stock, stock_vars)):
        np.testing.assert_array_equal(a, b)


# Optimizers that build with their defaults alone: the wrappers (loss scale,
# multi, map) need an inner optimizer, and their sub-optimizers are these.
OPTIMIZERS = sorted(
    name
    for name, spec in SPECS.items()
    if name.startswith("optimizer_") and not any(a.required for a in spec.args)
)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_keras3r_optimizer_compiles_and_matches_stock(name):
    ours = getattr(keras3r, name)()
    stock = type(ours).from_config(ours.get_config())
    # keras3r gives ScheduleFreeAdamW the paper's update where Keras's own
    # differs (keras3r.adapt.schedule_free_step): the stock copy gets the same
    # maths, so that only the compiled path is compared here.
    if isinstance(stock, keras.optimizers.ScheduleFreeAdamW):
        stock = schedule_free_step.attach(stock)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(5)
    assert_compiled_without_retracing(ours, ours_vars, steps)
    drive(stock, stock_vars, steps)
    # Some (Ftrl) grow their values to 1e3 and divide by them: rounding is
    # compared at the scale of each array.
    assert_same_state(state(ours, ours_vars), state(stock, stock_vars))


def test_loss_scale_optimizer_compiles_and_matches_stock():
    ours = keras3r.optimizer_loss_scale(keras3r.optimizer_adam_w())
    stock = keras.optimizers.LossScaleOptimizer(keras.optimizers.AdamW())
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    steps = gradient_steps(5)
    drive(ours, ours_vars, steps)
    drive(stock, stock_vars, steps)
    assert stats(ours)["compiled_calls"] == 5
    assert_all_close(state(ours, ours_vars), state(stock, stock_vars))


def test_composes_with_the_cross_replica_clipping_fix():
    opt = keras3r.optimizer_adam_w(clipnorm=0.5)
    own = vars(opt)
    assert "apply" in own  # this feature
    assert "_clip_gradients" in own  # keras3r.adapt.tensorflow_distribute's, still in force
    stock = keras.optimizers.AdamW(clipnorm=0.5)
    ours_vars, stock_vars = fresh_variables(), fresh_variables()
    drive(opt, ours_vars, gradient_steps(4))
    drive(stock, stock_vars, gradient_steps(4))
    assert stats(opt)["compiled_calls"] == 4
    assert_all_close(state(opt, ours_vars), state(stock, stock_vars))


def test_sparse_gradient_takes_keras_path_and_matches_stock():
    ours = keras3r.optimizer_adam_w()
    stock = keras.optimizers.AdamW()
    ours_var, stock_var = keras.Variable(np.ones((5, 3), "float32")), keras.Variable(
        np.ones((5, 3), "float32")
    )
    grad = tf.IndexedSlices(tf.ones((2, 3)), tf.constant([0, 3]), tf.constant([5, 3]))
    for _ in range(3):
        ours.apply([grad], [ours_var])
        stock.apply([grad], [stock_var])
    assert stats(ours)["keras_calls"] == 3
    np.testing.assert_array_equal(np.asarray(ours_var), np.asarray(stock_var))


def test_sparse_gradient_in_a_tf_function_takes_keras_path_and_matches_stock():
    """Inside a plain tf.function, a sparse gradient leaves the update to Keras."""
    ours, stock = keras3r.optimizer_adam_w(), keras.optimizers.AdamW()
    ours_var = keras.Variable(np.ones((5, 3), "float32"))
    stock_var = keras.Variable(np.ones((5, 3), "float32"))
    grad = tf.IndexedSlices(tf.ones((2, 3)), tf.constant([0, 3]), tf.constant([5, 3]))

    def step_of(opt, var):  # variables captured: as arguments they would be tensors
        return tf.function(lambda: opt.apply_gradients(zip([grad], [var])))

    ours_step, stock_step = step_of(ours, ours_var), step_of(stock, stock_var)
    for _ in range(3):
        ours_step()
        stock_step()
    assert stats(ours)["keras_calls"] >= 1
    np.testing.assert_array_equal(np.asarray(ours_var), np.asarray(stock_var))
    assert not np.array_equal(np.asarray(ours_var), np.ones((5, 3), "float32"))


def test_public_call_when_tf_has_no_flat_call():
    from keras3r.adapt.tensorflow import _caller

    class Concrete:  # a ConcreteFunction of some other TF: no `_call_flat`
        def __call__(self, *grads):
            return ("public", grads)

    assert _caller(Concrete())(["g1", "g2"]) == ("public", ("g1", "g2"))


def test_inside_a_plain_tf_function_the_update_is_a_nested_xla_function():
    """A custom step without jit_compile: the update alone is compiled, once per trace.

    The variables hold 100,200 parameters on average: smaller ones keep
    Keras's path there (test_nesting_rule.py).
    """
    ours = keras3r.optimizer_adam_w(learning_rate=0.01)
    stock = keras.optimizers.AdamW(learning_rate=0.01)
    shapes = [(500, 400), (400,)]
    ours_vars, stock_vars = fresh_variables(shapes), fresh_variables(shapes)

    @tf.function
    def ours_step(grads):
        ours.apply(grads, ours_vars)

    @tf.function(jit_compile=True)
    def stock_step(grads):
        stock.apply(grads, stock_vars)

    steps = gradient_steps(STEPS, shapes)
    for grads in steps:
        tensors = [tf.constant(g) for g in grads]
        ours_step(tensors)
        stock_step(tensors)
    # The update is traced with ours_step (twice at most: tf.function retraces
    # once when the first trace creates the optimizer's variables), never per step.
    traces = ours_step.experimental_get_tracing_count()
    assert 1 <= traces <= 2 < len(steps)
    assert stats(ours)["nested"] == traces
    assert stats(ours)["compiled_calls"] == 0 and stats(ours)["keras_calls"] == 0
    for a, b in zip(state(ours, ours_vars), state(stock, stock_vars)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fit_without_xla_compiles_the_update_and_matches_stock():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = rng.standard_normal((64, 1)).astype("float32")
    weights = []
    for opt in (keras3r.optimizer_adam_w(), keras.optimizers.AdamW(name="adamw")):
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=opt, loss="mse", jit_compile=False)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
        weights.append([w.numpy() for w in model.weights])
    assert state_of(model.optimizer) is None  # stock
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fit_keeps_keras_path():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = rng.standard_normal((64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    opt = keras3r.optimizer_adam_w()
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert int(opt.iterations.numpy()) == 8
    assert stats(opt)["compiled_calls"] == 0


def test_missing_gradient_takes_keras_path():
    opt = keras3r.optimizer_adam_w()
    variables = fresh_variables()
    grads = [tf.constant(g) for g in gradient_steps(1)[0]]
    grads[1] = None
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        opt.apply(grads, variables)
    assert stats(opt)["keras_calls"] == 1
    assert stats(opt)["compiled_calls"] == 0


def test_unknown_variables_raise_keras_error_without_warning(recwarn):
    opt = keras3r.optimizer_adam_w()
    drive(opt, fresh_variables(), gradient_steps(1))
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([tf.constant(g) for g in gradient_steps(1)[0]], fresh_variables())
    assert not [w for w in recwarn if "XLA-compiled" in str(w.message)]


def test_class_and_config_are_stock_and_save_load_gives_plain_adamw(tmp_path):
    opt = keras3r.optimizer_adam_w(learning_rate=0.01)
    assert type(opt) is keras.optimizers.AdamW
    assert opt.name == "adamw"
    stock = keras.optimizers.AdamW(learning_rate=0.01, name="adamw")
    assert opt.get_config() == stock.get_config()

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=opt, loss="mse")
    grads = [tf.ones_like(v) for v in model.trainable_variables]
    for _ in range(3):
        opt.apply(grads, model.trainable_variables)  # eager: compiled path
    assert stats(opt)["compiled_calls"] == 3

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    reloaded = loaded.optimizer
    assert type(reloaded) is keras.optimizers.AdamW
    assert "apply" not in vars(reloaded)
    assert stats(reloaded)["compiled_calls"] == 0
    assert reloaded.get_config() == opt.get_config()
    assert int(reloaded.iterations.numpy()) == 3
    for a, b in zip(reloaded.variables, opt.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_checkpoint_round_trip(tmp_path):
    opt = keras3r.optimizer_adam_w()
    variables = fresh_variables()
    drive(opt, variables, gradient_steps(2))
    checkpoint = tf.train.Checkpoint(optimizer=opt)
    saved = [np.asarray(v) for v in opt.variables]
    path = checkpoint.write(str(tmp_path / "ckpt"))
    drive(opt, variables, gradient_steps(2))
    checkpoint.read(path).assert_consumed()
    for a, b in zip(opt.variables, saved):
        np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["adam", "sgd", "adagrad"])
def test_half_precision_variables_update_as_stock_keras(name: str, dtype: str) -> None:
    from half_precision import check_half_precision_matches_stock

    check_half_precision_matches_stock(name, dtype)
