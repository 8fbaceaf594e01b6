"""The single source of truth: every keras3r function, as data.

`SPECS` maps each function name to its `FunctionSpec`, in the alphabetical
order of keras3 R's reference index.
"""

from keras3r.spec.model import REQUIRED, Arg, FunctionSpec
from keras3r.spec.optimizers import OPTIMIZERS
from keras3r.spec.schedules import SCHEDULES

SPECS: dict[str, FunctionSpec] = {spec.name: spec for spec in OPTIMIZERS + SCHEDULES}

__all__ = ["REQUIRED", "SPECS", "Arg", "FunctionSpec"]
