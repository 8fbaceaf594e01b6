"""Every private Keras, TensorFlow and JAX name keras3r uses, against the installed releases.

keras3r.compat is the one module that touches private names; each one is
listed in `compat.PRIVATE_APIS` and has a probe here that checks it still
exists and still does what keras3r relies on. A release that moves one fails
the probe with a message naming the private API and what depends on it. The
fallbacks are tested too (each private name taken away), and a scan of the
package fails on a private name used anywhere but compat.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras3r import compat

PACKAGE = Path(compat.__file__).resolve().parent


def _fail(name: str, detail: str) -> None:
    pytest.fail(
        f"private API `{name}` moved or changed in this release ({detail}); keras3r's "
        f"use: {compat.PRIVATE_APIS[name]}. Adapt keras3r/compat.py.",
        pytrace=False,
    )


def _check(name: str, ok: bool, detail: str) -> None:
    if not ok:
        _fail(name, detail)


# --- Probes: one per private API ---------------------------------------------------


def probe_stateless_scope() -> None:
    name = "keras.src.backend.common.stateless_scope.in_stateless_scope"
    try:
        from keras.src.backend.common.stateless_scope import in_stateless_scope
    except ImportError as error:
        _fail(name, f"cannot import: {error}")
    _check(name, in_stateless_scope() is False, "True outside any scope")
    with keras.StatelessScope():
        _check(name, in_stateless_scope() is True, "False inside keras.StatelessScope()")
        _check(name, compat.in_stateless_scope(), "compat disagrees inside the scope")


def probe_jax_trace_state() -> None:
    import jax
    import jax.numpy as jnp

    name = "jax._src.core.trace_state_clean"
    _check(name, compat.jax_trace_state_clean() is True, "not clean outside a trace")
    seen = []

    def traced(x: Any) -> Any:
        seen.append(compat.jax_trace_state_clean())
        return x + 1

    jax.jit(traced)(jnp.ones(2))
    _check(name, seen == [False], f"inside jax.jit it read {seen}, not [False]")


def probe_jax_device_arrays() -> None:
    import jax
    import jax.numpy as jnp

    name = "jax.Array._arrays"
    x = jnp.arange(4.0) + 1
    try:
        views = compat.jax_device_arrays(x)
    except AttributeError as error:
        _fail(name, str(error))
    _check(name, len(views) == 1, f"{len(views)} views of an array on one device")
    view = views[0]
    _check(name, view is compat.jax_device_arrays(x)[0], "views are not cached on the array")
    _check(name, compat.jax_device_arrays(view)[0] is view, "a view is not its own view")
    _check(
        name,
        view.unsafe_buffer_pointer() == x.unsafe_buffer_pointer(),
        "the view is not over the array's buffer",
    )
    shard = x.addressable_shards[0].data
    _check(name, shard is view, "a shard's .data is not the cached view")
    alias = jax.device_put(x, jax.devices()[0])
    _check(name, alias is not x, "device_put to the same device returns the array itself")


def probe_jax_live_arrays_order() -> None:
    import jax
    import jax.numpy as jnp

    name = "jax.live_arrays newest first"
    made = [jnp.arange(3.0) + i for i in range(4)]
    live = jax.live_arrays()
    positions = [next(i for i, a in enumerate(live) if a is m) for m in made]
    _check(name, positions == sorted(positions, reverse=True), f"order {positions}")
    view = compat.jax_device_arrays(made[0])[0]
    if view is made[0]:
        # Newer JAX gives an array on one device as its own view: no new array
        # exists to mark where the list starts, and keras3r.adapt.jax then
        # searches every live array (slower, still correct).
        return
    _check(name, jax.live_arrays()[0] is view, "a view just made is not listed first")


def probe_jax_variable() -> None:
    from keras.src.backend.jax.core import Variable as JaxVariable

    variable = JaxVariable(np.ones(3, "float32"))
    _check("keras.Variable._value", variable._value is variable.value, "`_value` is not `value`")
    new = variable.value * 2
    compat.store(variable, new)
    _check(
        "keras.Variable._direct_assign",
        callable(getattr(variable, "_direct_assign", None)) and variable.value is new,
        "no `_direct_assign`, or it does not store the array given",
    )
    _check("keras.Variable._value", compat.read_stored([variable])[0] is new, "read back")


def probe_trainable_variables() -> None:
    name = "keras.optimizers.Optimizer._trainable_variables"
    variables = [keras.Variable(np.ones(2, "float32")), keras.Variable(np.zeros(3, "float32"))]
    opt = keras.optimizers.AdamW()
    opt.build(variables)
    built = compat.built_variables(opt)
    _check(name, built is not None and list(built) == variables, f"read {built!r}")


def probe_learning_rate() -> None:
    name = "keras.optimizers.Optimizer._learning_rate"
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    _check(
        name,
        compat.learning_rate_object(keras.optimizers.SGD(learning_rate=schedule)) is schedule,
        "a schedule given is not what it holds",
    )

    def rate() -> float:
        return 0.1

    _check(
        name,
        compat.learning_rate_object(keras.optimizers.SGD(learning_rate=rate)) is rate,
        "a function given is not what it holds",
    )
    held = compat.learning_rate_object(keras.optimizers.SGD(learning_rate=0.1))
    _check(name, isinstance(held, keras.Variable), f"a float is held as {type(held)}")


def probe_distribution_strategy() -> None:
    name = "keras.optimizers.Optimizer._distribution_strategy"
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        opt = keras.optimizers.AdamW()
    _check(name, compat.distribution_strategy(opt) is strategy, "not the strategy in scope")


def probe_clip_hooks() -> None:
    opt = keras.optimizers.AdamW(clipnorm=1.0)
    for name, attr in (
        ("keras.optimizers.Optimizer._clip_gradients", compat.CLIP_GRADIENTS),
        ("keras.optimizers.Optimizer._all_reduce_sum_gradients", compat.ALL_REDUCE_SUM_GRADIENTS),
    ):
        method = getattr(opt, attr, None)
        _check(name, callable(method), "missing")
        params = list(inspect.signature(method).parameters)
        _check(name, len(params) == 1, f"takes {params}, not one argument")
    clipped = opt._clip_gradients([tf.constant([3.0, 4.0])])
    _check(
        "keras.optimizers.Optimizer._clip_gradients",
        np.allclose(clipped[0].numpy(), [0.6, 0.8]),
        "does not clip by norm",
    )
    _check("keras.optimizers.Optimizer._clip_gradients", compat.has_clip_hooks(opt), "compat")


def probe_xla_context() -> None:
    name = "tensorflow.python.ops.control_flow_util.GraphOrParentsInXlaContext"
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError as error:
        _fail(name, f"cannot import: {error}")
    _check(name, callable(getattr(control_flow_util, "GraphOrParentsInXlaContext", None)), "gone")
    seen = []

    def body(x: Any) -> Any:
        seen.append(compat.tf_inside_xla())
        return x + 1

    tf.function(body, jit_compile=True)(tf.constant(1.0))
    tf.function(body)(tf.constant(1.0))
    _check(name, seen == [True, False], f"read {seen} in an XLA then a plain tf.function")


def probe_shape_tuple() -> None:
    name = "tensorflow.EagerTensor._shape_tuple"
    tensor = tf.ones((2, 3))
    _check(name, callable(getattr(tensor, "_shape_tuple", None)), "gone")
    _check(name, tensor._shape_tuple() == (2, 3), f"gives {tensor._shape_tuple()!r}")


def probe_call_flat() -> None:
    name = "tensorflow.ConcreteFunction._call_flat"
    captured = tf.Variable([1.0, 1.0])
    concrete = tf.function(lambda x: x * 2 + captured).get_concrete_function(
        tf.TensorSpec([2])
    )
    call = compat.tf_flat_caller(concrete)
    _check(name, call is not None, "missing, or its parameters changed")
    assert call is not None
    out = call([tf.constant([1.0, 2.0])])
    out = out[0] if isinstance(out, (list, tuple)) else out
    _check(name, np.allclose(np.asarray(out), [3.0, 5.0]), f"returned {out!r}")


def probe_unlifted_variable() -> None:
    name = "tensorflow UnliftedInitializerVariable"
    made: dict[str, Any] = {}

    @tf.function
    def build() -> Any:
        if "v" not in made:
            made["v"] = keras.Variable(1.0)
        return made["v"].value

    build()
    _check(name, compat.tf_made_in_a_trace(made["v"]), type(made["v"]._value).__name__)
    _check(name, not compat.tf_made_in_a_trace(keras.Variable(1.0)), "an eager variable too")


def probe_adam_slots() -> None:
    variables = [keras.Variable(np.ones(2, "float32")), keras.Variable(np.ones(3, "float32"))]
    opt = keras.optimizers.Adam()
    opt.build(variables)
    for name, read in (
        ("keras.optimizers.Optimizer._momentums", compat.momentums),
        ("keras.optimizers.Optimizer._velocities", compat.velocities),
    ):
        try:
            slots = read(opt)
        except AttributeError as error:
            _fail(name, str(error))
        _check(name, [tuple(s.shape) for s in slots] == [(2,), (3,)], "not one per variable")
    name = "keras.optimizers.Optimizer._get_variable_index"
    try:
        index = compat.variable_index(opt, variables[1])
    except AttributeError as error:
        _fail(name, str(error))
    _check(name, index == 1, f"index {index} for the second variable")


def probe_base_optimizer() -> None:
    name = "keras.src.optimizers.base_optimizer.BaseOptimizer"
    try:
        base = compat.base_optimizer_class()
    except ImportError as error:
        _fail(name, str(error))
    _check(name, issubclass(keras.optimizers.Optimizer, base), "not the Optimizer's base")
    params = inspect.signature(base.__init__).parameters
    _check(name, "clipnorm" in params and "learning_rate" in params, "base arguments moved")
    _check(name, keras.optimizers.SGD.update_step is not base.update_step, "no update_step stub")


def probe_muon_split() -> None:
    name = "keras.optimizers.Muon._should_use_adamw"
    opt = keras.optimizers.Muon()
    try:
        matrix = compat.muon_uses_adamw(opt, keras.Variable(np.ones((4, 4), "float32")))
        vector = compat.muon_uses_adamw(opt, keras.Variable(np.ones(4, "float32")))
    except AttributeError as error:
        _fail(name, str(error))
    _check(name, (matrix, vector) == (False, True), f"matrix {matrix}, vector {vector}")


def probe_multi_optimizer_map() -> None:
    name = "keras.optimizers.MultiOptimizer._optimizer_map"
    adam = keras.optimizers.Adam()
    routes = keras.optimizers.OptimizerMap(keras.optimizers.SGD(), {"dense/.*": adam})
    multi = keras.optimizers.MultiOptimizer(routes)
    _check(name, compat.multi_optimizer_routes(multi) is routes, "not the map given")


def probe_torch_update_hooks() -> None:
    variables = [keras.Variable(np.ones(2, "float32"), name="w"),
                 keras.Variable(np.ones(3, "float32"), name="bias")]  # fmt: skip
    opt = keras.optimizers.AdamW(weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.build(variables)
    for name, attribute, parameters in (
        ("keras.optimizers.Optimizer._backend_update_step", compat.BACKEND_UPDATE_STEP,
         ["grads", "trainable_variables", "learning_rate"]),
        ("keras.optimizers.Optimizer._apply_weight_decay", compat.APPLY_WEIGHT_DECAY,
         ["variables"]),
    ):  # fmt: skip
        method = getattr(opt, attribute, None)
        _check(name, callable(method), "not a method of the optimizer")
        found = list(inspect.signature(method).parameters)
        _check(name, found == parameters, f"parameters {found}")
    name = "keras.optimizers.Optimizer._use_weight_decay"
    try:
        decays = [compat.uses_weight_decay(opt, v) for v in variables]
    except AttributeError as error:
        _fail(name, str(error))
    _check(name, decays == [True, False], f"decays {decays} with `bias` excluded")


def probe_optimizer_slots() -> None:
    variables = [keras.Variable(np.ones(2, "float32")), keras.Variable(np.ones(3, "float32"))]
    adam = keras.optimizers.Adam(amsgrad=True)
    adam.build(variables)
    adagrad = keras.optimizers.Adagrad(initial_accumulator_value=0.25)
    adagrad.build(variables)
    for name, slots, value in (
        ("keras.optimizers.Adam._velocity_hats", compat.amsgrad_maxima(adam), 0.0),
        ("keras.optimizers.Adagrad._accumulators", compat.adagrad_accumulators(adagrad), 0.25),
    ):
        _check(name, slots is not None, "missing")
        assert slots is not None
        _check(name, [tuple(s.shape) for s in slots] == [(2,), (3,)], "not one per variable")
        _check(name, float(slots[1].numpy()[0]) == value, f"initial value not {value}")


def _probe_fused_adam_kernel(kernel_name: str, weight_decay: float) -> None:
    """torch's Adam kernel with the step at infinity: no bias correction (Keras's alpha given).

    The AdamW kernel's decoupled decay multiplies p by 1 - lr * wd before the update.
    """
    import torch

    name = f"torch._fused_{kernel_name}_"
    kernel = compat.torch_fused_kernel(kernel_name)
    _check(name, kernel is not None, "missing")
    assert kernel is not None
    p, g, m, v = (torch.tensor(x, dtype=torch.float64) for x in ([1.0, -2.0], [0.5, 3.0],
                                                                  [0.1, 0.2], [0.3, 0.4]))
    alpha, b1, b2, eps = 0.01, 0.9, 0.99, 0.1
    want_m, want_v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    want_p = p * (1 - alpha * weight_decay) - alpha * want_m / (want_v.sqrt() + eps)
    step = torch.tensor(float("inf"))
    kernel([p], [g], [m], [v], [], [step], lr=torch.tensor(alpha, dtype=torch.float64), beta1=b1,
           beta2=b2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False)  # fmt: skip
    _check(name, torch.allclose(p, want_p, rtol=1e-14, atol=0), f"{p} not Keras's {want_p}")
    _check(name, torch.allclose(m, want_m, rtol=1e-14, atol=0), "first moment")


def probe_torch_fused_adam() -> None:
    _probe_fused_adam_kernel("adam", 0.0)


def probe_torch_fused_adamw() -> None:
    _probe_fused_adam_kernel("adamw", 0.3)


def probe_torch_fused_sgd() -> None:
    """lr * g with maximize and a rate of -1 gives Keras's buffer and Nesterov update."""
    import torch

    name = "torch._fused_sgd_"
    kernel = compat.torch_fused_kernel("sgd")
    _check(name, kernel is not None, "missing")
    assert kernel is not None
    p, g, b = (torch.tensor(x, dtype=torch.float64) for x in ([1.0, -2.0], [0.5, 3.0], [0.1, -0.2]))
    lr, momentum = 0.05, 0.9
    want_b = momentum * b - lr * g
    want_p = p - lr * g + momentum * want_b
    kernel([p], [g * lr], [b], weight_decay=0.0, momentum=momentum, lr=-1.0, dampening=0.0,
           nesterov=True, maximize=True, is_first_step=False)  # fmt: skip
    _check(name, torch.allclose(b, want_b, rtol=1e-14, atol=0), f"buffer {b} not {want_b}")
    _check(name, torch.allclose(p, want_p, rtol=1e-14, atol=0), f"{p} not Keras's {want_p}")


