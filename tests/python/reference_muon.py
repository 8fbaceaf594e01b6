"""A float64 NumPy reference for Keras 3.15's Muon, written for the tests.

Muon (Jordan et al. 2024, github.com/KellerJordan/Muon; with the update-RMS
matching of Liu et al. 2025, "Muon is Scalable for LLM Training") keeps SGD
momentum for each 2-D weight matrix and replaces the momentum direction by an
approximately orthogonal matrix of the same shape, computed by a few
Newton-Schulz iterations.  Every other variable gets an AdamW step.  This
follows keras/src/optimizers/muon.py:

* Which variables get AdamW: any that is not 2-D; with ``exclude_embeddings``,
  any whose path contains "embedding" (any case); any whose path matches one
  of the regular expressions of ``exclude_layers`` (``re.search``).
* Muon step: ``m <- momentum * m + g``; the direction is ``g + momentum * m``
  with ``nesterov``, ``m`` without.  Newton-Schulz: transpose a tall matrix
  (more rows than columns) to wide, divide it by its Frobenius norm plus 1e-7,
  then ``ns_steps`` times ``A = X X^T; X <- a X + (b A + c A A) X`` with
  ``(a, b, c) = (muon_a, muon_b, muon_c)``, and transpose back.  The weights
  move by ``lr * X * sqrt(max(rows, cols)) * rms_rate`` (no ``rms_rate``
  factor at all when it is None).
* AdamW step: Keras's Adam (bias corrections folded into the step size,
  epsilon hat; reference_adamw) with ``adam_beta_1``, ``adam_beta_2`` and a
  learning rate of ``lr * adam_lr_ratio``, the step number counting updates.
  Its first moment is the variable's "momentum" slot, as for Muon variables.
* Weight decay, before the step: ``weight_decay`` for Muon variables and
  ``adam_weight_decay`` for AdamW ones, each scaled by the learning rate
  itself (not by ``adam_lr_ratio``); a None skips it.
* Clipping, accumulation and EMA are the base optimizer's (reference_common).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from reference_common import CommonConfig, ReferenceOptimizer


@dataclass(frozen=True)
class MuonConfig(CommonConfig):
    """The hyper-parameters; the defaults are Keras 3.15's (the row keras3r mirrors)."""

    weight_decay: float | None = 0.004
    adam_beta_1: float = 0.9
    adam_beta_2: float = 0.999
    adam_weight_decay: float | None = 0.004
    epsilon: float = 1e-7
    exclude_layers: tuple[str, ...] = ()
    exclude_embeddings: bool = True
    muon_a: float = 3.4445
    muon_b: float = -4.7750
    muon_c: float = 2.0315
    adam_lr_ratio: float = 1.0
    momentum: float = 0.95
    ns_steps: int = 5
    nesterov: bool = True
    rms_rate: float | None = 0.2
    # "svd": the exact orthogonal factor U V^T that Newton-Schulz approximates.
    orthogonalize: str = "newton_schulz"

    reference_only = ("orthogonalize",)


def newton_schulz(g: np.ndarray, steps: int, a: float, b: float, c: float) -> np.ndarray:
    """Keras's quintic Newton-Schulz iteration, in float64."""
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / (np.sqrt(np.sum(x * x)) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def exact_orthogonal_factor(g: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    return u @ vt


def uses_adamw(cfg: MuonConfig, shape: tuple[int, ...], path: str) -> bool:
    if len(shape) != 2:
        return True
    if cfg.exclude_embeddings and "embedding" in path.lower():
        return True
    return any(re.search(pattern, path) for pattern in cfg.exclude_layers)


class ReferenceMuon(ReferenceOptimizer):
    """Muon (and AdamW for the variables it leaves to AdamW) in float64."""

    def _build(self) -> None:
        cfg = self.config
        self.adamw = [uses_adamw(cfg, w.shape, p) for w, p in zip(self.weights, self.paths)]
        self.momentums = [np.zeros_like(w) for w in self.weights]
        self.velocities: list[np.ndarray | None] = [
            np.zeros_like(w) if adam else None for w, adam in zip(self.weights, self.adamw)
        ]

    def _decay_rate(self, index: int) -> float | None:
        cfg = self.config
        return cfg.adam_weight_decay if self.adamw[index] else cfg.weight_decay

    def _step(self, grads: list[np.ndarray], t: int) -> None:
        cfg = self.config
        for i, g in enumerate(grads):
            if self.adamw[i]:
                self._adamw(i, g, t)
                continue
            m = cfg.momentum * self.momentums[i] + g
            self.momentums[i] = m
            direction = g + cfg.momentum * m if cfg.nesterov else m
            if cfg.orthogonalize == "svd":
                update = exact_orthogonal_factor(direction)
            else:
                update = newton_schulz(
                    direction, cfg.ns_steps, cfg.muon_a, cfg.muon_b, cfg.muon_c
                )
            update = cfg.learning_rate * update
            if cfg.rms_rate is not None:
                update = update * np.sqrt(max(g.shape)) * cfg.rms_rate
            self.weights[i] = self.weights[i] - update

    def _adamw(self, i: int, g: np.ndarray, t: int) -> None:
        cfg = self.config
        lr = cfg.learning_rate * cfg.adam_lr_ratio
        v_old = self.velocities[i]
        assert v_old is not None
        m = self.momentums[i] + (g - self.momentums[i]) * (1.0 - cfg.adam_beta_1)
        v = v_old + (g * g - v_old) * (1.0 - cfg.adam_beta_2)
        self.momentums[i], self.velocities[i] = m, v
        alpha = lr * np.sqrt(1.0 - cfg.adam_beta_2**t) / (1.0 - cfg.adam_beta_1**t)
        self.weights[i] = self.weights[i] - alpha * m / (np.sqrt(v) + cfg.epsilon)

    def _slots(self) -> dict[str, list[np.ndarray | None]]:
        return {"momentum": list(self.momentums), "velocity": list(self.velocities)}
