"""The shape of the single source of truth.

Each public function is one `FunctionSpec`: its arguments in R order (with R's
default literals, exactly as keras3 R writes them), the place of R's `...`, the
Keras class it builds and its documentation.  The Python functions, the R
wrappers and the Rd pages are all derived from these objects.

Documentation text is roxygen markdown written with R literals (`NULL`, `TRUE`,
`FALSE`, `opt$method()`); `keras3r.docs` turns it into Python docstrings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keras3r.checks import Check

REQUIRED: Any = object()
"""Marks an argument without a default, in both languages."""

_R_INTEGER = re.compile(r"^-?\d+L$")
_R_STRING = re.compile(r'^"(.*)"$')


def python_default(r_literal: str | None) -> Any:
    """The Python value of an R default literal: `2000L` is an int, `1` a float."""
    if r_literal is None:
        return REQUIRED
    named = {"NULL": None, "TRUE": True, "FALSE": False}
    if r_literal in named:
        return named[r_literal]
    string = _R_STRING.match(r_literal)
    if string:
        return string.group(1)
    if _R_INTEGER.match(r_literal):
        return int(r_literal[:-1])
    return float(r_literal)


@dataclass(frozen=True)
class Arg:
    """One argument: name, R default literal (None when required), check, doc."""

    name: str
    r_default: str | None
    check: Check
    doc: str

    @property
    def default(self) -> Any:
        return python_default(self.r_default)

    @property
    def required(self) -> bool:
        return self.r_default is None


@dataclass(frozen=True)
class FunctionSpec:
    """One keras3r function, identical in R and Python."""

    name: str
    keras_class: str  # dotted path below `keras`, e.g. "optimizers.AdamW"
    family: str  # roxygen @family name: "optimizers" or "learning rate schedules"
    title: str
    description: str
    args: tuple[Arg, ...]
    value: str
    example: str  # R code; the Python docstring shows its Python twin
    python_example: str
    dots_at: int | None = None  # index of R's `...` among args; None: no `...`
    dots_doc: str = ""
    references: tuple[str, ...] = ()
    details: str = ""
    # optimizer_loss_scale: arguments after `...` reach Keras only when not NULL.
    pass_after_dots_only_when_given: bool = False
    # Cross-argument rules, run once every argument passed its own check; each
    # takes the checked values by name and raises ArgumentError.
    rules: tuple[Callable[[dict[str, Any]], None], ...] = field(default=())

    def __post_init__(self) -> None:
        names = [a.name for a in self.args]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate argument names")

    @property
    def before_dots(self) -> tuple[Arg, ...]:
        return self.args if self.dots_at is None else self.args[: self.dots_at]

    @property
    def after_dots(self) -> tuple[Arg, ...]:
        return () if self.dots_at is None else self.args[self.dots_at :]

    def r_formals(self) -> list[str]:
        """Formals as R prints them in a usage block, `...` in its place."""
        out = [a.name if a.required else f"{a.name} = {a.r_default}" for a in self.before_dots]
        if self.dots_at is not None:
            out.append("...")
            out += [f"{a.name} = {a.r_default}" for a in self.after_dots]
        return out

    def r_signature(self) -> str:
        return "(" + ", ".join(self.r_formals()) + ")"

    def arg(self, name: str) -> Arg:
        """The argument called `name` (tests read each argument's check by name)."""
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)
