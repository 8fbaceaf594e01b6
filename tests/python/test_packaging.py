"""keras3r as Python users get it: the sdist and the wheel, their metadata, typing, one version.

`python -m build` (the .venv's setuptools, --no-isolation, so nothing is
downloaded) builds both archives from this checkout into a temporary folder
once; the tests read them. The archives must hold the Python package and
nothing of the R package or of the tests; the generated family.py and the
spec/ data must be in the wheel, with the py.typed marker that lets type
checkers read keras3r's annotations. The metadata must pass twine's check,
state the license as an SPDX expression, and allow NumPy 1 and 2 alike: the
`numpy<2` pin is the R side's (reticulate 1.28) and lives in the environments
R runs, not here. The Python and the R package share one version number.

The last test runs in both test environments: in the .venv (keras3r installed
editable from py/) and in .venv-user (`make test-python-user`, keras3r from a
wheel), where KERAS3R_INSTALLED_WHEEL=1 says so and the test proves that the
suite there imports the installed copy, not py/.
"""

from __future__ import annotations

import email.parser
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

import keras3r

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "py" / "keras3r"


def description_version() -> str:
    """The R package's version, from DESCRIPTION."""
    found = re.search(r"^Version:\s*(\S+)\s*$", (ROOT / "DESCRIPTION").read_text(), re.M)
    assert found, "DESCRIPTION has no Version line"
    return found.group(1)


def package_files() -> set[str]:
    """py/keras3r's files that belong in the package, relative to py/."""
    return {
        p.relative_to(PACKAGE.parent).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix in (".py", ".typed") and "__pycache__" not in p.parts
    }


