"""keras3r: the optimizers and learning-rate schedules of keras3 R, from Python.

Every function has keras3 R's exact signature and defaults, checks its
arguments, and returns a plain Keras 3 object.
"""

from keras3r.family import *  # noqa: F403
from keras3r.family import __all__ as __all__

# Schedule-free AdamW's averaged weights: helpers beside the generated family
# (not in the family's __all__, which lists exactly the spec's functions).
from keras3r.schedule_free import (  # noqa: F401
    callback_swap_schedule_free_weights,
    schedule_free_averaged_weights,
    schedule_free_weights_in_model,
    swap_schedule_free_weights,
    with_schedule_free_averaged_weights,
)

# The way back to stock Keras, beside the family too (not in its __all__).
from keras3r.stock import plain  # noqa: F401

__version__ = "0.1.0"
