"""Worker processes on 127.0.0.1, for the tests of multi-process training.

A test of this kind runs its own file as a script in two processes, which
meet on free ports of 127.0.0.1, train, write their weights under a folder
and exit by themselves; the test then compares the weights they wrote.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def free_ports(n: int) -> list[int]:
    """`n` distinct ports of 127.0.0.1 that were free a moment ago."""
    # All bound at once, so that the system cannot hand out one port twice.
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def run_workers(
    script: str,
    worker_args: Sequence[Sequence[str]],
    *,
    label: str,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
) -> None:
    """Run `script` once per entry of `worker_args`, all at once, and wait.

    Fails, with each failing worker's output, unless every worker exits 0;
    a worker still running after `timeout` seconds is killed. `label` names a
    worker in the message ("worker", "rank"), followed by its first argument.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, script, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env), cwd=cwd,
        )
        for args in worker_args
    ]
    failures = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        if proc.returncode != 0:
            tail = err[-3000:]
            failures.append(f"{label} {proc.args[2]} exited {proc.returncode}:\n{out}\n{tail}")
    assert not failures, "\n".join(failures)


def max_diff(a: Sequence[Any], b: Sequence[Any]) -> float:
    """The largest absolute difference between two lists of like arrays."""
    import numpy as np

    assert len(a) == len(b) > 0
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))