class Built:
    def __init__(self, out: Path, log: str) -> None:
        self.log = log
        wheels = sorted(out.glob("*.whl"))
        sdists = sorted(out.glob("*.tar.gz"))
        assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
        self.wheel, self.sdist = wheels[0], sdists[0]

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as z:
            return z.namelist()

    def wheel_metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as z:
            (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
            return email.parser.Parser().parsestr(z.read(name).decode())

    def sdist_names(self) -> list[str]:
        with tarfile.open(self.sdist) as t:
            return [m.name for m in t.getmembers() if m.isfile()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return Built(out, log)


def test_the_wheel_holds_the_python_package_and_nothing_else(built):
    version = keras3r.__version__
    names = built.wheel_names()
    dist_info = f"keras3r-{version}.dist-info/"
    assert built.wheel.name == f"keras3r-{version}-py3-none-any.whl"
    others = [n for n in names if not n.startswith(("keras3r/", dist_info))]
    assert not others, f"the wheel holds more than the Python package: {others}"
    shipped = {n for n in names if n.startswith("keras3r/")}
    expected = package_files()
    # The generated functions, the spec they come from and the typing marker.
    assert {"keras3r/family.py", "keras3r/py.typed", "keras3r/spec/__init__.py"} <= expected
    assert shipped == expected, (
        f"missing from the wheel: {sorted(expected - shipped)}; "
        f"in the wheel, not in py/keras3r: {sorted(shipped - expected)}"
    )
    assert f"{dist_info}licenses/LICENSE" in names


def test_the_sdist_holds_the_python_package_and_nothing_else(built):
    root = f"keras3r-{keras3r.__version__}/"
    names = built.sdist_names()
    assert all(n.startswith(root) for n in names), names
    inside = {n[len(root):] for n in names}
    # What setuptools adds to any sdist: its metadata, the build configuration,
    # the readme and the license.
    extras = {"PKG-INFO", "pyproject.toml", "setup.cfg", "README.md", "LICENSE"}
    package = {n for n in inside if n.startswith("py/keras3r/")}
    egg_info = {n for n in inside if n.startswith("py/keras3r.egg-info/")}
    expected = {f"py/{n}" for n in package_files()}
    assert package == expected, sorted(package ^ expected)
    others = inside - package - egg_info - extras
    assert not others, f"the sdist holds more than the Python package: {sorted(others)}"
    # Nothing of the R package or of the tests, by name too.
    for r_or_tests in ("DESCRIPTION", "NAMESPACE", "R/", "man/", "tests/", "inst/", "vignettes/"):
        assert not any(n.startswith(r_or_tests) for n in inside), r_or_tests


def test_the_metadata_is_what_python_users_expect(built):
    meta = built.wheel_metadata()
    assert meta["Name"] == "keras3r"
    assert meta["Version"] == keras3r.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert "License" not in meta, "the license is given twice (the old License field too)"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    assert meta["Description-Content-Type"] == "text/markdown"
    needs = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    always = {r.name: r for r in needs if r.marker is None}
    assert set(always) == {"keras", "numpy"}, sorted(always)
    # NumPy 1 and 2 alike: no R-side pin in what Python users install.
    numpy = always["numpy"].specifier
    for version in ("1.26.4", "2.0.2", "2.4.6"):
        assert numpy.contains(version), f"numpy {version} is refused by {numpy}"
    assert always["keras"].specifier.contains("3.15.1")
    # R's bridge is no Python user's business, not even as an extra.
    assert not [r for r in needs if r.name == "rpy2"]
    # The changelog is R's NEWS.md, which the reference site shows too.
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL"))
    assert urls["Changelog"].endswith("/NEWS.md"), urls
    assert (ROOT / "NEWS.md").read_text().startswith(f"# keras3r {keras3r.__version__}\n")


def test_twine_accepts_both_archives(built):
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(built.wheel), str(built.sdist)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert out.count("PASSED") == 2, out


def test_the_build_warns_of_nothing_deprecated(built):
    deprecated = [line for line in built.log.splitlines() if "deprecat" in line.lower()]
    assert not deprecated, "\n".join(deprecated)


def test_python_and_r_share_one_version_number(built):
    """pyproject.toml reads keras3r.__version__; DESCRIPTION must say the same."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert built.wheel_metadata()["Version"] == keras3r.__version__
    assert description_version() == keras3r.__version__, (
        f"DESCRIPTION says Version: {description_version()}, keras3r.__version__ is "
        f"{keras3r.__version__!r}: change both together"
    )


USER_SCRIPT = """\
from keras3r import learning_rate_schedule_cosine_decay, optimizer_adam_w

opt = optimizer_adam_w(learning_rate=learning_rate_schedule_cosine_decay(1e-3, 1000))
reveal_type(opt)
reveal_type(learning_rate_schedule_cosine_decay(1e-3, 1000))
optimizer_adam_w(learning_rate="fast")
"""
# Keras ships no py.typed: mypy reads only the parts of it that keras3r's
# annotations name (its top-level module and the optimizers), and skips the
# rest, so the run takes seconds rather than a type check of all of Keras.
MYPY_CONFIG = """\
[mypy]
follow_imports = silent
cache_dir = /dev/null
[mypy-keras.*]
follow_untyped_imports = True
follow_imports = skip
[mypy-keras,keras.optimizers,keras.optimizers.*,keras.src.optimizers.*]
follow_untyped_imports = True
follow_imports = silent
"""


def run_mypy(site: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """mypy over USER_SCRIPT, with `site` (an unpacked wheel) first on the path."""
    (work / "user.py").write_text(USER_SCRIPT)
    (work / "mypy.ini").write_text(MYPY_CONFIG)
    # mypy reads the module search path of this Python, where PYTHONPATH comes
    # before the .venv's editable py/: an installed package (not the user's
    # own code) is read only if it has a py.typed marker.
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "-v", "user.py"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_mypy_reads_the_annotations_of_the_installed_wheel(built, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(built.wheel) as z:
        z.extractall(site)
    done = run_mypy(site, tmp_path)
    report = done.stdout
    assert f"Parsing {site}/keras3r/family.py (keras3r.family)" in done.stderr, done.stderr[-3000:]
    revealed = re.findall(r'user\.py:(\d+): note: Revealed type is "([^"]+)"', report)
    assert revealed == [
        ("4", "keras.src.optimizers.adamw.AdamW"),
        ("5", "keras.src.optimizers.schedules.learning_rate_schedule.CosineDecay"),
    ], report
    # The annotations check calls too: a string is no learning rate.
    assert re.search(
        r'user\.py:6: error: Argument "learning_rate" to "optimizer_adam_w" has '
        r'incompatible type "str"',
        report,
    ), report
    assert done.returncode == 1 and "Found 1 error in 1 file" in report, report

    # Without the marker mypy passes the wheel's copy by: py.typed is what
    # makes it read keras3r at all.
    (site / "keras3r" / "py.typed").unlink()
    bare = run_mypy(site, tmp_path)
    assert f"{site}/keras3r/family.py" not in bare.stderr


def test_keras3r_is_imported_from_where_this_environment_installed_it():
    """The .venv runs py/ (editable); .venv-user runs the installed wheel, never py/."""
    where = Path(keras3r.__file__).resolve()
    if os.environ.get("KERAS3R_INSTALLED_WHEEL") == "1":
        site = Path(sysconfig.get_paths()["purelib"]).resolve()
        assert where.is_relative_to(site), f"{where} is not under {site}"
        assert not where.is_relative_to(ROOT / "py"), where
        assert Path(sys.prefix).resolve() != Path(sys.base_prefix).resolve(), "not a venv"
        import importlib.metadata

        dist = importlib.metadata.distribution("keras3r")
        direct = dist.read_text("direct_url.json") or ""
        assert '"editable": true' not in direct, direct
        assert dist.version == keras3r.__version__ == description_version()
    else:
        assert where == PACKAGE / "__init__.py", where