def probe_torch_foreach() -> None:
    name = "torch._foreach_ in-place ops"
    for op in ("addcmul_", "add", "sqrt_", "mul", "mul_", "div_", "sub_"):
        _check(name, callable(compat.torch_foreach(op)), f"_foreach_{op} missing")


PROBES: dict[str, Callable[[], None]] = {
    "keras.src.backend.common.stateless_scope.in_stateless_scope": probe_stateless_scope,
    "jax._src.core.trace_state_clean": probe_jax_trace_state,
    "jax.Array._arrays": probe_jax_device_arrays,
    "jax.live_arrays newest first": probe_jax_live_arrays_order,
    "keras.Variable._value": probe_jax_variable,
    "keras.Variable._direct_assign": probe_jax_variable,
    "keras.optimizers.Optimizer._trainable_variables": probe_trainable_variables,
    "keras.optimizers.Optimizer._learning_rate": probe_learning_rate,
    "keras.optimizers.Optimizer._distribution_strategy": probe_distribution_strategy,
    "keras.optimizers.Optimizer._clip_gradients": probe_clip_hooks,
    "keras.optimizers.Optimizer._all_reduce_sum_gradients": probe_clip_hooks,
    "tensorflow.python.ops.control_flow_util.GraphOrParentsInXlaContext": probe_xla_context,
    "tensorflow.EagerTensor._shape_tuple": probe_shape_tuple,
    "tensorflow.ConcreteFunction._call_flat": probe_call_flat,
    "tensorflow UnliftedInitializerVariable": probe_unlifted_variable,
    "keras.optimizers.Optimizer._momentums": probe_adam_slots,
    "keras.optimizers.Optimizer._velocities": probe_adam_slots,
    "keras.optimizers.Optimizer._get_variable_index": probe_adam_slots,
    "keras.src.optimizers.base_optimizer.BaseOptimizer": probe_base_optimizer,
    "keras.optimizers.Muon._should_use_adamw": probe_muon_split,
    "keras.optimizers.MultiOptimizer._optimizer_map": probe_multi_optimizer_map,
    "keras.optimizers.Optimizer._backend_update_step": probe_torch_update_hooks,
    "keras.optimizers.Optimizer._apply_weight_decay": probe_torch_update_hooks,
    "keras.optimizers.Optimizer._use_weight_decay": probe_torch_update_hooks,
    "keras.optimizers.Adam._velocity_hats": probe_optimizer_slots,
    "keras.optimizers.Adagrad._accumulators": probe_optimizer_slots,
    "torch._fused_adam_": probe_torch_fused_adam,
    "torch._fused_adamw_": probe_torch_fused_adamw,
    "torch._fused_sgd_": probe_torch_fused_sgd,
    "torch._foreach_ in-place ops": probe_torch_foreach,
}


