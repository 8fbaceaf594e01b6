"""keras3r.plain(): an optimizer with keras3r's per-instance behaviour removed is stock Keras.

Checked for every optimizer keras3r builds: nothing of keras3r's is left in
the instance dict (the same keys as Keras's own object from the same
config), `get_config()` is unchanged, an eager `apply()` gives exactly what
stock Keras gives (Keras's path, not keras3r's compiled update), a
learning-rate function is the user's own again, and wrapped optimizers are
made plain too. (On JAX: test_plain_on_jax_is_stock_keras in
with_jax/test_donation.py.)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras3r
from harness import NOTHING_COMPILED
from keras3r import compat
from keras3r.adapt import keras3r_additions
from keras3r.adapt.eager_apply import stats


def _makers() -> dict[str, Callable[[], Any]]:
    makers: dict[str, Callable[[], Any]] = {
        fn: getattr(keras3r, fn)
        for fn in keras3r.__all__
        if fn.startswith("optimizer_") and fn not in ("optimizer_map", "optimizer_multi")
    }
    makers["optimizer_loss_scale"] = lambda: keras3r.optimizer_loss_scale(
        keras3r.optimizer_adam_w()
    )
    if hasattr(keras3r, "optimizer_multi"):
        makers["optimizer_multi"] = lambda: keras3r.optimizer_multi(
            keras3r.optimizer_map(keras3r.optimizer_sgd())
        )
    return makers


MAKERS = _makers()


def _stock_twin(opt: Any) -> Any:
    return type(opt).from_config(copy.deepcopy(opt.get_config()))


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_plain_leaves_nothing_of_keras3r(name: str) -> None:
    opt = MAKERS[name]()
    assert keras3r_additions(opt), "keras3r added nothing: the test would prove nothing"
    config = opt.get_config()
    assert keras3r.plain(opt) is opt
    assert keras3r_additions(opt) == []
    assert opt.get_config() == config
    assert set(vars(opt)) == set(vars(_stock_twin(opt)))
    for inner in (getattr(opt, "inner_optimizer", None), *getattr(opt, "optimizers", [])):
        if inner is not None:
            assert keras3r_additions(inner) == []


def _variables() -> list[Any]:
    rng = np.random.default_rng(0)
    return [keras.Variable(rng.standard_normal(s).astype("float32")) for s in ((5, 3), (3,))]


def _grads(step: int) -> list[Any]:
    rng = np.random.default_rng(10 + step)
    return [tf.constant(rng.standard_normal(s).astype("float32")) for s in ((5, 3), (3,))]


def _state(opt: Any, variables: list[Any]) -> list[np.ndarray]:
    return [np.asarray(v) for v in list(variables) + list(opt.variables)]


def test_plain_apply_is_exactly_stock_keras() -> None:
    settings = dict(learning_rate=0.05, clipnorm=0.5, use_ema=True, ema_overwrite_frequency=2)
    ours = keras3r.plain(keras3r.optimizer_adam_w(**settings))
    stock = _stock_twin(ours)
    ours_vars, stock_vars = _variables(), _variables()
    for t in range(4):
        ours.apply(_grads(t), ours_vars)
        stock.apply(_grads(t), stock_vars)
    for a, b in zip(_state(ours, ours_vars), _state(stock, stock_vars)):
        np.testing.assert_array_equal(a, b)
    assert stats(ours) == NOTHING_COMPILED


def test_without_plain_keras3r_s_compiled_update_runs() -> None:
    # The contrast that makes the test above mean something.
    ours = keras3r.optimizer_adam_w(learning_rate=0.05)
    variables = _variables()
    ours.apply(_grads(0), variables)
    assert stats(ours)["compiled_calls"] == 1


def test_plain_mid_training_continues_on_keras_s_path() -> None:
    ours = keras3r.optimizer_adam_w(learning_rate=0.05)
    variables = _variables()
    ours.apply(_grads(0), variables)
    keras3r.plain(ours)
    before = [np.asarray(v).copy() for v in variables]
    ours.apply(_grads(1), variables)
    assert any(not np.array_equal(np.asarray(v), b) for v, b in zip(variables, before))
    assert keras3r_additions(ours) == []


def test_a_learning_rate_function_is_the_user_s_own_again() -> None:
    def rate() -> float:
        return 0.01

    ours = keras3r.optimizer_sgd(learning_rate=rate)
    assert compat.learning_rate_object(ours) is not rate  # keras3r's guard around it
    variables = _variables()

    @tf.function
    def step(opt: Any) -> None:
        opt.apply(_grads(0), variables)

    with pytest.raises(RuntimeError, match="compiled training step"):
        step(ours)
    keras3r.plain(ours)
    assert compat.learning_rate_object(ours) is rate
    step(ours)  # stock Keras: traced once with the first value, no error


def test_plain_on_a_stock_optimizer_changes_nothing() -> None:
    stock = keras.optimizers.Adam(learning_rate=0.01)
    before = dict(vars(stock))
    assert keras3r.plain(stock) is stock
    assert dict(vars(stock)) == before


NOT_OPTIMIZERS = ["adam", None, 1.5, keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)]


@pytest.mark.parametrize("value", NOT_OPTIMIZERS)
def test_plain_refuses_what_is_not_an_optimizer(value: Any) -> None:
    with pytest.raises(TypeError, match="`optimizer` must be a Keras optimizer"):
        keras3r.plain(value)


def test_plain_sits_beside_the_family_not_in_its_exports() -> None:
    import keras3r.family
    from keras3r import adapt
    from keras3r.spec import SPECS

    assert keras3r.plain is adapt.plain
    # keras3r's exports are the spec's functions, as generated into keras3r.family.
    assert keras3r.__all__ == keras3r.family.__all__ == list(SPECS)
    namespace: dict[str, Any] = {}
    exec("from keras3r import *", namespace)  # noqa: S102
    assert "plain" not in namespace and "optimizer_adam_w" in namespace


def test_plain_refuses_while_schedule_free_averaged_weights_are_swapped_in() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 3)).astype("float32")
    y = x @ np.array([[1.0], [-1.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    opt = keras3r.optimizer_schedule_free_adam_w(learning_rate=0.1)
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    keras3r.swap_schedule_free_weights(model, "averaged")
    with pytest.raises(RuntimeError, match='swap_schedule_free_weights\\(optimizer, "training"\\)'):
        keras3r.plain(opt)
    assert keras3r_additions(opt)  # nothing was removed
    keras3r.swap_schedule_free_weights(model, "training")
    assert keras3r_additions(keras3r.plain(opt)) == []
