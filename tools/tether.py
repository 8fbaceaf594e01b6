"""The tether: the Keras API that each spec entry was written against.

Every function in `py/keras3r/spec/` builds one Keras class and mirrors its
arguments and documentation.  A Keras release may add an argument, drop one,
change a default or reword what an argument does, and nothing in keras3r
would notice.  So each spec entry keeps a snapshot of its Keras class as it
was when the entry was last reviewed, `.tether/<function>.txt`: the class's
`__init__` signature, one parameter a line, and its docstring.

    .venv/bin/python tools/tether.py --update   # write a snapshot per spec entry
    .venv/bin/python tools/tether.py            # report differences, exit 1 if any

tests/python/test_tether.py compares every snapshot with the installed Keras
(a difference names the function and what changed) and the spec with its
snapshot: every Keras argument is in the spec with Keras's default, and an
argument whose documentation follows Keras's keeps every sentence of it.
Differences between the spec and Keras that were reviewed and kept are
listed, each with its reason, in `.tether/accepted.toml`; only new ones fail.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import importlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parents[1]
TETHER = ROOT / ".tether"
ACCEPTED = TETHER / "accepted.toml"
SUFFIX = ".txt"

HEADER = (
    "# The Keras API that keras3r's spec entry `{name}` was written against.\n"
    "# Written by `tools/tether.py --update`; tests/python/test_tether.py compares it\n"
    "# with the installed Keras. Review the spec before updating it.\n"
)

_INDENT = "    "


# --- Snapshots ---------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One parameter of the Keras constructor, as the snapshot writes it."""

    name: str
    kind: str  # "", "*" (var-positional), "**" (var-keyword), "kw" (keyword-only)
    default: str | None  # repr() of the default; None when it has none

    def line(self) -> str:
        if self.kind in ("*", "**"):
            return f"{self.kind}{self.name}"
        prefix = "kw " if self.kind == "kw" else ""
        suffix = "" if self.default is None else f" = {self.default}"
        return f"{prefix}{self.name}{suffix}"

    @classmethod
    def parse(cls, line: str) -> Parameter:
        if line.startswith("**"):
            return cls(line[2:], "**", None)
        if line.startswith("*"):
            return cls(line[1:], "*", None)
        kind = ""
        if line.startswith("kw "):
            kind, line = "kw", line[3:]
        name, sep, default = line.partition(" = ")
        return cls(name, kind, default if sep else None)


@dataclass(frozen=True)
class Snapshot:
    """What one snapshot file holds."""

    function: str
    keras_class: str  # "keras.optimizers.AdamW"
    keras_version: str
    parameters: tuple[Parameter, ...]
    docstring: str

    def text(self) -> str:
        lines = [
            HEADER.format(name=self.function),
            f"function: {self.function}",
            f"class: {self.keras_class}",
            f"keras: {self.keras_version}",
            "",
            "signature:",
            *(_INDENT + p.line() for p in self.parameters),
            "",
            "docstring:",
            *((_INDENT + line).rstrip() for line in self.docstring.splitlines()),
        ]
        return "\n".join(lines) + "\n"

    @property
    def by_name(self) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters}

    def argument_docs(self) -> dict[str, str]:
        return argument_docs(self.docstring)


def parse(text: str) -> Snapshot:
    """A snapshot file's text back into a Snapshot."""
    fields: dict[str, str] = {}
    sections: dict[str, list[str]] = {"signature": [], "docstring": []}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line in ("signature:", "docstring:"):
            current = sections[line[:-1]]
        elif current is not None:
            current.append(line[len(_INDENT) :] if line.startswith(_INDENT) else line)
        elif ": " in line:
            key, _, value = line.partition(": ")
            fields[key] = value
    signature = [line for line in sections["signature"] if line.strip()]
    return Snapshot(
        function=fields["function"],
        keras_class=fields["class"],
        keras_version=fields["keras"],
        parameters=tuple(Parameter.parse(line) for line in signature),
        docstring="\n".join(sections["docstring"]).strip("\n"),
    )


