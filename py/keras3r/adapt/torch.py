"""torch's fused optimizer kernels, fed Keras's maths, on the torch backend.

Why: on torch, Keras updates AdamW with `torch._foreach_*` ops that each make
a new list of tensors the size of the model (m * alpha, v's square root plus
epsilon, their quotient, ...): several times the time of
`torch.optim.AdamW(fused=True)` on the same tensors (bench/bench_matrix.py
prints both). torch ships
multi-tensor kernels that read and write every tensor once.

What: an optimizer keras3r builds on the torch backend replaces one layer of
Keras's `apply()`: `_backend_update_step(grads, variables, learning_rate)`,
which Keras calls with the gradients already unscaled (loss scaling),
averaged (gradient accumulation) and clipped, after its own weight decay,
and before its EMA, constraints and iteration counter. All of those stay
Keras's own code; only the update of the slots and variables changes:

  * Adam and AdamW: `torch._fused_adam_`. Keras folds the bias corrections
    into the step size, alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), and
    adds epsilon to sqrt(v) uncorrected ("epsilon hat"). The kernel is given
    alpha as its learning rate and an infinite step count, so that its own
    corrections (1 - beta^inf = 1) drop out and its update is Keras's,
    p -= alpha * m / (sqrt(v) + epsilon); alpha is computed with Keras's ops in
    the variables' dtype, as Keras does. AMSGrad's running maximum is Keras's
    slot. AdamW's decoupled decay is Keras's, applied just before.
  * SGD: `torch._fused_sgd_`. Without momentum the kernel's p -= lr * g is
    Keras's. With momentum Keras keeps the step size inside its buffer,
    b = momentum * b - lr * g, where torch keeps it outside; the kernel is
    given the gradients times lr, `maximize=True` (so it adds -lr * g) and a
    learning rate of -1, which makes its buffer Keras's and its variable
    update p += b (or, Nesterov, p += momentum * b - lr * g).
  * Adagrad: torch's kernel adds epsilon after the square root, Keras inside
    it (sqrt(acc + epsilon)), so no kernel argument expresses it; the update
    is Keras's own sequence of ops done in place, with two temporaries where
    Keras makes five.

The kernels exist for CPU and CUDA: the variables are grouped by device
and dtype, one kernel call a group, with the step count and the rate on the
group's device (this project's tests run on CPU only).

The results equal stock Keras's up to float rounding (the kernels order a
few operations differently). Keras's path is kept, unchanged, wherever the
update cannot be expressed this way: under `torch.compile` (Dynamo traces
Keras's ops) or Keras's `StatelessScope`, gradients that are not dense
contiguous tensors of their variable's dtype, device and shape (a CPU
kernel reads a transposed view as if it were laid out in order), dtypes other than
float32 and float64, settings that are not plain numbers (a beta given as a
tensor or a function), betas outside [0, 1), and a torch release without the
kernel.

Keras's weight decay on torch is one in-place multiply of the decayed
variables by 1 - weight_decay * lr, on the variables Keras's own rule picks
(chosen once and cached, instead of re-reading every variable through its
`value` on every step: on 100 variables that cost as much as the fused update
itself). For Adam and AdamW on the CPU it is folded into the kernel instead:
`torch._fused_adamw_` multiplies each parameter by 1 - lr_k * wd_k before its
update, and with lr_k = alpha it is given wd_k = weight_decay * lr / alpha,
so the factor is Keras's while the weights are read once rather than twice
(a pass of its own over 8M parameters cost a quarter of the fused step:
bench/bench_matrix.py, "torch fused" lines). Elsewhere (CUDA, where reading
alpha back would wait for the device) the multiply stays a pass of its own.
Keras calls its decay before the update; keras3r holds the decay back until
the update, and applies it as Keras would wherever the fused step is not
taken.

Which kernels an optimizer gets is read from a table keyed by Keras's public
classes (`_kernels_by_class()`). What a step needs (each variable's stored
tensor, its slots, the grouping by device and dtype) is worked out once per
list of variables and cached; the cached tensors are checked by identity on
every step, so a variable whose tensor Keras replaced is grouped anew.

The class stays the Keras class and `get_config()` stays Keras's: the new
method is bound on the instance (keras3r.adapt.instance), so a saved file
is a plain Keras optimizer.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keras3r import compat
from keras3r.adapt.instance import bind, method_in_force, new_state, state_of

# Groupings and decay choices kept per optimizer (one per list of variables),
# oldest dropped first.
_MAX_CACHED = 8

# Dtypes whose fused arithmetic matches Keras's to rounding (float16 and
# bfloat16 would be computed in float32 by the kernels, not as Keras does).
_DTYPES = ("float32", "float64")

# One infinite step-count tensor per device: the kernels only read it.
_INFINITE_STEPS: dict[Any, Any] = {}


@dataclass
class _DeviceDtypeGroup:
    """Variables of one device and dtype, with their slots: one kernel call."""

    indices: list[int]  # their positions in the list of variables
    params: list[Any]  # their stored tensors
    slots: dict[str, list[Any]]  # each slot's stored tensors, in the same order
    dtype: str
    device: Any


@dataclass
class _GroupedVariables:
    """One list of variables' stored tensors and their groups, worked out once."""

    variables: list[Any]
    params: list[Any]  # the variables' stored tensors
    groups: list[_DeviceDtypeGroup]
    single_group: bool  # one group, holding every variable in order


