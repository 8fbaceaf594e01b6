"""What every float64 reference optimizer shares: Keras 3.15's base optimizer.

keras/src/optimizers/base_optimizer.py wraps each optimizer's own step in the
same machinery, and a reference must reproduce it to be compared step by step:

* Gradient clipping (at most one kind): ``clipnorm`` rescales each gradient to
  an L2 norm of at most clipnorm; ``global_clipnorm`` rescales all gradients by
  the same factor so their joint norm is at most global_clipnorm;
  ``clipvalue`` clips every element to [-clipvalue, clipvalue].
* Weight decay is decoupled, scaled by the learning rate (the rate as given,
  before any warm-up an optimizer applies inside its own step) and comes
  before the step: ``w <- w - w * wd * lr``.  An optimizer may choose the
  decay per variable (Muon does).
* ``gradient_accumulation_steps = N``: a call whose raw iteration count ``k``
  (calls so far) has ``(k + 1) % N != 0`` only adds its gradients to the
  accumulators; the N-th call averages ``(g + acc) / N``, then clips, decays
  and steps, and zeroes the accumulators.  The step number t is ``k // N + 1``:
  it counts updates, not calls.
* EMA (``use_ema``): after every call, update or not, each average becomes
  ``mu * average + (1 - mu) * w`` where ``mu = ema_momentum`` except while the
  (update-counting) iteration is 0, when ``mu = 0`` so the average starts at w.
  With ``ema_overwrite_frequency = F`` the weights are then replaced by their
  averages whenever ``(iteration + 1) % F == 0``, iteration being the
  update-counting one (with accumulation that holds for N calls in a row).
* The call counter ``iterations`` goes up by one per call.

A subclass builds its slots in ``_build`` and makes one step in ``_step``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class CommonConfig:
    """The base optimizer's hyper-parameters (Keras's defaults)."""

    # Fields a reference has that Keras's get_config() does not.
    reference_only: ClassVar[tuple[str, ...]] = ()

    learning_rate: float = 0.001
    weight_decay: float | None = None
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    use_ema: bool = False
    ema_momentum: float = 0.99
    ema_overwrite_frequency: int | None = None
    gradient_accumulation_steps: int | None = None


@dataclass
class ReferenceOptimizer:
    """A float64 optimizer. ``apply`` updates the weights it holds."""

    config: Any
    weights: list[np.ndarray]
    # Variable paths, for optimizers that treat variables by name (Muon).
    paths: list[str] = field(default_factory=list)
    iterations: int = 0
    averages: list[np.ndarray] = field(default_factory=list)
    accumulators: list[np.ndarray] = field(default_factory=list)
    # How often each feature acted, so a test can check that it was exercised.
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weights = [np.array(w, dtype=np.float64) for w in self.weights]
        if not self.paths:
            self.paths = [f"w{i}" for i in range(len(self.weights))]
        if self.config.use_ema:
            self.averages = [np.zeros_like(w) for w in self.weights]
        if self.config.gradient_accumulation_steps:
            self.accumulators = [np.zeros_like(w) for w in self.weights]
        self.counts = {"updates": 0, "clipped": 0, "ema_overwrites": 0}
        self._build()

    # What a subclass provides.
    def _build(self) -> None:
        raise NotImplementedError

    def _step(self, grads: list[np.ndarray], t: int) -> None:
        """One update of every weight and slot; t counts updates from 1."""
        raise NotImplementedError

    def _slots(self) -> dict[str, list[np.ndarray | None]]:
        """Per-variable state by kind; None where a variable has no such slot."""
        raise NotImplementedError

    def _decay_rate(self, index: int) -> float | None:
        return self.config.weight_decay

    def _weights_changed(self) -> None:
        """Called after the base class changed the weights (decay, EMA overwrite)."""

    # The base optimizer.
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
        grads = self._clip(grads)
        lr = self.config.learning_rate
        decayed = False
        for i, w in enumerate(self.weights):
            rate = self._decay_rate(i)
            if rate is not None:
                self.weights[i] = w - w * rate * lr
                decayed = True
        if decayed:
            self._weights_changed()
        self._step(grads, self.update_iterations + 1)
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
            self._weights_changed()
            self.counts["ema_overwrites"] += 1

    def state(self) -> dict[str, Any]:
        """The optimizer's state under the names backend_driver reports."""
        out: dict[str, Any] = {"iterations": self.iterations, **self._slots()}
        if self.config.use_ema:
            out["average"] = self.averages
        if self.config.gradient_accumulation_steps:
            out["gradient_accumulator"] = self.accumulators
        return out


def run_reference(
    cls: type[ReferenceOptimizer],
    config: Any,
    initial: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray]],
    paths: Sequence[str] = (),
) -> tuple[list[list[np.ndarray]], ReferenceOptimizer]:
    """The weights after every step, and the optimizer at the end."""
    opt = cls(config, [np.asarray(w) for w in initial], list(paths))
    trajectory = []
    for step_grads in grads:
        opt.apply(step_grads)
        trajectory.append([w.copy() for w in opt.weights])
    return trajectory, opt