def keras_object(spec: Any) -> Any:
    """The Keras class (or function) that `spec` builds, from the installed Keras."""
    module_path, _, name = f"keras.{spec.keras_class}".rpartition(".")
    return getattr(importlib.import_module(module_path), name)


def _parameters(target: Any) -> tuple[Parameter, ...]:
    function = target.__init__ if inspect.isclass(target) else target
    out = []
    for p in inspect.signature(function).parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.VAR_POSITIONAL:
            out.append(Parameter(p.name, "*", None))
        elif p.kind is p.VAR_KEYWORD:
            out.append(Parameter(p.name, "**", None))
        else:
            default = None if p.default is p.empty else repr(p.default)
            kind = "kw" if p.kind is p.KEYWORD_ONLY else ""
            out.append(Parameter(p.name, kind, default))
    return tuple(out)


def live(spec: Any) -> Snapshot:
    """The snapshot that the installed Keras gives for `spec`."""
    import keras

    target = keras_object(spec)
    return Snapshot(
        function=spec.name,
        keras_class=f"keras.{spec.keras_class}",
        keras_version=str(keras.__version__),
        parameters=_parameters(target),
        # Trailing blanks are not kept in the file: not a difference either.
        docstring="\n".join(
            line.rstrip() for line in inspect.cleandoc(target.__doc__ or "").splitlines()
        ),
    )


def path_of(function: str) -> Path:
    return TETHER / f"{function}{SUFFIX}"


def stored(function: str) -> Snapshot | None:
    path = path_of(function)
    return parse(path.read_text(encoding="utf-8")) if path.exists() else None


# --- Docstrings ----------------------------------------------------------------


_ARG_LINE = re.compile(r"^    (\*{0,2}\w+)(?: \([^)]*\))?: ?(.*)$")


def argument_docs(docstring: str) -> dict[str, str]:
    """The `Args:` section of a Google-style docstring, one text per argument."""
    docs: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_args = False
    for line in docstring.splitlines():
        if line.rstrip() in ("Args:", "Arguments:"):
            in_args, current = True, None
            continue
        if not in_args:
            continue
        if line and not line.startswith(" "):  # the next section
            break
        match = _ARG_LINE.match(line)
        if match:
            current = docs.setdefault(match.group(1), [])
            current.append(match.group(2))
        elif current is not None and line.strip():
            current.append(line.strip())
    return {name: " ".join(" ".join(parts).split()) for name, parts in docs.items()}


# --- Snapshot against the installed Keras ------------------------------------------


def _short_diff(old: str, new: str, limit: int = 24) -> str:
    lines = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), "snapshot", "installed", n=1, lineterm=""
        )
    )
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)


def _sentence_diff(old: str, new: str) -> str:
    """What changed in one argument's text, sentence by sentence."""
    a, b = sentences(old), sentences(new)
    out = [f"    - {s}" for s in a if s not in b] + [f"    + {s}" for s in b if s not in a]
    return "\n".join(out) or f"    - {old}\n    + {new}"


def changes(old: Snapshot, new: Snapshot) -> list[str]:
    """How the installed Keras differs from the snapshot, one line (or block) per change.

    Empty when they agree. The Keras version alone is not a change: a release
    that leaves the class alone needs no review.
    """
    out = []
    if old.keras_class != new.keras_class:
        out.append(f"Keras class changed: {old.keras_class} -> {new.keras_class}")
    before, after = old.by_name, new.by_name
    for name in before.keys() - after.keys():
        out.append(f"argument removed: `{name}` (was `{before[name].line()}`)")
    for name in after.keys() - before.keys():
        out.append(f"argument added: `{after[name].line()}`")
    for name in before.keys() & after.keys():
        a, b = before[name], after[name]
        if a.default != b.default:
            out.append(f"default changed: `{name}` {a.default} -> {b.default}")
        if a.kind != b.kind:
            out.append(f"argument kind changed: `{a.line()}` -> `{b.line()}`")
    order_a = [n for n in before if n in after]
    order_b = [n for n in after if n in before]
    if order_a != order_b:
        out.append(f"argument order changed: {', '.join(order_a)} -> {', '.join(order_b)}")
    if old.docstring != new.docstring:
        docs_a, docs_b = old.argument_docs(), new.argument_docs()
        changed_args = []
        for name in sorted(docs_a.keys() | docs_b.keys()):
            if docs_a.get(name) != docs_b.get(name):
                changed_args.append(name)
                out.append(
                    f"documentation of `{name}` changed:\n"
                    + _sentence_diff(docs_a.get(name, ""), docs_b.get(name, ""))
                )
        rest_a = _without_args(old.docstring)
        rest_b = _without_args(new.docstring)
        if rest_a != rest_b or not changed_args:
            out.append("doc text changed:\n" + _short_diff(old.docstring, new.docstring))
    return sorted(out, key=_change_order)


