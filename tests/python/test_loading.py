"""keras3r/loading.py: what the R package runs in Python before `import keras3r`.

Loaded here as R loads it, from its file as a module of its own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "py" / "keras3r"


def _loading() -> ModuleType:
    spec = importlib.util.spec_from_file_location("keras3r_loading", PACKAGE / "loading.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tensorflow_log_lines_below_the_level_are_dropped_and_the_rest_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    lines = [
        "I0000 00:00:1796660435.678038    7067 port.cc:153] oneDNN custom operations are on.",
        "W0000 00:00:1796660435.728235    7067 cpu_feature_guard.cc:227] a warning",
        "something the module itself wrote",
    ]
    (tmp_path / "noisy_module_for_loading.py").write_text(
        "import os\n" + "".join(f"os.write(2, {line!r}.encode() + b'\\n')\n" for line in lines)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loading = _loading()
    try:
        assert loading.import_filtering_logs("noisy_module_for_loading", 1) == 1
        err = capfd.readouterr().err
        assert "oneDNN" not in err
        assert "a warning" in err and "something the module itself wrote" in err
        # Imported already: nothing is captured again.
        assert loading.import_filtering_logs("noisy_module_for_loading", 3) == 0
    finally:
        sys.modules.pop("noisy_module_for_loading", None)


def test_a_different_keras3r_is_forgotten_and_the_same_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # forget_other_keras3r() drops every keras3r module: this process's own
    # are put back afterwards, as they were.
    own = {n: m for n, m in sys.modules.items() if n == "keras3r" or n.startswith("keras3r.")}
    try:
        _forget_and_keep(tmp_path, monkeypatch)
    finally:
        sys.modules.update(own)


def _forget_and_keep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loading = _loading()
    shipped = tmp_path / "shipped"
    (shipped / "keras3r").mkdir(parents=True)
    (shipped / "keras3r" / "__init__.py").write_text("# another keras3r\n")
    fake = ModuleType("keras3r")
    fake.__file__ = str(PACKAGE / "__init__.py")
    monkeypatch.setitem(sys.modules, "keras3r", fake)
    monkeypatch.setitem(sys.modules, "keras3r.for_r", ModuleType("keras3r.for_r"))
    assert not loading.is_shipped_keras3r(str(shipped))
    assert loading.forget_other_keras3r(str(shipped)) is True
    assert "keras3r" not in sys.modules and "keras3r.for_r" not in sys.modules
    # The same files under another folder count as the shipped copy.
    monkeypatch.setitem(sys.modules, "keras3r", fake)
    assert loading.is_shipped_keras3r(str(PACKAGE.parent))
    assert loading.forget_other_keras3r(str(PACKAGE.parent)) is False
    assert sys.modules["keras3r"] is fake
    assert os.path.isdir(shipped)
