"""A float64 NumPy reference for Keras 3.15's Lamb, written for the tests.

LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning: Training
BERT in 76 minutes", Algorithm 2) scales each variable's Adam direction by a
per-variable trust ratio, the norm of the weights over the norm of the
direction, so that every layer moves by about ``lr`` of its own size.  Where
the paper leaves room, or where Keras departs from it, this follows
keras/src/optimizers/lamb.py:

* The direction is Adam's with both bias corrections on the moments and the
  epsilon added to the corrected root (PyTorch's placement)::

      r = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)

* The trust ratio is ``||w|| / ||r||`` (Frobenius norms over the whole
  variable, a scalar's absolute value), and 1 when either norm is 0.  The
  paper's scaling function phi is the identity.
* Weight decay is not part of ``r`` as in the paper (which adds ``lambda * w``
  to the direction before taking its norm): Keras applies its decoupled decay
  ``w <- w - w * wd * lr`` before the step, outside the trust ratio, and the
  ratio then uses the decayed weights.
* Clipping, accumulation and EMA are the base optimizer's (reference_common).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference_common import CommonConfig, ReferenceOptimizer


@dataclass(frozen=True)
class LambConfig(CommonConfig):
    """The hyper-parameters; the defaults are keras3 R's (and Keras's)."""

    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    # "paper": weight decay inside the direction and so inside the trust ratio.
    decay_placement: str = "keras"
    # False: no trust ratio (Adam with Lamb's epsilon placement), to show it matters.
    trust_ratio: bool = True

    reference_only = ("decay_placement", "trust_ratio")


class ReferenceLamb(ReferenceOptimizer):
    """Lamb in float64."""

    def _build(self) -> None:
        self.momentums = [np.zeros_like(w) for w in self.weights]
        self.velocities = [np.zeros_like(w) for w in self.weights]
        self.counts["unit_ratio"] = 0

    def _decay_rate(self, index: int) -> float | None:
        if self.config.decay_placement == "paper":
            return None  # part of the direction instead
        return self.config.weight_decay

    def _step(self, grads: list[np.ndarray], t: int) -> None:
        cfg = self.config
        for i, g in enumerate(grads):
            m = self.momentums[i] + (g - self.momentums[i]) * (1.0 - cfg.beta_1)
            v = self.velocities[i] + (g * g - self.velocities[i]) * (1.0 - cfg.beta_2)
            self.momentums[i], self.velocities[i] = m, v
            w = self.weights[i]
            r = (m / (1.0 - cfg.beta_1**t)) / (
                np.sqrt(v / (1.0 - cfg.beta_2**t)) + cfg.epsilon
            )
            if cfg.decay_placement == "paper" and cfg.weight_decay is not None:
                r = r + cfg.weight_decay * w
            w_norm = float(np.sqrt(np.sum(w * w)))
            r_norm = float(np.sqrt(np.sum(r * r)))
            if not cfg.trust_ratio:
                ratio = 1.0
            elif w_norm > 0 and r_norm > 0:
                ratio = w_norm / r_norm
            else:
                ratio = 1.0
                self.counts["unit_ratio"] += 1
            self.weights[i] = w - ratio * cfg.learning_rate * r

    def _slots(self) -> dict[str, list[np.ndarray | None]]:
        return {"momentum": list(self.momentums), "velocity": list(self.velocities)}
