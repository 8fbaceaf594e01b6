"""Which tests one pytest process runs, so that plain `pytest` works.

Keras picks its backend once per process, when it is first imported
(KERAS_BACKEND, TensorFlow when unset), and the embedded R of with_r/ must
start before TensorFlow does. So a process runs:

- on TensorFlow: the modules of tests/python itself;
- on JAX or torch: with_jax/ or with_torch/, and the modules of EVERY_BACKEND;
- with_r/ only when that folder is all it was asked to collect.

A folder or module left out is collected as one skipped test that gives the
reason and the command that runs it. Asking for a backend's folder alone
(`pytest tests/python/with_jax`) picks that backend. Imports nothing of Keras.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# Modules that hold for every backend; the others test TensorFlow's paths.
EVERY_BACKEND = (
    "test_adapt.py",
    "test_number_arguments.py",
    "test_reference_updates.py",
    "test_schedule_free_weights.py",
)
BACKEND_FOLDERS = {HERE / "with_jax": "jax", HERE / "with_torch": "torch"}
R_FOLDER = HERE / "with_r"


def _asked_for(config: pytest.Config) -> list[Path]:
    start = Path(config.invocation_params.dir)
    return [(start / arg.split("::")[0]).resolve() for arg in config.args or [str(HERE)]]


def _only_inside(config: pytest.Config, folder: Path) -> bool:
    return all(path == folder or folder in path.parents for path in _asked_for(config))


def backend(config: pytest.Config) -> str:
    """The backend of this process: a backend folder asked for alone picks its own."""
    for folder, name in BACKEND_FOLDERS.items():
        if _only_inside(config, folder):
            return name
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def folder_reason(path: Path, config: pytest.Config) -> str | None:
    """Why the folder at `path` is not run here, or None when it is."""
    path = path.resolve()
    if path == R_FOLDER and not _only_inside(config, R_FOLDER):
        return (
            "R, embedded through rpy2, must start before TensorFlow: run "
            "`pytest tests/python/with_r` on its own"
        )
    wanted = BACKEND_FOLDERS.get(path)
    if wanted is not None and wanted != backend(config):
        return f"Keras on {wanted}: run `KERAS_BACKEND={wanted} pytest tests/python`"
    return None


def module_reason(path: Path, config: pytest.Config) -> str | None:
    """Why the test module at `path` is not run here, or None when it is."""
    path = path.resolve()
    if path.parent != HERE or path.name in EVERY_BACKEND:
        return None
    chosen = backend(config)
    if chosen == "tensorflow":
        return None
    return f"TensorFlow's paths (this process runs Keras on {chosen}): run `pytest tests/python`"


class NotRunHere(pytest.File):
    """A folder or module this process leaves out, as one skipped test."""

    def __init__(self, *, reason: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.reason = reason

    def collect(self) -> list[pytest.Item]:
        return [LeftOut.from_parent(self, name=self.path.name, reason=self.reason)]


class LeftOut(pytest.Item):
    def __init__(self, *, reason: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.reason = reason

    def runtest(self) -> None:
        pytest.skip(self.reason)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name
