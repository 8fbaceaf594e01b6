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
* Gradient clipping (at most one kind): ``clipnorm`` rescales each gradient to
  an L2 norm of at most clipnorm; ``global_clipnorm`` rescales all gradients by
  the same factor so their joint norm is at most global_clipnorm;
  ``clipvalue`` clips every element to [-clipvalue, clipvalue].
* ``gradient_accumulation_steps = N``: a call whose raw iteration count
  ``k`` (calls so far) has ``(k + 1) % N != 0`` only adds its gradients to the
  accumulators; the N-th call averages ``(g + acc) / N``, then clips, decays
  and steps, and zeroes the accumulators.  The Adam step number t is
  ``k // N + 1``: it counts updates, not calls.
* EMA (``use_ema``): after every call, update or not, each average becomes
  ``mu * average + (1 - mu) * w`` where ``mu = ema_momentum`` except while the
  (update-counting) iteration is 0, when ``mu = 0`` so the average starts at w.
  With ``ema_overwrite_frequency = F`` the weights are then replaced by their
  averages whenever ``(iteration + 1) % F == 0``, iteration being the
  update-counting one (with accumulation that holds for N calls in a row).
* The call counter ``iterations`` goes up by one per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AdamWConfig:
    """The hyper-parameters; the defaults are keras3 R's (and Keras's)."""

    learning_rate: float = 0.001
    weight_decay: float | None = 0.004
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    use_ema: bool = False
    ema_momentum: float = 0.99
    ema_overwrite_frequency: int | None = None
    gradient_accumulation_steps: int | None = None
    eps_placement: str = "keras"  # or "torch": eps added to sqrt(v_hat)


@dataclass
class ReferenceAdamW:
    """AdamW in float64. ``apply`` updates the weights it is given in place."""

    config: AdamWConfig
    weights: list[np.ndarray]
    iterations: int = 0
    momentums: list[np.ndarray] = field(default_factory=list)
    velocities: list[np.ndarray] = field(default_factory=list)
    velocity_hats: list[np.ndarray] = field(default_factory=list)
    averages: list[np.ndarray] = field(default_factory=list)
    accumulators: list[np.ndarray] = field(default_factory=list)
    # How often each feature acted, so a test can check that it was exercised.
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weights = [np.array(w, dtype=np.float64) for w in self.weights]
        zeros = [np.zeros_like(w) for w in self.weights]
        self.momentums = [z.copy() for z in zeros]
        self.velocities = [z.copy() for z in zeros]
        if self.config.amsgrad:
            self.velocity_hats = [z.copy() for z in zeros]
        if self.config.use_ema:
            self.averages = [z.copy() for z in zeros]
        if self.config.gradient_accumulation_steps:
            self.accumulators = [z.copy() for z in zeros]
        self.counts = {"updates": 0, "clipped": 0, "ema_overwrites": 0}

    @property
    def update_iterations(self) -> int:
        """Keras's ``optimizer.iterations``: updates made, not calls."""
        steps = self.config.gradient_accumulation_steps
        return self.iterations // steps if steps else self.iterations

    def apply(self, grads: Sequence[np.ndarray]) -> None:
        cfg = self.config
        grads = [np.asarray(g, dtype=np.float64) for g in grads]
        steps = cfg.gradient_accumulation_steps
        if steps:
            if (self.iterations + 1) % steps == 0:
                averaged = [(g + a) / steps for g, a in zip(grads, self.accumulators)]
                self._update(averaged)
                self.accumulators = [np.zeros_like(a) for a in self.accumulators]
            else:
                self.accumulators = [a + g for a, g in zip(self.accumulators, grads)]
        else:
            self._update(grads)
        if cfg.use_ema:
            self._ema()
        self.iterations += 1

    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        cfg = self.config
        if cfg.clipnorm:
            out = []
            for g in grads:
                norm = np.sqrt(np.sum(g * g))
                self.counts["clipped"] += int(norm > cfg.clipnorm)
                out.append(g * cfg.clipnorm / max(norm, cfg.clipnorm))
            return out
        if cfg.global_clipnorm:
            norm = np.sqrt(sum(np.sum(g * g) for g in grads))
            self.counts["clipped"] += int(norm > cfg.global_clipnorm)
            return [g * cfg.global_clipnorm / max(norm, cfg.global_clipnorm) for g in grads]
        if cfg.clipvalue:
            self.counts["clipped"] += sum(int(np.any(np.abs(g) > cfg.clipvalue)) for g in grads)
            return [np.clip(g, -cfg.clipvalue, cfg.clipvalue) for g in grads]
        return grads

    def _update(self, grads: list[np.ndarray]) -> None:
        cfg = self.config
        grads = self._clip(grads)
        lr = cfg.learning_rate
        if cfg.weight_decay is not None:
            self.weights = [w - w * cfg.weight_decay * lr for w in self.weights]
        t = self.update_iterations + 1
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
        self.counts["updates"] += 1

    def _ema(self) -> None:
        cfg = self.config
        momentum = cfg.ema_momentum if self.update_iterations != 0 else 0.0
        self.averages = [
            momentum * a + (1.0 - momentum) * w for a, w in zip(self.averages, self.weights)
        ]
        frequency = cfg.ema_overwrite_frequency
        if frequency and (self.update_iterations + 1) % frequency == 0:
            self.weights = [a.copy() for a in self.averages]
            self.counts["ema_overwrites"] += 1

    def state(self) -> dict[str, list[np.ndarray] | int]:
        """The optimizer's state under the names backend_driver reports."""
        out: dict[str, list[np.ndarray] | int] = {
            "iterations": self.iterations,
            "momentum": self.momentums,
            "velocity": self.velocities,
        }
        if self.config.amsgrad:
            out["velocity_hat"] = self.velocity_hats
        if self.config.use_ema:
            out["average"] = self.averages
        if self.config.gradient_accumulation_steps:
            out["gradient_accumulator"] = self.accumulators
        return out


def run_reference(
    config: AdamWConfig, initial: Sequence[np.ndarray], grads: Sequence[Sequence[np.ndarray]]
) -> tuple[list[list[np.ndarray]], ReferenceAdamW]:
    """The weights after every step, and the optimizer at the end."""
    opt = ReferenceAdamW(config, [np.asarray(w) for w in initial])
    trajectory = []
    for step_grads in grads:
        opt.apply(step_grads)
        trajectory.append([w.copy() for w in opt.weights])
    return trajectory, opt
