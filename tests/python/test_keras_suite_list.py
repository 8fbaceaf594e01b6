"""The list of Keras tests that fail on stock Keras here stays readable and points at real tests.

tests/keras_suite/plugin.py runs Keras's own tests with keras3r's behaviour
and expects the listed ones to fail; an entry without a reason, for a backend
that does not exist, or for a test file that the installed keras wheel does
not ship would hide nothing useful and must not be there.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "keras_suite"
LIST = SUITE / "stock_failures.txt"
BACKENDS = {"tensorflow", "jax", "torch"}


def plugin():
    spec = importlib.util.spec_from_file_location("keras_suite_plugin", SUITE / "plugin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entries() -> list[tuple[str, str, str]]:
    found = []
    for raw in LIST.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            backends, test, reason = re.match(r"^(\S+)\s+(\S+)\s+#\s*(.*)$", line).groups()
            found.append((backends, test, reason))
    return found


def test_every_entry_names_backends_a_keras_test_and_a_reason():
    keras_dir = Path(importlib.util.find_spec("keras").origin).parent
    assert entries(), "the list is read by the plugin; an empty file means nothing is expected"
    for backends, test, reason in entries():
        assert backends == "*" or set(backends.split(",")) <= BACKENDS, backends
        path, _, name = test.partition("::")
        assert path.startswith("keras/src/") and name, test
        assert (keras_dir.parent / path).is_file(), f"{path} is not in the keras wheel"
        assert len(reason) > 10, f"{test}: say why it fails on stock Keras"


def test_the_plugin_reads_the_list_per_backend():
    module = plugin()
    for backend in BACKENDS:
        listed = module.read_failures(LIST, backend)
        expected = {t for b, t, _ in entries() if b == "*" or backend in b.split(",")}
        assert set(listed) == expected


def test_a_line_without_a_reason_is_refused(tmp_path):
    bad = tmp_path / "list.txt"
    bad.write_text("* keras/src/x_test.py::T::test_y\n", encoding="utf-8")
    with pytest.raises(pytest.UsageError, match="list.txt:1"):
        plugin().read_failures(bad, "jax")


def test_node_ids_are_read_from_keras_src_on():
    module = plugin()
    nodeid = ".venv/lib/python3.11/site-packages/keras/src/a/b_test.py::C::test_d"
    assert module.keras_test_id(nodeid) == "keras/src/a/b_test.py::C::test_d"
