"""Reads the contract files: tests/spec/family-signatures.md (keras3 R 1.1.0's
family) and tests/spec/newest-signatures.md (the optimizers added since)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parents[1] / "spec"
SPEC_FILES = (SPEC_DIR / "family-signatures.md", SPEC_DIR / "newest-signatures.md")
_ROW = re.compile(r"^\| (\w+) \| (\w+) \| `\((.*)\)` \|$")


@dataclass(frozen=True)
class Row:
    function: str
    keras_class: str
    formals: list[tuple[str, str | None]]  # (name, R literal or None); "..." has None


def _split_formals(text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for part in re.split(r",\s+(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", text):
        name, sep, literal = part.partition(" = ")
        out.append((name.strip(), literal.strip() if sep else None))
    return out


def rows() -> dict[str, Row]:
    found = {}
    for spec_file in SPEC_FILES:
        for line in spec_file.read_text().splitlines():
            match = _ROW.match(line.strip())
            if match:
                fn, cls, formals = match.groups()
                assert fn not in found, f"{fn} is in two contract files"
                found[fn] = Row(fn, cls, _split_formals(formals))
    return found
