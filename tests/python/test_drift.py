"""One source of truth: every generated copy must equal what the spec gives.

py/keras3r/family.py and R/<function>.R come from tools/generate.py; man/*.Rd
and NAMESPACE come from roxygen2 reading R/; inst/python/keras3r, the Python
module that the R package ships, is a copy of py/keras3r (`make inst-python`).
A hand edit of any of them, or a spec change without `make generate`, fails
here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import generate

ROOT = Path(__file__).resolve().parents[2]


def test_generated_python_and_r_match_the_spec() -> None:
    assert generate.drifted() == []


def _python_files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def shipped_copy_drift(root: Path) -> list[str]:
    """Files where root/inst/python/keras3r differs from root/py/keras3r, or exists in one only."""
    source = _python_files(root / "py" / "keras3r")
    shipped = _python_files(root / "inst" / "python" / "keras3r")
    names = source.keys() | shipped.keys()
    return sorted(name for name in names if source.get(name) != shipped.get(name))


def test_the_r_packages_python_module_is_py_keras3r() -> None:
    assert shipped_copy_drift(ROOT) == [], "run `make inst-python`"


def test_a_stale_or_extra_shipped_file_is_caught(tmp_path: Path) -> None:
    for folder in ("py/keras3r", "inst/python/keras3r"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    assert shipped_copy_drift(tmp_path) == []
    stale = tmp_path / "inst/python/keras3r/build.py"
    stale.write_text(stale.read_text() + "\n# edited\n")
    (tmp_path / "inst/python/keras3r/gone.py").write_text("")
    assert shipped_copy_drift(tmp_path) == ["build.py", "gone.py"]


def _copy_generated_tree(target: Path) -> None:
    for folder in ("R", "man", "py"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / folder, target / folder, ignore=ignore)
    for name in ("DESCRIPTION", "NAMESPACE", "LICENSE"):
        shutil.copy(ROOT / name, target / name)


@pytest.mark.parametrize(
    "edited",
    ["py/keras3r/family.py", "R/optimizer_adam_w.R", "R/learning_rate_schedule_cosine_decay.R"],
)
def test_a_hand_edit_of_a_generated_file_is_caught(tmp_path: Path, edited: str) -> None:
    _copy_generated_tree(tmp_path)
    assert generate.drifted(tmp_path) == []
    path = tmp_path / edited
    path.write_text(path.read_text().replace(" = ", " =  ", 1))
    assert generate.drifted(tmp_path) == [edited]


def test_a_broken_family_py_can_be_regenerated(tmp_path: Path) -> None:
    # Importing keras3r leaves family.py alone until a function is used, so
    # generate.py can import keras3r's spec and docs to rewrite a broken one.
    _copy_generated_tree(tmp_path)
    shutil.copytree(ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("*.pyc"))
    family = tmp_path / "py" / "keras3r" / "family.py"
    family.write_text("this is not Python (\n")
    script = str(tmp_path / "tools" / "generate.py")
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "wrote py/keras3r/family.py" in run.stdout
    assert family.read_text() == (ROOT / "py" / "keras3r" / "family.py").read_text()


def test_a_spec_change_without_regeneration_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_generated_tree(tmp_path)
    spec = generate.SPECS["optimizer_sgd"]
    changed = type(spec)(**{**spec.__dict__, "title": "Something else."})
    monkeypatch.setitem(generate.SPECS, "optimizer_sgd", changed)
    assert "R/optimizer_sgd.R" in generate.drifted(tmp_path)
    assert "py/keras3r/family.py" in generate.drifted(tmp_path)


def test_roxygen_output_matches_man_and_namespace(tmp_path: Path) -> None:
    """Re-run roxygen2 on a copy: the Rd pages and NAMESPACE must not change."""
    _copy_generated_tree(tmp_path)
    shutil.rmtree(tmp_path / "man")
    (tmp_path / "NAMESPACE").unlink()
    subprocess.run(
        ["Rscript", "-e",
         "suppressMessages(roxygen2::roxygenise(load_code = roxygen2::load_source))"],
        cwd=tmp_path, check=True, capture_output=True,
    )
    for rd in sorted((ROOT / "man").glob("*.Rd")):
        assert (tmp_path / "man" / rd.name).read_text() == rd.read_text(), rd.name
    assert sorted(p.name for p in (tmp_path / "man").glob("*.Rd")) == sorted(
        p.name for p in (ROOT / "man").glob("*.Rd")
    )
    assert (tmp_path / "NAMESPACE").read_text() == (ROOT / "NAMESPACE").read_text()
