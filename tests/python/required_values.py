"""A valid value for each required argument of the family's schedules.

The tests that call every function at its defaults give these where R has no
default.
"""

from __future__ import annotations

from typing import Any

REQUIRED_VALUES: dict[str, Any] = {
    "initial_learning_rate": 0.1,
    "decay_steps": 100,
    "first_decay_steps": 100,
    "decay_rate": 0.5,
    "boundaries": [10, 20],
    "values": [0.1, 0.01, 0.001],
}
