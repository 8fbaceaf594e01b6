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
Keras's own code; only the update of the slots and variables changes, going
through torch's multi-tensor kernels for Adam, AdamW, SGD and Adagrad
(keras3r.adapt.torch_kernels: which kernel, and why its result is Keras's).

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

Keras's weight decay is held back until the update, which folds it into
the Adam kernel where it can (keras3r.adapt.torch_kernels), and applied as
Keras would wherever the fused step is not taken. The variables Keras's
own rule decays are chosen once and cached, instead of re-reading every
variable through its `value` on every step (on 100 variables that cost as
much as the fused update itself).

Which kernels an optimizer gets is read from a table keyed by Keras's public
classes (torch_kernels.kernels_for()). What a step needs (each variable's stored
tensor, its slots, the grouping by device and dtype) is worked out once per
list of variables and cached; the cached tensors are checked by identity on
every step, so a variable whose tensor Keras replaced is grouped anew.

The class stays the Keras class and `get_config()` stays Keras's: the new
method is bound on the instance (keras3r.adapt.instance), so a saved file
is a plain Keras optimizer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keras3r import compat
from keras3r.adapt.instance import bind, method_in_force, new_state, state_of
from keras3r.adapt.torch_kernels import (
    DeviceDtypeGroup,
    Kernels,
    kernels_for,
    multiply_decay,
    plain_number,
)

# Groupings and decay choices kept per optimizer (one per list of variables),
# oldest dropped first.
_MAX_CACHED = 8

# Dtypes whose fused arithmetic matches Keras's to rounding (float16 and
# bfloat16 would be computed in float32 by the kernels, not as Keras does).
_DTYPES = ("float32", "float64")

@dataclass
class _GroupedVariables:
    """One list of variables' stored tensors and their groups, worked out once."""

    variables: list[Any]
    params: list[Any]  # the variables' stored tensors
    groups: list[DeviceDtypeGroup]
    single_group: bool  # one group, holding every variable in order


@dataclass
class FusedUpdate:
    """One optimizer's fused update: its kernels, Keras's own methods, counters, cache."""

    kernels: Kernels
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


def _dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")


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
    groups: dict[tuple[Any, Any], DeviceDtypeGroup] = {}
    for i, param in enumerate(params):
        if not isinstance(param, torch.Tensor) or _dtype_name(param) not in _DTYPES:
            return None
        if not param.is_contiguous() or any(not slots[n][i].is_contiguous() for n in slots):
            return None
        group = groups.get((param.device, param.dtype))
        if group is None:
            group = DeviceDtypeGroup(
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
    kernels = kernels_for(optimizer)
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
                multiply_decay(self, _decayed(self, state, pending))
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
        if folds and plain_number(self.weight_decay) and self.weight_decay == 0:
            return  # Keras multiplies by exactly 1: nothing changes
        if folds and plain_number(self.weight_decay):
            # Held back until the update, which folds it into the kernel
            # (or applies it first where the step is not fused).
            state.pending_decay = list(variables)
            return
        with torch.no_grad():
            # Keras's op on torch: every decayed variable times 1 - wd * lr.
            multiply_decay(self, _decayed(self, state, list(variables)))

    bind(optimizer, compat.BACKEND_UPDATE_STEP, backend_update_step)
    if has_decay:
        bind(optimizer, compat.APPLY_WEIGHT_DECAY, apply_weight_decay)
    return optimizer


def stats(optimizer: Any) -> dict[str, int]:
    """How many updates took the fused path and how many Keras's (empty if not adapted)."""
    state = state_of(optimizer)
    fused = None if state is None else state.fused_update
    return dict(fused.counts) if fused is not None else {}

