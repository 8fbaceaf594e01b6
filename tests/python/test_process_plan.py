"""Plain `pytest` and `KERAS_BACKEND=<backend> pytest` each collect their own tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from process_plan import HERE

ROOT = HERE.parents[1]


def collected(backend: str | None, *args: str) -> Counter[str]:
    """Test ids collected per file or folder, for a pytest run from the root."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return Counter(line.split("::")[0] for line in out.stdout.splitlines() if "::" in line)


@pytest.mark.parametrize("backend", [None, "jax", "torch"])
def test_each_backend_collects_its_own_tests(backend: str | None) -> None:
    counts = collected(backend)
    chosen = backend or "tensorflow"
    for name in ("jax", "torch"):
        inside = [f for f in counts if f.startswith(f"tests/python/with_{name}/")]
        if name == chosen:
            assert inside and f"tests/python/with_{name}" not in counts
        else:
            assert not inside and counts[f"tests/python/with_{name}"] == 1
    # R starts in a process of its own; TensorFlow's modules run on TensorFlow.
    assert counts["tests/python/with_r"] == 1
    assert (counts["tests/python/test_build.py"] > 1) == (chosen == "tensorflow")
    assert counts["tests/python/test_reference_updates.py"] > 1


def test_a_folder_asked_for_alone_runs() -> None:
    counts = collected(None, "tests/python/with_jax")
    assert counts and all(f.startswith("tests/python/with_jax/") for f in counts)
