"""Many small variables: one update per variable against one update over all of them.

keras3r's compiled update (TensorFlow and JAX) runs Keras's maths per
variable: XLA makes a few loop kernels for each variable, and with many small
variables their number, not their bytes, sets the step's time. This measures
the formulations that would treat the variables of a dtype as one, in the
compiled update, against the per-variable one, at the sizes of
bench_matrix.py's "1M/100" cell and of a model of many tiny variables:

  per-variable   the update of each variable apart (what XLA makes of Keras's
                 `apply` today)
  concatenated   the variables, gradients and slots concatenated inside the
                 compiled update, one update over the long view, then split
                 back into each variable's own buffer
  stacked        same-shaped variables stacked into one array (a grouped
                 update), then unstacked
  contiguous     the lower bound: the same parameters held in one array each
                 (what the state would be if Keras kept it contiguous, which
                 it does not: each variable is a buffer of its own)

with AdamW's arithmetic (the same element-wise ops as Keras's) jitted by
JAX with its buffers donated, as keras3r's JAX update runs. Beside them: the
bytes a parameter each moves and the kernels it launches, counted from the
HLO that XLA compiled (bench/hlo_traffic.py), and the floor, AdamW's 28
bytes a parameter (read variable, gradient and two slots, write three) at
the copy bandwidth measured in the same run. What is
measured is XLA's CPU code for each formulation, the same compiler that
TensorFlow's `jit_compile` runs: JAX calls an executable with the least
overhead of its own, so the formulations' differences stand out.

How it times: each backend in a process of its own; the formulations of a
cell run in rounds of blocks, the order alternating, medians over all steps,
and the per-variable formulation twice (the noise figure).

A figure, not a test: `.venv/bin/python bench/bench_grouped.py` (about a
minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_matrix import BYTES_PER_PARAMETER, copy_bandwidth, interleaved
from hlo_traffic import hlo_traffic_bytes

# (variables, parameters each)
CELLS = ((100, 10_000), (400, 256))
FORMULATIONS = ("per-variable", "concatenated", "stacked", "contiguous")


def _adamw(w: Any, g: Any, m: Any, v: Any, ops: Any) -> tuple[Any, Any, Any]:
    """AdamW's element-wise step (Keras's ops, constants for one step)."""
    m = m + (g - m) * 0.1
    v = v + (ops.square(g) - v) * 0.001
    w = w - w * 1e-6
    return w - m * 1e-4 / (ops.sqrt(v) + 1e-7), m, v


def _jax_steps(
    count: int, size: int, traffic: dict[str, tuple[float, int]]
) -> dict[str, Callable[[], Any]]:
    """Each formulation's step; `traffic` gets its bytes a parameter and kernels (HLO)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)

    def arrays(n: int, length: int) -> list[Any]:
        return [jnp.asarray(rng.standard_normal(length, dtype=np.float32)) for _ in range(n)]

    splits = [size * i for i in range(1, count)]

    def per_variable(ws: Any, gs: Any, ms: Any, vs: Any) -> Any:
        out = [_adamw(*t, jnp) for t in zip(ws, gs, ms, vs)]
        return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]

    def concatenated(ws: Any, gs: Any, ms: Any, vs: Any) -> Any:
        w, m, v = _adamw(*(jnp.concatenate(x) for x in (ws, gs, ms, vs)), jnp)
        return jnp.split(w, splits), jnp.split(m, splits), jnp.split(v, splits)

    def stacked(ws: Any, gs: Any, ms: Any, vs: Any) -> Any:
        w, m, v = _adamw(*(jnp.stack(x) for x in (ws, gs, ms, vs)), jnp)
        return list(w), list(m), list(v)

    def contiguous(ws: Any, gs: Any, ms: Any, vs: Any) -> Any:
        w, m, v = _adamw(ws[0], gs[0], ms[0], vs[0], jnp)
        return [w], [m], [v]

    steps = {}
    for name, function in zip(FORMULATIONS, (per_variable, concatenated, stacked, contiguous)):
        n, length = (1, count * size) if name == "contiguous" else (count, size)
        state = [arrays(n, length) for _ in range(4)]
        jitted = jax.jit(function, donate_argnums=(0, 2, 3))
        moved, kernels = hlo_traffic_bytes(jitted.lower(*state).compile().as_text())
        traffic[name] = (moved / (count * size), kernels)

        def step(jitted: Any = jitted, state: list[Any] = state) -> Any:
            state[0], state[2], state[3] = jitted(*state)
            return jax.block_until_ready(state)

        steps[name] = step
    return steps


def run_backend(backend: str, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for count, size in CELLS:
        traffic: dict[str, tuple[float, int]] = {}
        steps = _jax_steps(count, size, traffic)
        steps["per-variable again"] = steps["per-variable"]
        found = interleaved(steps, rounds, 5)
        rows.append({"count": count, "size": size, "traffic": traffic, **found})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--backend", choices=("jax",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        print(json.dumps(run_backend(args.backend, args.rounds)))
        return
    bandwidth = copy_bandwidth()
    print(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s (read + write); "
          f"floor = {BYTES_PER_PARAMETER} bytes a parameter at that rate")  # fmt: skip
    print(f"{'backend':<11}{'cell':<10}" + "".join(f"{n:>14}" for n in FORMULATIONS)
          + f"{'floor':>9}{'noise':>8}   (ms)")  # fmt: skip
    for backend in ("jax",):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, str(Path(__file__).resolve()), "--backend", backend,
                   "--rounds", str(args.rounds)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            sys.exit(f"bench_grouped: the {backend} run failed:\n{done.stderr[-3000:]}")
        for row in json.loads(done.stdout.strip().splitlines()[-1]):
            floor = BYTES_PER_PARAMETER * row["count"] * row["size"] / bandwidth
            cell = f"{row['count']}x{row['size']}"
            noise = row["per-variable again"] / row["per-variable"]
            print(f"{backend:<11}{cell:<10}"
                  + "".join(f"{row[n] * 1e3:14.3f}" for n in FORMULATIONS)
                  + f"{floor * 1e3:9.3f}{noise:8.2f}")  # fmt: skip
            print(f"{'x floor':>21}" + "".join(f"{row[n] / floor:13.2f}x" for n in FORMULATIONS))
            print(f"{'bytes/param, kernels':>21}"
                  + "".join(f"{row['traffic'][n][0]:9.0f}, {row['traffic'][n][1]:3d}"
                            for n in FORMULATIONS))  # fmt: skip


if __name__ == "__main__":
    main()
