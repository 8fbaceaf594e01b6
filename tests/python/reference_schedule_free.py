"""A float64 NumPy reference for Keras 3.15's ScheduleFreeAdamW, written for the tests.

Schedule-free AdamW (Defazio et al. 2024, "The Road Less Scheduled",
Algorithm 1) keeps three sequences per variable: z, where the gradient steps
are taken (Adam-scaled SGD); x, the average of the z's, where the method's
guarantees hold and where the model should be evaluated; and y, the
interpolation ``y = (1 - beta_1) z + beta_1 x`` at which gradients are
computed.  One step, with ``t`` counting updates from 1::

    v  <- beta_2 v + (1 - beta_2) g**2                   (g taken at y)
    z  <- z - lr_t g / (sqrt(v / (1 - beta_2**t)) + epsilon)
    x  <- (1 - c_t) x + c_t z
    y  <- (1 - beta_1) z + beta_1 x

Where the paper leaves room or Keras departs from it, this follows
keras/src/optimizers/schedule_free_adamw.py:

* Keras holds y in the model's variables and z in the "momentum" slot
  (initialised to the weights, so x = y = z at the start); it keeps no x and
  recovers it at each step from ``x = (y - (1 - beta_1) z) / beta_1``.  This
  reference keeps x as its own sequence, as the paper does, and re-derives it
  from y and z only where Keras would see a different x: after something
  outside the step changed y (weight decay, an EMA overwrite).
* Warm-up multiplies the rate: ``lr_t = lr * min(t / warmup_steps, 1)``.
* The averaging weight is ``c_t = 1 / t``.  The paper weights each z by the
  square of its step size, ``c_t = gamma_t**2 / sum(gamma_i**2 for i <= t)``
  with ``gamma_t = lr_t * sqrt(1 - beta_2**t)`` (its Algorithm 1): it favours
  the later z's while the bias factor or the warm-up still grows the step.
  ``averaging = "paper"`` gives that form, so the tests can show which one
  Keras uses.
* Only the second moment is bias-corrected, and epsilon is added to the
  corrected root (as in the authors' PyTorch implementation).
* Weight decay is the base optimizer's, on y and before the step, with the
  rate as given (not warmed up); x moves with y since Keras recovers it from y.
* Clipping, accumulation and EMA are the base optimizer's (reference_common).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference_common import CommonConfig, ReferenceOptimizer


@dataclass(frozen=True)
class ScheduleFreeConfig(CommonConfig):
    """The hyper-parameters; the defaults are Keras 3.15's."""

    learning_rate: float = 0.0025
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    warmup_steps: int = 0
    averaging: str = "keras"  # or "paper": c_t from the squared step sizes
    # True: recover x from the z *after* the step, as Keras 3.15's own update
    # does on TensorFlow and torch (see keras3r.schedule_free); not the method.
    x_from_new_z: bool = False

    reference_only = ("averaging", "x_from_new_z")


class ReferenceScheduleFree(ReferenceOptimizer):
    """Schedule-free AdamW in float64: ``weights`` is y; ``z`` and ``x`` its other sequences."""

    def _build(self) -> None:
        self.z = [w.copy() for w in self.weights]
        self.x = [w.copy() for w in self.weights]
        self.velocities = [np.zeros_like(w) for w in self.weights]
        self.rate_squares = 0.0

    def _weights_changed(self) -> None:
        b1 = self.config.beta_1
        self.x = [(y - (1.0 - b1) * z) / b1 for y, z in zip(self.weights, self.z)]

    def _step(self, grads: list[np.ndarray], t: int) -> None:
        cfg = self.config
        lr = cfg.learning_rate
        if cfg.warmup_steps > 0:
            lr = lr * min(t / cfg.warmup_steps, 1.0)
        gamma_square = lr * lr * (1.0 - cfg.beta_2**t)
        self.rate_squares += gamma_square
        if cfg.averaging == "keras":
            c = 1.0 / t
        elif cfg.averaging == "paper":
            c = gamma_square / self.rate_squares
        else:
            raise ValueError(f"averaging: {cfg.averaging!r}")
        for i, g in enumerate(grads):
            v = self.velocities[i] + (g * g - self.velocities[i]) * (1.0 - cfg.beta_2)
            self.velocities[i] = v
            denom = np.sqrt(v / (1.0 - cfg.beta_2**t)) + cfg.epsilon
            step = lr * g / denom
            if cfg.x_from_new_z:
                self.x[i] = self.x[i] + (1.0 - cfg.beta_1) / cfg.beta_1 * step
            self.z[i] = self.z[i] - step
            self.x[i] = (1.0 - c) * self.x[i] + c * self.z[i]
            self.weights[i] = (1.0 - cfg.beta_1) * self.z[i] + cfg.beta_1 * self.x[i]

    def averaged(self) -> list[np.ndarray]:
        """x, the point the method evaluates at."""
        return [x.copy() for x in self.x]

    def _slots(self) -> dict[str, list[np.ndarray | None]]:
        return {"momentum": list(self.z), "velocity": list(self.velocities)}