@dataclass(frozen=True)
class _Kernels:
    """How one Keras optimizer class's update runs on torch's kernels."""

    # The optimizer's slot lists the update reads and writes; None where one is missing.
    slot_lists: Callable[[Any], dict[str, Any] | None]
    # The update of one group: (optimizer, group, its gradients, learning rate,
    # ids of the stored tensors to decay first or None); False where it cannot run.
    update_group: Callable[[Any, _DeviceDtypeGroup, list[Any], Any, set[int] | None], bool]
    # Whether Keras's weight decay is held back until the update, which folds
    # it into the kernel (its set of ids is None for the other classes).
    folds_decay: bool


@dataclass
class FusedUpdate:
    """One optimizer's fused update: its kernels, Keras's own methods, counters, cache."""

    kernels: _Kernels
    keras_update: Callable[..., Any]
    keras_decay: Callable[..., Any] | None
    counts: dict[str, int] = field(default_factory=lambda: {"fused": 0, "keras": 0})
    # Variables whose weight decay Keras asked for in this step, held back to
    # be folded into the Adam kernel (or applied as Keras would before its path).
    pending_decay: list[Any] | None = None
    # Groupings (_GroupedVariables) and decay choices, by the ids they depend on.
    cached: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict)

    def remember(self, key: tuple[Any, ...], value: Any) -> None:
        self.cached[key] = value
        while len(self.cached) > _MAX_CACHED:
            self.cached.popitem(last=False)


def _plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _infinite_step(device: Any) -> Any:
    import torch

    step = _INFINITE_STEPS.get(device)
    if step is None:
        step = torch.full((), math.inf, dtype=torch.float32, device=device)
        _INFINITE_STEPS[device] = step
    return step


def _all_present(slots: dict[str, Any]) -> dict[str, Any] | None:
    return None if any(s is None for s in slots.values()) else slots


def _adam_slots(opt: Any) -> dict[str, Any] | None:
    slots = {"m": compat.momentums(opt), "v": compat.velocities(opt)}
    if opt.amsgrad:
        slots["v_hat"] = compat.amsgrad_maxima(opt)
    return _all_present(slots)


def _sgd_slots(opt: Any) -> dict[str, Any] | None:
    return _all_present({"momentum": opt.momentums} if opt.momentum != 0 else {})


def _adagrad_slots(opt: Any) -> dict[str, Any] | None:
    return _all_present({"sum": compat.adagrad_accumulators(opt)})


def _group_variables(
    opt: Any, variables: list[Any], slot_lists: dict[str, Any]
) -> _GroupedVariables | None:
    import torch

    params = compat.read_stored(variables)
    slots: dict[str, list[Any]] = {}
    for name, slot_list in slot_lists.items():
        try:
            chosen = [slot_list[compat.variable_index(opt, v)] for v in variables]
        except (IndexError, KeyError):
            return None  # a setting changed after build: Keras's path raises its own error
        if any(s is None for s in chosen):
            return None
        slots[name] = compat.read_stored(chosen)
    groups: dict[tuple[Any, Any], _DeviceDtypeGroup] = {}
    for i, param in enumerate(params):
        if not isinstance(param, torch.Tensor) or _dtype_name(param) not in _DTYPES:
            return None
        if not param.is_contiguous() or any(not slots[n][i].is_contiguous() for n in slots):
            return None
        group = groups.get((param.device, param.dtype))
        if group is None:
            group = _DeviceDtypeGroup(
                [], [], {n: [] for n in slots}, _dtype_name(param), param.device
            )
            groups[(param.device, param.dtype)] = group
        group.indices.append(i)
        group.params.append(param)
        for name, stored in slots.items():
            group.slots[name].append(stored[i])
    return _GroupedVariables(list(variables), params, list(groups.values()), len(groups) == 1)


