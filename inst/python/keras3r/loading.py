"""Loading keras3r into an R session's Python: what R runs before `import keras3r`.

keras3r's R package ships this package (inst/python/keras3r) and imports it
from there. Before that import it loads this file on its own, as the module
`keras3r_loading`, so nothing here imports keras3r or anything beside the
standard library:

* `forget_other_keras3r`: R may be embedded in a Python process that imported
  a keras3r already (rpy2). That one is kept when its files are the ones R
  ships, and forgotten otherwise, so that R's wrappers and the Python module
  they call come from one copy.
* `import_filtering_logs`: TensorFlow logs a few INFO lines (oneDNN) while it
  loads, before it applies TF_CPP_MIN_LOG_LEVEL. They are caught on stderr
  during the import and dropped when the level says so; everything else is
  written back.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# A line of TensorFlow's C++ logging: severity letter, date, time, thread, file:line].
_LOG_LINE = re.compile(r"^([IWEF])\d{4} [0-9:.]+ +\d+ [^ \]]+\] ")
# The lowest TF_CPP_MIN_LOG_LEVEL that drops a line of each severity.
_DROP_FROM = {"I": 1, "W": 2, "E": 3, "F": 99}
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog()"


def python_files(folder: str) -> dict[str, bytes]:
    """Every .py file under `folder` (byte code aside), by relative path, with its bytes."""
    found = {}
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                full = os.path.join(parent, name)
                with open(full, "rb") as handle:
                    found[os.path.relpath(full, folder)] = handle.read()
    return found


def is_shipped_keras3r(path: str) -> bool:
    """Whether the keras3r Python imported is the one under `path` (or the same files)."""
    module = sys.modules.get("keras3r")
    file = getattr(module, "__file__", None)
    if not file:
        return False
    theirs = os.path.dirname(os.path.realpath(file))
    mine = os.path.realpath(os.path.join(path, "keras3r"))
    return theirs == mine or python_files(theirs) == python_files(mine)


def forget_other_keras3r(path: str) -> bool:
    """Forget an imported keras3r that is not the one under `path`; True if one was."""
    if "keras3r" not in sys.modules or is_shipped_keras3r(path):
        return False
    for name in [n for n in sys.modules if n == "keras3r" or n.startswith("keras3r.")]:
        del sys.modules[name]
    return True


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or replaced stream: nothing to flush
            pass


def import_filtering_logs(name: str, level: int) -> int:
    """Import module `name` with TensorFlow's start-up log lines below `level` dropped.

    Returns how many lines were dropped; 0 where `name` was imported already.
    An error of the import is not raised here: the caller's own import that
    follows raises it again, with stderr back in place.
    """
    if name in sys.modules:
        return 0
    _flush_python_streams()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            __import__(name)
        except Exception:  # raised again by the caller's import
            pass
        finally:
            _flush_python_streams()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    dropped = 0
    kept = []
    for line in text.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        if line.startswith(_ABSL_PREAMBLE) or (match and level >= _DROP_FROM[match.group(1)]):
            dropped += 1
        else:
            kept.append(line)
    if kept:
        os.write(2, "".join(kept).encode("utf-8"))
    return dropped
