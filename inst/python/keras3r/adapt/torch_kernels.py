"""How torch's fused kernels compute Keras's update, for each Keras class that has one.

keras3r.adapt.torch decides when the fused update runs and on which tensors;
this module holds the kernel calls, one function per Keras class, and the
table that picks them by Keras's public class (`kernels_for()`). Each one
updates one group of variables of one device and dtype, and why its result
is Keras's:

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

Keras's weight decay on torch is one in-place multiply of the decayed
variables by 1 - weight_decay * lr, on the variables Keras's own rule picks
(keras3r.adapt.torch chooses them once). For Adam and AdamW on the CPU it is
folded into the kernel instead: `torch._fused_adamw_` multiplies each
parameter by 1 - lr_k * wd_k before its update, and with lr_k = alpha it is
given wd_k = weight_decay * lr / alpha, so the factor is Keras's while the
weights are read once rather than twice (a pass of its own over 8M
parameters cost a quarter of the fused step: bench/bench_matrix.py, "torch
fused" lines). Elsewhere (CUDA, where reading alpha back would wait for the
device) the multiply stays a pass of its own. Keras calls its decay before
the update; keras3r holds the decay back until the update, and applies it as
Keras would wherever the fused step is not taken.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keras3r import compat

# One infinite step-count tensor per device: the kernels only read it.
_INFINITE_STEPS: dict[Any, Any] = {}


@dataclass
class DeviceDtypeGroup:
    """Variables of one device and dtype, with their slots: one kernel call."""

    indices: list[int]  # their positions in the list of variables
    params: list[Any]  # their stored tensors
    slots: dict[str, list[Any]]  # each slot's stored tensors, in the same order
    dtype: str
    device: Any



@dataclass(frozen=True)
class Kernels:
    """How one Keras optimizer class's update runs on torch's kernels."""

    # The optimizer's slot lists the update reads and writes; None where one is missing.
    slot_lists: Callable[[Any], dict[str, Any] | None]
    # The update of one group: (optimizer, group, its gradients, learning rate,
    # ids of the stored tensors to decay first or None); False where it cannot run.
    update_group: Callable[[Any, DeviceDtypeGroup, list[Any], Any, set[int] | None], bool]
    # Whether Keras's weight decay is held back until the update, which folds
    # it into the kernel (its set of ids is None for the other classes).
    folds_decay: bool



def plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)



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



def _rate_on(value: Any, device: Any) -> Any:
    import torch

    value = value.value if hasattr(value, "value") else value
    if isinstance(value, torch.Tensor):
        return value if value.device == device else value.to(device)
    return torch.tensor(float(value), dtype=torch.float32, device=device)


def _decay_factor(opt: Any) -> Any:
    """Keras's weight-decay factor on torch, 1 - weight_decay * lr, as Keras computes it."""
    return 1 - opt.weight_decay * opt.learning_rate


def multiply_decay(opt: Any, stored: list[Any]) -> None:
    """Keras's weight decay on torch: each tensor times its factor, in place."""
    multiply = compat.torch_foreach("mul_")
    if stored and multiply is not None:
        multiply(stored, _decay_factor(opt))


def _adam(
    opt: Any,
    group: DeviceDtypeGroup,
    grads: list[Any],
    learning_rate: Any,
    decayed: set[int] | None,
) -> bool:
    """Adam/AdamW's update of one group; `decayed`: ids of the stored tensors to decay first."""
    from keras import ops

    kernel = compat.torch_fused_kernel("adam")
    beta_1, beta_2, epsilon = opt.beta_1, opt.beta_2, opt.epsilon
    if kernel is None or not all(plain_number(x) for x in (beta_1, beta_2, epsilon)):
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
            multiply_decay(opt, [group.params[i] for i in chosen])
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
    group: DeviceDtypeGroup,
    grads: list[Any],
    learning_rate: Any,
    _decayed: set[int] | None,
) -> bool:
    kernel = compat.torch_fused_kernel("sgd")
    scale = compat.torch_foreach("mul")
    momentum = opt.momentum
    if kernel is None or scale is None or not plain_number(momentum):
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
    group: DeviceDtypeGroup,
    grads: list[Any],
    learning_rate: Any,
    _decayed: set[int] | None,
) -> bool:
    from keras import ops

    foreach = {name: compat.torch_foreach(name) for name in _ADAGRAD_OPS}
    epsilon = opt.epsilon
    if any(f is None for f in foreach.values()) or not plain_number(epsilon):
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


_ADAM = Kernels(_adam_slots, _adam, folds_decay=True)


@functools.cache
def _kernels_by_class() -> dict[type, Kernels]:
    """The kernels of each Keras class that has them (read once: Keras loads lazily)."""
    import keras

    return {
        keras.optimizers.AdamW: _ADAM,
        keras.optimizers.Adam: _ADAM,
        keras.optimizers.SGD: Kernels(_sgd_slots, _sgd, folds_decay=False),
        keras.optimizers.Adagrad: Kernels(_adagrad_slots, _adagrad, folds_decay=False),
    }


def kernels_for(optimizer: Any) -> Kernels | None:
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
