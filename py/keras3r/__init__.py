"""keras3r: the optimizers and learning-rate schedules of keras3 R, from Python.

Every function has keras3 R's exact signature and defaults, checks its
arguments, and returns a plain Keras 3 object.
"""

from keras3r.family import *  # noqa: F403
from keras3r.family import __all__ as __all__

__version__ = "0.1.0"