def _change_order(change: str) -> int:
    for rank, start in enumerate(("Keras class", "argument", "default", "documentation", "doc")):
        if change.startswith(start):
            return rank
    return 9


def _without_args(docstring: str) -> str:
    """The docstring less its `Args:` section (compared apart, argument by argument)."""
    out, skipping = [], False
    for line in docstring.splitlines():
        if line.rstrip() in ("Args:", "Arguments:"):
            skipping = True
            continue
        if skipping and line and not line.startswith(" "):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


# --- The spec against the snapshot --------------------------------------------------


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"`(])")
# Words a sentence needs before sharing it counts as following Keras's text.
_SUBSTANTIAL = 5
_KERAS_WORDS = {"None": "NULL", "True": "TRUE", "False": "FALSE"}


def sentences(text: str) -> list[str]:
    """A text's sentences, whitespace collapsed."""
    text = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(text) if s]


def normalized(text: str) -> str:
    """Text as words only, Keras's Python literals spelled as the spec's R ones.

    Markup (backticks, emphasis, links) and `opt.method()` against
    `opt$method()` are not differences of substance.
    """
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    words = re.findall(r"[A-Za-z0-9_]+", text)
    return " ".join(_KERAS_WORDS.get(w, w) for w in words)


@dataclass(frozen=True)
class Difference:
    """One way in which the spec departs from the Keras API in its snapshot."""

    function: str
    argument: str
    kind: str  # "missing", "extra", "default" or "doc"
    keras: str  # Keras's side: its default, or the sentence the spec lacks
    spec: str = ""

    def describe(self) -> str:
        if self.kind == "missing":
            return f"{self.function}: Keras argument `{self.argument}` is not in the spec"
        if self.kind == "extra":
            return f"{self.function}: spec argument `{self.argument}` is not a Keras argument"
        if self.kind == "default":
            return (
                f"{self.function}: default of `{self.argument}` is {self.spec} in the spec, "
                f"{self.keras} in Keras"
            )
        return (
            f"{self.function}: Keras documents `{self.argument}` with a sentence the "
            f"spec lacks: {self.keras!r}"
        )


def _python_default(spec_arg: Any) -> str | None:
    if spec_arg.required:
        return None
    return repr(spec_arg.default)


def _same_default(spec_default: str | None, keras_default: str | None) -> bool:
    if spec_default == keras_default:
        return True
    try:  # 1 and 1.0 are the same default (R writes no integers without L)
        return float(spec_default or "x") == float(keras_default or "y")
    except ValueError:
        return False