def test_every_private_api_has_a_probe() -> None:
    assert set(PROBES) == set(compat.PRIVATE_APIS)


@pytest.mark.parametrize("name", sorted(compat.PRIVATE_APIS))
def test_private_api_still_works(name: str) -> None:
    pytest.importorskip("jax")
    PROBES[name]()


def test_a_moved_private_api_fails_naming_it(monkeypatch) -> None:
    # As a release that renames `_shape_tuple` would make the probe fail.
    class Moved:
        dtype = tf.float32
        shape = (2, 3)

    monkeypatch.setattr(tf, "ones", lambda *a, **k: Moved())
    with pytest.raises(pytest.fail.Exception, match="tensorflow.EagerTensor._shape_tuple"):
        probe_shape_tuple()


# --- Fallbacks: each private name taken away --------------------------------------------


class _Plain:
    """A stand-in variable with only the public API."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.assigned: list[Any] = []

    def assign(self, value: Any) -> None:
        self.assigned.append(value)
        self.value = value


def test_fallbacks_use_the_public_api() -> None:
    plain = _Plain(np.ones(2))
    assert compat.read_stored([plain])[0] is plain.value
    new = np.zeros(2)
    compat.store(plain, new)
    assert plain.assigned == [new]
    assert compat.built_variables(object()) is None
    assert compat.learning_rate_object(object()) is None
    assert compat.distribution_strategy(object()) is None
    assert not compat.has_clip_hooks(object())

    class Tensor:
        dtype = "float32"
        shape = (4,)

    assert compat.tf_shapes([Tensor()]) == (("float32", (4,)),)
    assert compat.tf_flat_caller(object()) is None


def test_missing_torch_kernels_and_slots_read_as_none(monkeypatch) -> None:
    import torch

    monkeypatch.delattr(torch, "_fused_adam_")
    monkeypatch.delattr(torch, "_foreach_sqrt_")
    assert compat.torch_fused_kernel("adam") is None
    assert compat.torch_foreach("sqrt_") is None
    assert compat.torch_fused_kernel("sgd") is not None
    assert compat.amsgrad_maxima(object()) is None
    assert compat.adagrad_accumulators(object()) is None


def test_a_missing_stateless_scope_keeps_keras_path(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_scope(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("keras.src.backend.common.stateless_scope"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scope)
    assert compat.in_stateless_scope() is True


def test_a_missing_trace_check_is_unknown(monkeypatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "jax._src.core", types.ModuleType("jax._src.core"))
    assert compat.jax_trace_state_clean() is None
    from keras3r.adapt.rate_guard import jax_tracing

    assert jax_tracing() is False  # the frozen-rate check stays silent


def test_a_missing_xla_check_keeps_keras_path(monkeypatch) -> None:
    from tensorflow.python.ops import control_flow_util

    monkeypatch.delattr(control_flow_util, "GraphOrParentsInXlaContext")
    assert compat.tf_inside_xla() is True


# --- No private name outside compat ----------------------------------------------------

_PRIVATE_MODULES = ("keras.src", "tensorflow.python", "jax._src", "jaxlib", "torch._")


def _defined_in_package() -> set[str]:
    """The attribute names keras3r itself defines: its own, not private APIs.

    Methods and class attributes of keras3r's own classes, the attributes
    those classes set on `self`, and module-level names (reachable as
    `module._name`). An attribute keras3r sets on a Keras object does not
    count: it would hide a private Keras name.
    """
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for node in ast.walk(cls):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and getattr(node.value, "id", None) == "self"
                ):
                    names.add(node.attr)
            for node in cls.body:
                for target in getattr(node, "targets", [getattr(node, "target", None)]):
                    if isinstance(target, ast.Name):
                        names.add(target.id)
    return names


def _module_names(path: Path) -> set[str]:
    """Names defined at the top level of one keras3r module."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        for target in getattr(node, "targets", [getattr(node, "target", None)]):
            if isinstance(target, ast.Name):
                names.add(target.id)
    return names


