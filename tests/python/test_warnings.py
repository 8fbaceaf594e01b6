"""The test configuration's warning filters hide Keras's own warnings and none of keras3r's.

pyproject.toml's `filterwarnings` drops warnings that Keras raises with stock
Keras too (NumPy 2's deprecation of Keras's `Variable.__array__`, for one),
by message and by the Keras module that raises them. A pytest run in a
subprocess, under this checkout's configuration, proves that such a warning
from Keras is hidden (raised as NumPy 2 raises it, and, where NumPy is 2,
by Keras itself: make test-python-user runs this module) while the same
text from a keras3r module, and a warning that keras3r itself gives a user,
are reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NUMPY_2_ARRAY = (
    "__array__ implementation doesn't accept a copy keyword, so passing copy=False failed. "
    "__array__ must implement 'dtype' and 'copy' keyword arguments."
)

PROBE = textwrap.dedent(
    f"""
    import warnings

    import keras3r

    MESSAGE = {NUMPY_2_ARRAY!r}


    def test_from_keras():
        # As NumPy 2 raises it, from the Keras module whose np.array() call met it.
        warnings.warn_explicit(
            MESSAGE, DeprecationWarning, "core.py", 172,
            module="keras.src.backend.tensorflow.core",
        )


    def test_keras_converts_its_variable():
        # With NumPy 2 (make test-python-user), Keras's own call raises it.
        import keras
        import numpy as np

        keras.ops.convert_to_numpy(keras.Variable(np.ones(3, "float32")))


    def test_same_text_from_keras3r():
        warnings.warn_explicit(
            MESSAGE, DeprecationWarning, "compat.py", 1, module="keras3r.compat"
        )


    def test_keras3r_warns_a_user():
        # A function map cannot be saved: keras3r says so when it is given.
        keras3r.optimizer_multi(lambda variable: keras3r.optimizer_sgd())
    """
)


def _run_probe(tmp_path: Path) -> str:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(probe),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": ""},
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_keras_warnings_are_filtered_and_keras3r_warnings_shown(tmp_path: Path) -> None:
    output = _run_probe(tmp_path)
    assert "4 passed, 2 warnings" in output, output
    # The same NumPy text, raised from keras3r, is shown: the filter names Keras's modules.
    assert "test_probe.py::test_same_text_from_keras3r" in output, output
    assert "compat.py:1: DeprecationWarning: __array__ implementation" in output, output
    assert "test_probe.py::test_from_keras" not in output, output
    assert "test_probe.py::test_keras_converts_its_variable" not in output, output
    # keras3r's own warning reaches the user.
    assert "test_probe.py::test_keras3r_warns_a_user" in output, output
    assert "cannot be saved" in output, output