def _cached_groups(opt: Any, state: FusedUpdate, variables: list[Any]) -> _GroupedVariables | None:
    slot_lists = state.kernels.slot_lists(opt)
    if slot_lists is None:
        return None
    key = (tuple(map(id, variables)), tuple(id(s) for s in slot_lists.values()))
    grouped = state.cached.get(key)
    if grouped is not None and all(
        a is b for a, b in zip(compat.read_stored(variables), grouped.params)
    ):
        return grouped
    grouped = _group_variables(opt, variables, slot_lists)
    if grouped is not None:
        state.remember(key, grouped)
    return grouped


def _grads_fit(grads: Sequence[Any], params: Sequence[Any]) -> bool:
    """Whether each gradient is dense, contiguous, of its variable's dtype, device, shape."""
    import torch

    strided = torch.strided
    for grad, param in zip(grads, params):
        if (
            not isinstance(grad, torch.Tensor)
            or grad.dtype is not param.dtype
            or grad.layout is not strided
            or not grad.is_contiguous()  # the kernels read memory in order, strides unseen
            or grad.shape != param.shape
            or grad.device != param.device
        ):
            return False
    return True


def _rate_on(value: Any, device: Any) -> Any:
    import torch

    value = value.value if hasattr(value, "value") else value
    if isinstance(value, torch.Tensor):
        return value if value.device == device else value.to(device)
    return torch.tensor(float(value), dtype=torch.float32, device=device)


def _decay_factor(opt: Any) -> Any:
    """Keras's weight-decay factor on torch, 1 - weight_decay * lr, as Keras computes it."""
    return 1 - opt.weight_decay * opt.learning_rate


def _multiply_decay(opt: Any, stored: list[Any]) -> None:
    """Keras's weight decay on torch: each tensor times its factor, in place."""
    multiply = compat.torch_foreach("mul_")
    if stored and multiply is not None:
        multiply(stored, _decay_factor(opt))


def _adam(
    opt: Any,
    group: _DeviceDtypeGroup,
    grads: list[Any],
    learning_rate: Any,
    decayed: set[int] | None,
) -> bool:
    """Adam/AdamW's update of one group; `decayed`: ids of the stored tensors to decay first."""
    from keras import ops

    kernel = compat.torch_fused_kernel("adam")
    beta_1, beta_2, epsilon = opt.beta_1, opt.beta_2, opt.epsilon
    if kernel is None or not all(_plain_number(x) for x in (beta_1, beta_2, epsilon)):
        return False
    if not (0 <= beta_1 < 1 and 0 <= beta_2 < 1 and epsilon >= 0):
        return False
    # Keras's own step size, op for op as its torch Adam computes it.
    name = group.dtype
    lr = ops.cast(learning_rate, name)
    local_step = ops.cast(opt.iterations + 1, name)
    beta_1_power = ops.power(ops.cast(beta_1, name), local_step)
    beta_2_power = ops.power(ops.cast(beta_2, name), local_step)
    alpha = _rate_on(lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power), group.device)
    slots = [group.slots["m"], group.slots["v"], group.slots.get("v_hat", [])]
    parts = [(list(range(len(grads))), kernel, 0.0)]
    chosen = [] if decayed is None else [i for i, p in enumerate(group.params) if id(p) in decayed]
    if chosen:
        folding = compat.torch_fused_kernel("adamw")
        if group.device.type != "cpu" or folding is None or float(alpha) == 0:
            # Keras's own multiply, a pass of its own, before the update.
            _multiply_decay(opt, [group.params[i] for i in chosen])
        else:
            # The kernel's factor 1 - alpha * wd_k is Keras's 1 - weight_decay * lr,
            # computed as Keras computes it (in the rate's dtype: float32 rounds
            # it, and the weights must see the same rounding).
            factor = float(_decay_factor(opt))
            wd_k = (1 - factor) / float(alpha)
            rest = [i for i in range(len(grads)) if id(group.params[i]) not in decayed]
            parts = [(chosen, folding, wd_k), (rest, kernel, 0.0)]
    for indices, run, weight_decay in parts:
        if not indices:
            continue
        every_index = len(indices) == len(grads)
        run(
            *(
                xs if every_index or not xs else [xs[i] for i in indices]
                for xs in (group.params, grads, *slots)
            ),
            [_infinite_step(group.device)] * len(indices),
            lr=alpha,
            beta1=float(beta_1),
            beta2=float(beta_2),
            weight_decay=weight_decay,
            eps=float(epsilon),
            amsgrad="v_hat" in group.slots,
            maximize=False,
        )
    return True


