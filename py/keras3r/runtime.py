"""Behaviour keras3r gives each optimizer it builds, beyond plain Keras.

Everything here acts on the one instance that a keras3r function returns: the
class stays the Keras class and `get_config()` stays Keras's, so a model saved
with a keras3r optimizer loads in plain Keras without keras3r.
"""

from __future__ import annotations

from typing import Any


def prepare(obj: Any) -> Any:
    """Called by keras3r.build on every object it builds; returns the object."""
    return obj