def _package_modules(tree: ast.AST) -> dict[str, set[str]]:
    """keras3r modules imported by a file, by the name they are bound to there."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "keras3r":
            for alias in node.names:
                module = PACKAGE / f"{alias.name}.py"
                if module.exists():
                    bound[alias.asname or alias.name] = _module_names(module)
    return bound


def _private(name: str, own: set[str]) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in own


def _private_uses(path: Path, own: set[str], root: Path = PACKAGE.parent) -> list[str]:
    """Private names `path` uses that keras3r does not define itself."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = _package_modules(tree)
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [
                f"{where} import {a.name}"
                for a in node.names
                if a.name.startswith(_PRIVATE_MODULES)
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_PRIVATE_MODULES):
            found.append(f"{where} from {node.module} import ...")
        elif isinstance(node, ast.Attribute):
            module = modules.get(getattr(node.value, "id", None) or "")
            if _private(node.attr, own | (module or set())):
                found.append(f"{where} .{node.attr}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
            "getattr",
            "hasattr",
            "setattr",
        ):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                value = node.args[1].value
                if isinstance(value, str) and _private(value, own):
                    found.append(f"{where} {node.func.id}(..., {value!r})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(_PRIVATE_MODULES):
                found.append(f"{where} {node.value!r}")
    return found


def test_no_private_api_outside_compat() -> None:
    own = _defined_in_package()
    uses = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "compat.py":
            uses += _private_uses(path, own)
    assert not uses, "private names used outside keras3r/compat.py:\n" + "\n".join(uses)


def test_the_scan_finds_a_private_use(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import sys\n"
        "from keras.src.backend import config\n"
        "def f(opt):\n"
        "    core = sys.modules.get('jax._src.core')\n"
        "    return opt._momentums, getattr(opt, '_velocities')\n",
        encoding="utf-8",
    )
    text = "\n".join(_private_uses(source, set(), root=tmp_path))
    assert "keras.src.backend" in text and "jax._src.core" in text
    assert "._momentums" in text and "'_velocities'" in text
