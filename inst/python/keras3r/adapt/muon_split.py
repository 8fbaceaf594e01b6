"""Muon's split between its own step and AdamW must survive saving and loading.

Keras's Muon decides, once, when it is built, which variables get its
orthogonalized step and which get AdamW: every variable that is not 2-D, every
one whose path contains "embedding" (with `exclude_embeddings`), and every one
whose path matches a regular expression of `exclude_layers` (`re.search`).
Only the AdamW variables get a `velocity` slot. A saved model keeps the
optimizer's slots in order; loading builds the optimizer again on the loaded
model and decides the split again, from the paths that the *loaded* variables
have. Those are not always the paths of training: a layer built inside a
model's name scope (every layer of a Sequential model) gets the model's name in
front (`net/out/kernel`), and its loaded copy is built outside it
(`out/kernel`). An `exclude_layers` pattern that matches one form and not the
other (`"^out/"`, `"net/out"`) changes the number of slots: Keras then skips
loading every optimizer variable, with only a warning, and training goes on
from fresh moments.

The file must load in plain Keras, so keras3r does not change the split; it
checks, when the optimizer is built, that each variable gets the same step
under the path it has now and the path it will have after loading, and
refuses to build otherwise, naming the variable, both paths and a pattern
that works. The paths after loading come from `keras3r.adapt.routing`, which checks
the same property for a multi optimizer's patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from keras3r import compat
from keras3r.adapt.routing import check_on_build, later_paths, model_names, refuse


@dataclass(frozen=True)
class _Path:
    """What Muon's own rule reads of a variable: its path and its shape."""

    path: str
    shape: tuple[int, ...]


def is_muon(obj: Any) -> bool:
    from keras.optimizers import Muon

    return isinstance(obj, Muon)


def attach(optimizer: Any) -> Any:
    """Make a Muon optimizer check, when built, that its split survives loading; return it.

    Its class and config stay Keras's.
    """
    return check_on_build(optimizer, check_split)


def _step(uses_adamw: bool) -> str:
    return "AdamW's step" if uses_adamw else "Muon's own step"


def check_split(optimizer: Any, var_list: list[Any], model: Any) -> None:
    """Raise RoutingError for a variable that gets the other step after loading."""
    names = model_names(model) if model is not None else None
    for variable in var_list:
        path = variable.path
        shape = tuple(variable.shape)
        # Keras's own rule, so that the check cannot drift from what Keras does.
        now = compat.muon_uses_adamw(optimizer, variable)
        for other in later_paths(path, names):
            then = compat.muon_uses_adamw(optimizer, _Path(other, shape))
            if then == now:
                continue
            layer = other.split("/")[0]
            sure = names is not None
            message = (
                f"optimizer_muon(): the variable {path!r} gets {_step(now)}, but once the "
                f"model is saved and loaded its path {'is' if sure else 'can be'} "
                f"{other!r}, which gets {_step(then)}: the loaded optimizer would not "
                "match its saved state, and Keras would drop that state. Write the "
                "`exclude_layers` patterns so that they match the layer's name wherever "
                "it stands in the path, without '^' or the model's name, such as "
                f"{'(^|/)' + re.escape(layer) + '/'!r}."
            )
            refuse(message, sure)
            return
