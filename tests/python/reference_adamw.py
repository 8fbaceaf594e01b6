"""A float64 NumPy reference for Keras 3.15's AdamW, written for the tests.

It follows Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization",
Algorithm 2, with the choices Keras makes where the paper leaves room, taken
from keras/src/optimizers/{base_optimizer,adam,adamw}.py:

* Weight decay is decoupled and scaled by the learning rate, and comes before
  the Adam step: ``w <- w - w * wd * lr`` (the paper's schedule multiplier eta_t
  is the learning rate here).
* The Adam step folds both bias corrections into the step size and uses
  Kingma & Ba's "epsilon hat" (the formula before their Section 2.1)::

      alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
      w      <- w - alpha_t * m / (sqrt(v) + epsilon)

  PyTorch's ``torch.optim.AdamW`` instead adds its epsilon to the bias-corrected
  root, ``sqrt(v) / sqrt(1 - beta_2**t) + eps``. The two are the same update
  when ``epsilon_keras = eps_torch * sqrt(1 - beta_2**t)``: a factor that moves
  with t, so no single pair of constants makes them equal, but both tend to the
  same ratio ``m_hat / sqrt(v_hat)`` as epsilon goes to 0.  ``eps_placement =
  "torch"`` gives PyTorch's form, so the tests can check that statement too.
* AMSGrad keeps the running maximum of the raw (not bias-corrected) second
  moment and divides by it.
* Clipping, gradient accumulation, EMA and the iteration counters are the
  base optimizer's, shared by every reference (reference_common.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reference_common import CommonConfig, ReferenceOptimizer
from reference_common import run_reference as _run


@dataclass(frozen=True)
class AdamWConfig(CommonConfig):
    """The hyper-parameters; the defaults are keras3 R's (and Keras's)."""

    reference_only = ("eps_placement",)

    weight_decay: float | None = 0.004
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False
    eps_placement: str = "keras"  # or "torch": eps added to sqrt(v_hat)


class ReferenceAdamW(ReferenceOptimizer):
    """AdamW in float64. ``apply`` updates the weights it holds."""

    def _build(self) -> None:
        self.momentums = [np.zeros_like(w) for w in self.weights]
        self.velocities = [np.zeros_like(w) for w in self.weights]
        self.velocity_hats = [np.zeros_like(w) for w in self.weights]

    def _step(self, grads: list[np.ndarray], t: int) -> None:
        cfg = self.config
        lr = cfg.learning_rate
        correction_1 = 1.0 - cfg.beta_1**t
        correction_2 = 1.0 - cfg.beta_2**t
        for i, g in enumerate(grads):
            m = self.momentums[i] + (g - self.momentums[i]) * (1.0 - cfg.beta_1)
            v = self.velocities[i] + (g * g - self.velocities[i]) * (1.0 - cfg.beta_2)
            self.momentums[i], self.velocities[i] = m, v
            if cfg.amsgrad:
                self.velocity_hats[i] = np.maximum(self.velocity_hats[i], v)
                v = self.velocity_hats[i]
            if cfg.eps_placement == "keras":
                alpha = lr * np.sqrt(correction_2) / correction_1
                step = alpha * m / (np.sqrt(v) + cfg.epsilon)
            elif cfg.eps_placement == "torch":
                step = lr * (m / correction_1) / (np.sqrt(v / correction_2) + cfg.epsilon)
            else:
                raise ValueError(f"eps_placement: {cfg.eps_placement!r}")
            self.weights[i] = self.weights[i] - step

    def _slots(self) -> dict[str, list[np.ndarray | None]]:
        out: dict[str, list[np.ndarray | None]] = {
            "momentum": list(self.momentums),
            "velocity": list(self.velocities),
        }
        if self.config.amsgrad:
            out["velocity_hat"] = list(self.velocity_hats)
        return out


def run_reference(
    config: AdamWConfig, initial: Sequence[np.ndarray], grads: Sequence[Sequence[np.ndarray]]
) -> tuple[list[list[np.ndarray]], ReferenceAdamW]:
    """The weights after every step, and the optimizer at the end."""
    trajectory, opt = _run(ReferenceAdamW, config, initial, grads)
    assert isinstance(opt, ReferenceAdamW)
    return trajectory, opt
