"""The process-wide cache of compiled updates shared between optimizers of one sharing key.

A sweep of models of one shape (cross-validation folds, a grid of learning
rates) then compiles once, and TensorFlow's XLA cache, which keeps every
function it compiled for the life of the process, gets one executable per
key instead of one per optimizer (keras3r.adapt.sharing_key says what the
key holds). Each entry holds compiled code and, on TensorFlow, the traced
graph; the optimizer it was traced with is not kept (its closure is emptied
after tracing), so an entry pins no optimizer and no variable's memory. The
least recently used entry goes first beyond _MAX_SHARED.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

_MAX_SHARED = 16
_SHARED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def shared_get(key: tuple[Any, ...]) -> Any:
    """The shared compiled update for this key, or None (marks it recently used)."""
    entry = _SHARED.get(key)
    if entry is not None:
        _SHARED.move_to_end(key)
    return entry


def shared_put(key: tuple[Any, ...], entry: Any) -> None:
    """Share `entry` for this key, dropping the least recently used beyond _MAX_SHARED."""
    _SHARED[key] = entry
    while len(_SHARED) > _MAX_SHARED:
        _SHARED.popitem(last=False)


def shared_drop(key: tuple[Any, ...]) -> None:
    """Forget a shared update whose first call failed."""
    _SHARED.pop(key, None)


def shared_count() -> int:
    """How many shared updates the process holds (for tests of long sessions)."""
    return len(_SHARED)
