"""Which old buffers keras3r's JAX update may donate, so that XLA writes in place.

The old buffers of the optimizer's slots and of the variables are donated to
the update, so XLA writes the new values in place, as Keras's own trainer
does (without donation XLA writes a fresh output buffer per array per step:
bench/README.md). Donation deletes the old buffer, so it is done only where
nothing but the variable can still read it; each way of holding a buffer is
ruled out by a test that sees it exactly (`donatable_groups`):
  * a Python reference to the array itself (`v.value` kept, in a list, a
    closure, another variable assigned from it): `sys.getrefcount`;
  * another `jax.Array` over the same device buffer (`jax.device_put` to the
    same device, a shard's `.data`, `make_array_from_single_device_arrays`,
    the per-device view that NumPy and DLPack exports keep), which holds no
    reference to the first: the buffer addresses of the live JAX arrays made
    after the oldest array to donate (an alias is always younger than its
    array; JAX lists live arrays newest first, which is checked on every call
    and else every live array is looked at);
  * memory outside JAX (a NumPy view of a CPU buffer, a DLPack consumer such
    as torch) is also an external reference on the buffer, which the runtime
    itself refuses to donate (measured on CPU: the update then writes a new
    buffer and the view keeps its values; on a GPU `np.asarray` copies).
tests/python/with_jax/test_donation.py holds a buffer each of these ways.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Sequence
from typing import Any

from keras3r import compat


def _most_references(values: Sequence[Any]) -> int:
    """The largest reference count among `values`, or -1 when one appears twice.

    Built-ins mapped over the list (no Python loop): with 300 values a step
    this bookkeeping is a visible share of a small update.
    """
    if len(set(map(id, values))) != len(values):
        return -1
    return max(map(sys.getrefcount, values), default=0)


def _sole_holder_references() -> int:
    """What `_most_references` reads for a value that one other object holds.

    Measured rather than assumed: the count includes the interpreter's own
    temporary references, which differ between Python versions.
    """
    holder = [object()]  # stands for the variable
    return _most_references([holder[0]])


_SOLE_HOLDER_REFERENCES = _sole_holder_references()


def _donatable(values: Sequence[Any]) -> bool:
    """True when no Python object but its variable references each array."""
    most = _most_references(values)
    return 0 <= most <= _SOLE_HOLDER_REFERENCES


_ADDRESS = operator.methodcaller("unsafe_buffer_pointer")


def _younger_arrays(candidates: list[Any]) -> list[Any] | None:
    """The live JAX arrays made after the oldest of `candidates`, less the candidates.

    JAX lists live arrays newest first. A probe made just before the list is
    taken (the first candidate's per-device view, new unless something read
    that array before) must come first: if not, the order cannot be told and
    every live array but the candidates is returned. None when a candidate
    is not among the live arrays of the default backend.
    """
    import jax

    probe = compat.jax_device_arrays(candidates[0])[0]
    live = jax.live_arrays()
    ids = set(map(id, candidates))
    if not live or live[0] is not probe or probe is candidates[0]:
        younger = [a for a in live if id(a) not in ids]
        return younger if len(live) - len(younger) == len(ids) else None
    younger = []
    remaining = len(ids)
    for array in live[1:]:  # the probe is new: nobody else can hold it
        if id(array) in ids:
            remaining -= 1
            if not remaining:
                return younger
        else:
            younger.append(array)
    return None


def _buffers(arrays: list[Any]) -> dict[int, list[Any]]:
    """The arrays using each device buffer, keyed by the buffer's address."""
    users: dict[int, list[Any]] = {}
    for array in arrays:
        try:
            views = compat.jax_device_arrays(array)
            for address in map(_ADDRESS, views):
                users.setdefault(address, []).append(array)
        except Exception:  # deleted meanwhile: it holds no buffer any more
            continue
    return users


def _references_of_a_kept_view() -> int:
    """`sys.getrefcount` of an array's per-device view that only the array keeps.

    Measured on a fresh array, once: the count includes JAX's own cache and
    the interpreter's temporaries, which differ between versions.
    """
    if not _KEPT_VIEW_REFERENCES:
        import jax.numpy as jnp

        fresh = jnp.zeros(2) + 1
        view = compat.jax_device_arrays(fresh)[0]
        _KEPT_VIEW_REFERENCES.append(sys.getrefcount(view))
    return _KEPT_VIEW_REFERENCES[0]


_KEPT_VIEW_REFERENCES: list[int] = []


def _used_by_itself_alone(array: Any, users: dict[int, list[Any]]) -> bool:
    """No younger array uses `array`'s buffer, but its own per-device view kept by it alone.

    Such a view exists once something read the array (`np.asarray`,
    `block_until_ready`). Besides the array's cache it is referenced here by
    the list of younger arrays and by `users`: two references of this
    module's own.
    """
    others = users.get(_ADDRESS(array))
    if not others:
        return True
    if len(others) > 1:
        return False
    view = compat.jax_device_arrays(array)[0]
    return others[0] is view and sys.getrefcount(view) <= _references_of_a_kept_view() + 2


def donatable_groups(groups: Sequence[Sequence[Any]]) -> list[bool]:
    """For each group of arrays, whether all of its buffers may be donated.

    A buffer may be donated when nothing but its variable can read it (see
    the module docstring): no Python reference to its array but the
    variable's, and no other JAX array over the same device buffer. Anything
    unexpected (a JAX without per-device views, an array of several shards,
    one on another backend) answers False: the update is then only not in
    place. Reference counts are read first: the list of live arrays
    references every array.
    """
    verdicts = [_donatable(group) for group in groups]
    if not any(verdicts):
        return verdicts
    try:
        candidates = [a for group, on in zip(groups, verdicts) if on for a in group]
        younger = _younger_arrays(candidates)
        if younger is None:
            return [False] * len(groups)
        if not younger:
            return verdicts
        users = _buffers(younger)
        return [
            on and all(_used_by_itself_alone(a, users) for a in group)
            for group, on in zip(groups, verdicts)
        ]
    except Exception:
        return [False] * len(groups)