def _sgd(
    opt: Any,
    group: _DeviceDtypeGroup,
    grads: list[Any],
    learning_rate: Any,
    _decayed: set[int] | None,
) -> bool:
    kernel = compat.torch_fused_kernel("sgd")
    scale = compat.torch_foreach("mul")
    momentum = opt.momentum
    if kernel is None or scale is None or not _plain_number(momentum):
        return False
    # Keras uses the rate as given here (not cast to the variables' dtype).
    lr = _rate_on(learning_rate, group.device)
    if momentum == 0:
        # Keras: p += -lr * g.
        kernel(
            group.params, grads, [], weight_decay=0.0, momentum=0.0, lr=lr,
            dampening=0.0, nesterov=False, maximize=False, is_first_step=False,
        )  # fmt: skip
        return True
    # Keras: b = momentum * b - lr * g; p += b, or p += momentum * b - lr * g.
    kernel(
        group.params, scale(grads, lr), group.slots["momentum"], weight_decay=0.0,
        momentum=float(momentum), lr=-1.0, dampening=0.0, nesterov=bool(opt.nesterov),
        maximize=True, is_first_step=False,
    )  # fmt: skip
    return True


_ADAGRAD_OPS = ("addcmul_", "add", "sqrt_", "mul", "div_", "sub_")


def _adagrad(
    opt: Any,
    group: _DeviceDtypeGroup,
    grads: list[Any],
    learning_rate: Any,
    _decayed: set[int] | None,
) -> bool:
    from keras import ops

    foreach = {name: compat.torch_foreach(name) for name in _ADAGRAD_OPS}
    epsilon = opt.epsilon
    if any(f is None for f in foreach.values()) or not _plain_number(epsilon):
        return False
    sums = group.slots["sum"]
    # Keras: acc += g * g; p -= (g * lr) / sqrt(acc + epsilon).
    foreach["addcmul_"](sums, grads, grads)
    denominators = foreach["add"](sums, epsilon)
    foreach["sqrt_"](denominators)
    steps = foreach["mul"](grads, _rate_on(ops.cast(learning_rate, group.dtype), group.device))
    foreach["div_"](steps, denominators)
    foreach["sub_"](group.params, steps)
    return True


_ADAM = _Kernels(_adam_slots, _adam, folds_decay=True)


@functools.cache
def _kernels_by_class() -> dict[type, _Kernels]:
    """The kernels of each Keras class that has them (read once: Keras loads lazily)."""
    import keras

    return {
        keras.optimizers.AdamW: _ADAM,
        keras.optimizers.Adam: _ADAM,
        keras.optimizers.SGD: _Kernels(_sgd_slots, _sgd, folds_decay=False),
        keras.optimizers.Adagrad: _Kernels(_adagrad_slots, _adagrad, folds_decay=False),
    }


def _kernels_for(optimizer: Any) -> _Kernels | None:
    """The kernels of Keras's own torch class for AdamW, Adam, SGD or Adagrad; else None.

    Keras's torch classes derive from the public class directly; a user's
    subclass of one does not, and may have changed the update, so it keeps
    Keras's path.
    """
    table = _kernels_by_class()
    for base in type(optimizer).__bases__:
        if base in table:
            return table[base]
    return None


def _keras_path_required() -> bool:
    import torch

    return bool(torch.compiler.is_compiling()) or compat.in_stateless_scope()


