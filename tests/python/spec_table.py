"""Reads tests/spec/family-signatures.md: the contract, as keras3 R 1.1.0 has it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SPEC_FILE = Path(__file__).resolve().parents[1] / "spec" / "family-signatures.md"
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
    for line in SPEC_FILE.read_text().splitlines():
        match = _ROW.match(line.strip())
        if match:
            fn, cls, formals = match.groups()
            found[fn] = Row(fn, cls, _split_formals(formals))
    return found
