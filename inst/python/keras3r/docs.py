"""Python docstrings from the spec's documentation.

The spec documents every function once, in roxygen markdown with R literals.
Here that text becomes a Google-style docstring in which the code speaks
Python: `NULL` is `None`, `TRUE` is `True`, `opt$method()` is `opt.method()`.
The Rd pages are made from the same text by roxygen2 (see tools/generate.py).
A paragraph marked for one language (`keras3r.spec.spelling.only_in`) reaches
that language's docs alone.
"""

from __future__ import annotations

import re
import textwrap

from keras3r.spec import FunctionSpec, family_of
from keras3r.spec.spelling import python_code, text_for

_CODE_SPAN = re.compile(r"`([^`]+)`")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_RD_LINK = re.compile(r"\[([A-Za-z0-9_.]+\(\))\]")
_AUTOLINK = re.compile(r"<(https?://[^>]+)>")


def python_text(markdown: str) -> str:
    """Roxygen markdown with R literals -> plain text with Python literals.

    Paragraphs marked for R's help pages alone (`only_in("R", ...)`) are left out.
    """
    text = _MD_LINK.sub(r"\1 (\2)", text_for("Python", markdown))
    text = _RD_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    return _CODE_SPAN.sub(lambda m: "`" + python_code(m.group(1)) + "`", text)


def _fill(text: str, indent: str) -> str:
    paragraphs = [p for p in python_text(text).split("\n\n") if p.strip()]
    return "\n\n".join(
        textwrap.fill(p, width=80, initial_indent=indent, subsequent_indent=indent)
        for p in paragraphs
    )


def _arg_entry(name: str, doc: str) -> str:
    body = textwrap.fill(
        python_text(doc), width=80, initial_indent=" " * 8, subsequent_indent=" " * 8
    )
    return f"    {name}:\n{body}"


def docstring(spec: FunctionSpec) -> str:
    """The whole docstring of one generated function."""
    parts = [python_text(spec.title), _fill(spec.description, "")]
    if spec.details:
        parts.append(_fill(spec.details, ""))
    entries = [_arg_entry(a.name, a.doc) for a in spec.before_dots]
    if spec.after_dots:
        entries.append(
            "    (R's `...` sits here: the arguments below are keyword-only in Python.)"
        )
        entries += [_arg_entry(a.name, a.doc) for a in spec.after_dots]
    if spec.dots_at is not None:
        entries.append(_arg_entry("**kwargs", spec.dots_doc))
    parts.append("Args:\n" + "\n".join(entries))
    parts.append("Returns:\n" + _fill(spec.value, "    "))
    if spec.references:
        items = (
            textwrap.fill(python_text(r), 80, initial_indent="    - ", subsequent_indent="      ")
            for r in spec.references
        )
        parts.append("References:\n" + "\n".join(items))
    see_also = textwrap.fill(
        ", ".join(f"{name}()" for name in family_of(spec)), width=80, initial_indent="    ",
        subsequent_indent="    ",
    )
    parts.append(f"See Also:\n    Other {spec.family}:\n{see_also}")
    parts.append("Examples:\n" + textwrap.indent(spec.python_example, "    "))
    return "\n\n".join(parts) + "\n"