def spec_differences(spec: Any, snapshot: Snapshot) -> list[Difference]:
    """Where the spec's arguments and their documentation depart from the snapshot.

    Arguments: every named Keras argument is in the spec, with Keras's
    default; a spec argument that Keras's signature lacks must be one that
    Keras takes through `**kwargs` and documents (LossScaleOptimizer passes
    the base optimizer's arguments on so).

    Documentation: an argument whose spec text carries at least two of
    Keras's sentences for it (of a few words at least: "Defaults to `1`."
    says nothing of authorship) follows Keras, as keras3 R's pages do; it must
    then carry every sentence of Keras's text, so that a sentence Keras adds
    is either brought into the spec or accepted with a reason. Arguments
    documented in keras3r's own words are not compared sentence by sentence.
    """
    out: list[Difference] = []
    ours = {a.name: a for a in spec.args}
    keras_params = {
        p.name: p for p in snapshot.parameters if p.kind not in ("*", "**")
    }
    for name, param in keras_params.items():
        arg = ours.get(name)
        if arg is None:
            out.append(Difference(spec.name, name, "missing", param.line()))
            continue
        default = _python_default(arg)
        if not _same_default(default, param.default):
            out.append(Difference(spec.name, name, "default", str(param.default), str(default)))
    keras_docs = snapshot.argument_docs()
    takes_kwargs = any(p.kind == "**" for p in snapshot.parameters)
    for name in ours.keys() - keras_params.keys():
        if not (takes_kwargs and name in keras_docs):
            out.append(Difference(spec.name, name, "extra", ""))
    for name, arg in ours.items():
        keras_doc = keras_docs.get(name)
        if not keras_doc:
            continue
        ours_text = normalized(arg.doc)
        theirs = sentences(keras_doc)
        kept = [s for s in theirs if normalized(s) in ours_text]
        if sum(len(normalized(s).split()) >= _SUBSTANTIAL for s in kept) < 2:
            continue  # written in keras3r's own words
        for sentence in theirs:
            if sentence not in kept:
                out.append(Difference(spec.name, name, "doc", sentence))
    return out


@dataclass
class Accepted:
    """One reviewed difference from `.tether/accepted.toml`."""

    functions: str  # a glob over function names
    argument: str
    kind: str
    keras: str
    reason: str
    used: bool = field(default=False, compare=False)

    def covers(self, difference: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(difference.function, self.functions)
            and self.argument == difference.argument
            and self.kind == difference.kind
            and (self.keras == "*" or self.keras == difference.keras)
        )


def accepted(path: Path = ACCEPTED) -> list[Accepted]:
    """The reviewed differences; each must give its reason."""
    if not path.exists():
        return []
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("difference", [])
    out = []
    for entry in entries:
        missing = {"functions", "argument", "kind", "keras", "reason"} - entry.keys()
        if missing or not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path.name}: entry {entry} needs {sorted(missing) or ['reason']}")
        keys = ("functions", "argument", "kind", "keras", "reason")
        out.append(Accepted(**{k: str(entry[k]) for k in keys}))
    return out


def unaccepted(differences: list[Difference], reviewed: list[Accepted]) -> list[Difference]:
    """The differences no reviewed entry covers (marking the entries that cover one)."""
    out = []
    for difference in differences:
        covering = [entry for entry in reviewed if entry.covers(difference)]
        for entry in covering:
            entry.used = True
        if not covering:
            out.append(difference)
    return out


# --- Command line ----------------------------------------------------------------


def _specs() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "py"))
    from keras3r.spec import SPECS

    return dict(SPECS)


def _shown(path: Path) -> str:
    return f"{TETHER.name}/{path.name}"


def update() -> list[str]:
    """Write a snapshot for every spec entry present now; drop the rest. Returns what changed."""
    specs = _specs()
    TETHER.mkdir(exist_ok=True)
    report = []
    for name, spec in specs.items():
        text = live(spec).text()
        path = path_of(name)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            path.write_text(text, encoding="utf-8")
            report.append(f"{'wrote' if old is None else 'updated'} {_shown(path)}")
    for path in sorted(TETHER.glob(f"*{SUFFIX}")):
        if path.stem not in specs:
            path.unlink()
            report.append(f"removed {_shown(path)} (no such spec entry)")
    return report


def check() -> list[str]:
    """Every problem the test would report, as text."""
    problems = []
    specs = _specs()
    reviewed = accepted()
    for name, spec in specs.items():
        snapshot = stored(name)
        if snapshot is None:
            problems.append(f"{name}: no snapshot; run tools/tether.py --update")
            continue
        for change in changes(snapshot, live(spec)):
            problems.append(f"{name}: Keras changed since the snapshot: {change}")
        for difference in unaccepted(spec_differences(spec, snapshot), reviewed):
            problems.append(difference.describe())
    for entry in reviewed:
        if not entry.used:
            problems.append(f"accepted.toml: entry no longer needed: {entry}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write the snapshots")
    args = parser.parse_args(argv)
    if args.update:
        for line in update() or ["snapshots already up to date"]:
            print(line)
        return 0
    problems = check()
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
