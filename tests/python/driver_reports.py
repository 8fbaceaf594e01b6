"""The JSON report of a driver script, run in a fresh process for one Keras backend.

Keras fixes its backend once per process, so a test that needs another
backend runs a driver (tests/python/*_driver.py) as a script under
KERAS_BACKEND. The driver only reports, with `write_report`; the test reads
the report with `run_driver` and makes the assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run_driver(driver: str, backend: str, out_dir: Path) -> dict[str, Any]:
    """Run tests/python/`driver` under KERAS_BACKEND=`backend` and return its report."""
    out = out_dir / "report.json"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, str(HERE / driver), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert report["backend"] == backend
    return report


def write_report(scenarios: Callable[[], dict[str, Any]]) -> None:
    """A driver's entry point: `scenarios()`, written as JSON to the path given as argument."""
    report = scenarios()
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(report, handle)
