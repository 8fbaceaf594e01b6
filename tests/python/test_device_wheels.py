"""The wheels carried to a bare GPU machine must bring everything the image lacks.

bench/device_check.py's `wheels` check reads each carried wheel's
Requires-Dist and refuses a requirement that neither another carried wheel
nor the GPU image provides (there is no package index there to fetch it).
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("device_check", ROOT / "bench" / "device_check.py")
device_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_check)


def _wheel(folder: Path, name: str, *requires: str) -> None:
    meta = f"Metadata-Version: 2.1\nName: {name}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", meta)


def test_a_complete_set_passes(tmp_path, capsys):
    _wheel(tmp_path, "keras", "absl-py", "numpy", "namex", "optree",
           'typing-extensions>=4.12.0; python_version >= "3.13"', 'tensorflow; extra == "tf"')
    _wheel(tmp_path, "namex")
    _wheel(tmp_path, "optree", "typing_extensions>=4.6.0")
    assert device_check.check_wheels(tmp_path) == 0
    assert "needs met" in capsys.readouterr().out


def test_a_requirement_nobody_brings_is_named(tmp_path, capsys):
    _wheel(tmp_path, "keras", "numpy", "namex", "optree>=0.9")
    _wheel(tmp_path, "namex")
    assert device_check.check_wheels(tmp_path) == 1
    assert "keras-1.0-py3-none-any.whl needs optree>=0.9" in capsys.readouterr().err


def test_no_wheels_is_an_error(tmp_path, capsys):
    assert device_check.check_wheels(tmp_path) == 1
    assert "no wheels in" in capsys.readouterr().err
