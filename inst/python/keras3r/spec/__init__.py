"""The single source of truth: every keras3r function, as data.

`SPECS` maps each function name to its `FunctionSpec`, in the alphabetical
order of keras3 R's reference index.
"""

from keras3r.spec.model import REQUIRED, Arg, FunctionSpec
from keras3r.spec.multi import MULTI_SPECS
from keras3r.spec.newest import NEWEST
from keras3r.spec.optimizers import OPTIMIZERS
from keras3r.spec.schedules import SCHEDULES


def _index_key(spec: FunctionSpec) -> str:
    # keras3's index sorts as R does in an English locale, where "_" does not
    # count: optimizer_adamax comes before optimizer_adam_w.
    return spec.name.replace("_", "")


SPECS: dict[str, FunctionSpec] = {
    spec.name: spec for spec in sorted(OPTIMIZERS + NEWEST + MULTI_SPECS, key=_index_key) + list(SCHEDULES)
}


def family_of(spec: FunctionSpec) -> list[str]:
    """The other members of spec's family, in SPECS order: its see-also list."""
    return [s.name for s in SPECS.values() if s.family == spec.family and s is not spec]


__all__ = ["REQUIRED", "SPECS", "Arg", "FunctionSpec", "family_of"]
