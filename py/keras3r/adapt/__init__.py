"""keras3r's behaviour on a Keras optimizer: attached per instance, by backend.

`attach` (what every keras3r function does to the optimizer it builds),
`adapt_optimizer` (the same, for an optimizer that Keras made) and `plain`
(the way back to stock Keras); `BEHAVIOURS` declares what is attached, on
which backend, and which seams of Keras's optimizer each one replaces.

Modules: `behaviours` (the table, attach and detach), `instance` (the one state
object per instance, binding), `eager_apply` (what every compiled eager
apply() shares: state, the structure cache, the wait before compiling),
`tensorflow`, `tensorflow_distribute`, `jax` and `torch` (one backend each;
`torch_kernels` holds torch's kernel calls),
and `rate_guard`, `schedule_free_step`, `routing` and `muon_split` (every
backend).
"""

from keras3r.adapt.behaviours import BEHAVIOURS, Behaviour, adapt_optimizer, attach, plain
from keras3r.adapt.instance import AdapterState, keras3r_additions, state_of

__all__ = [
    "BEHAVIOURS",
    "AdapterState",
    "Behaviour",
    "adapt_optimizer",
    "attach",
    "keras3r_additions",
    "plain",
    "state_of",
]
