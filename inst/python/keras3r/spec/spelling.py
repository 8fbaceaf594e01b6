"""The spec's text, written once in R's spelling, as each language's docs read it.

The spec documents every function in roxygen markdown with R literals
(`NULL`, `TRUE`, `opt$method()`, `c(1, 2)`). The R help pages take it as it
is; the Python docstrings (keras3r.docs) and examples take it through
`python_code()`. A paragraph that only one language's readers need (R
functions called through reticulate, say) is marked with `only_in()`, and
`text_for()` gives each language its own paragraphs.
"""

from __future__ import annotations

import re

LANGUAGES = ("R", "Python")
_ONLY_IN = re.compile(r"^\[only in (R|Python)\] ")
_R_WORDS = {"NULL": "None", "TRUE": "True", "FALSE": "False"}


def only_in(language: str, paragraph: str) -> str:
    """`paragraph` marked for the docs of one language: the R help page or the docstring."""
    if language not in LANGUAGES or "\n\n" in paragraph:
        raise ValueError(f"only_in(): one paragraph, for one of {LANGUAGES}")
    return f"[only in {language}] {paragraph}"


def text_for(language: str, markdown: str) -> str:
    """`markdown` for one language's docs: the other's paragraphs dropped, marks removed."""
    if language not in LANGUAGES:
        raise ValueError(f"text_for(): `language` must be one of {LANGUAGES}, not {language!r}")
    kept = []
    for paragraph in markdown.split("\n\n"):
        mark = _ONLY_IN.match(paragraph)
        if mark is None or mark.group(1) == language:
            kept.append(paragraph[mark.end() :] if mark else paragraph)
    return "\n\n".join(kept)


def python_code(code: str) -> str:
    """An R code span in Python spelling: `NULL` is `None`, `c(1, 2)` is `[1, 2]`, `opt$x` is `opt.x`.

    Enough for the code the spec writes (literals, vectors of numbers, `$` for
    attributes, `name = value`), not a translator of R. A formula such as
    `rate = a * b` keeps its spaces: only a lone `name = value` is an argument.
    """
    code = re.sub(r"\b(NULL|TRUE|FALSE)\b", lambda m: _R_WORDS[m.group(1)], code)
    code = re.sub(r"\b(\d+)L\b", r"\1", code)  # 2000L is an R integer
    code = re.sub(r"\bc\(([^()]*)\)", r"[\1]", code)  # c(1, 2) is a vector
    code = code.replace("$", ".").replace(" ^ ", " ** ")
    return re.sub(r"^(\w+) = (\S+)$", r"\1=\2", code)  # a keyword argument


def python_call(call: str) -> str:
    """An R call in Python spelling: `f(x = c(1, 2), n = 5L)` -> `f(x=[1, 2], n=5)`."""
    return re.sub(r"\b(\w+) = ", r"\1=", python_code(call))
