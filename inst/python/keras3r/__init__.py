"""keras3r: the optimizers and learning-rate schedules of keras3 R, from Python.

Every function has keras3 R's exact signature and defaults, checks its
arguments, and returns a plain Keras 3 object.
"""

from typing import TYPE_CHECKING, Any

from keras3r import for_r  # noqa: F401  (what the R package calls)

# Helpers beside the generated family (not in __all__, which lists exactly the
# spec's functions): keras3r's behaviour on an optimizer that Keras made,
# schedule-free AdamW's averaged weights, the way back to stock Keras, and the
# checks of Keras's base optimizer arguments for optimizers of the user's own.
from keras3r.adapt import adapt_optimizer, plain  # noqa: F401
from keras3r.build import check_optimizer_arguments  # noqa: F401
from keras3r.schedule_free import (  # noqa: F401
    callback_swap_schedule_free_weights,
    schedule_free_averaged_weights,
    schedule_free_weights_in_model,
    swap_schedule_free_weights,
    with_schedule_free_averaged_weights,
)
from keras3r.spec import SPECS

if TYPE_CHECKING:
    from keras3r.family import *  # noqa: F403

# The version of the Python and the R package: pyproject.toml reads it from
# here (a plain string literal, which setuptools reads without importing
# keras3r), and DESCRIPTION's Version must equal it (test_packaging.py).
__version__ = "0.1.0"

# One function per spec entry, generated into keras3r.family. They are read
# from there on first use (PEP 562), not at import: tools/generate.py imports
# keras3r's spec and docs to write family.py, so importing keras3r must work
# while family.py is missing, stale or broken.
__all__ = list(SPECS)


def __getattr__(name: str) -> Any:
    if name in SPECS:
        from keras3r import family

        globals().update({n: getattr(family, n) for n in family.__all__})
        return getattr(family, name)
    raise AttributeError(f"module 'keras3r' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