def _fused_step(
    opt: Any,
    state: FusedUpdate,
    grads: list[Any],
    variables: list[Any],
    rate: Any,
    pending_decay: list[Any] | None,
) -> bool:
    """The update through the kernels; False, having changed nothing, where it cannot be.

    `pending_decay`: the variables whose weight decay Keras asked for in this
    step (Adam and AdamW only), applied here, folded into the kernel where it can be.
    """
    import torch

    if len(grads) != len(variables) or _keras_path_required():
        return False  # Keras's path raises its own error for mismatched lists
    grouped = _cached_groups(opt, state, variables)
    if grouped is None or not _grads_fit(grads, grouped.params):
        return False
    decayed = None
    if pending_decay is not None:
        decayed = set(map(id, _decayed(opt, state, pending_decay)))
    with torch.no_grad():
        for n, group in enumerate(grouped.groups):
            group_grads = grads if grouped.single_group else [grads[i] for i in group.indices]
            done = state.kernels.update_group(opt, group, group_grads, rate, decayed)
            if not done:
                if n == 0:
                    return False
                # Settings are checked before any kernel runs, so only the
                # first group can refuse; a later refusal would leave the
                # update half done.
                raise RuntimeError("keras3r: a fused torch update stopped after its first group")
    return True


def _decayed(opt: Any, state: FusedUpdate, variables: list[Any]) -> list[Any]:
    """The stored tensors of the variables Keras's own rule decays, chosen once."""
    key = ("decay", tuple(map(id, variables)))
    stored = compat.read_stored(variables)
    cached = state.cached.get(key)
    if cached is not None and all(a is b for a, b in zip(stored, cached[0])):
        return cached[1]
    decayed = [s for v, s in zip(variables, stored) if compat.uses_weight_decay(opt, v)]
    state.remember(key, (stored, decayed, list(variables)))
    return decayed


def _fused_state(optimizer: Any) -> FusedUpdate:
    state = state_of(optimizer)
    assert state is not None and state.fused_update is not None
    return state.fused_update


def attach(optimizer: Any) -> Any:
    """Give a Keras AdamW, Adam, SGD or Adagrad on torch the fused update; returns it."""
    adapter = new_state(optimizer)
    if adapter.fused_update is not None:
        return optimizer
    kernels = _kernels_for(optimizer)
    if kernels is None or not callable(getattr(optimizer, compat.BACKEND_UPDATE_STEP, None)):
        return optimizer
    has_decay = callable(getattr(optimizer, compat.APPLY_WEIGHT_DECAY, None))
    adapter.fused_update = FusedUpdate(
        kernels,
        method_in_force(optimizer, compat.BACKEND_UPDATE_STEP),
        method_in_force(optimizer, compat.APPLY_WEIGHT_DECAY) if has_decay else None,
    )

    def backend_update_step(
        self: Any, grads: Sequence[Any], trainable_variables: Sequence[Any], learning_rate: Any
    ) -> None:
        state = _fused_state(self)
        pending, state.pending_decay = state.pending_decay, None
        variables = list(trainable_variables)
        if _fused_step(self, state, list(grads), variables, learning_rate, pending):
            state.counts["fused"] += 1
            return
        if pending is not None:
            import torch

            # Not fused after all: the decay Keras asked for, as Keras does it, first.
            with torch.no_grad():
                _multiply_decay(self, _decayed(self, state, pending))
        state.counts["keras"] += 1
        state.keras_update(self, grads, trainable_variables, learning_rate)

    def apply_weight_decay(self: Any, variables: Sequence[Any]) -> None:
        import torch

        state = _fused_state(self)
        multiply = compat.torch_foreach("mul_")
        if self.weight_decay is None or multiply is None or _keras_path_required():
            assert state.keras_decay is not None
            state.keras_decay(self, variables)
            return
        folds = state.kernels.folds_decay
        if folds and _plain_number(self.weight_decay) and self.weight_decay == 0:
            return  # Keras multiplies by exactly 1: nothing changes
        if folds and _plain_number(self.weight_decay):
            # Held back until the update, which folds it into the kernel
            # (or applies it first where the step is not fused).
            state.pending_decay = list(variables)
            return
        with torch.no_grad():
            # Keras's op on torch: every decayed variable times 1 - wd * lr.
            _multiply_decay(self, _decayed(self, state, list(variables)))

    bind(optimizer, compat.BACKEND_UPDATE_STEP, backend_update_step)
    if has_decay:
        bind(optimizer, compat.APPLY_WEIGHT_DECAY, apply_weight_decay)
    return optimizer


def stats(optimizer: Any) -> dict[str, int]:
    """How many updates took the fused path and how many Keras's (empty if not adapted)."""
    state = state_of(optimizer)
    fused = None if state is None else state.fused_update
    return dict(fused.counts) if fused is not None else {}
