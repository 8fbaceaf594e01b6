"""The documentation: the Rd page against the seed page, and docstrings against Rd."""

from __future__ import annotations

import copy
import doctest
import inspect
import io
import re
from pathlib import Path

import pytest

import keras3r
import keras3r.family
import render_docs
from keras3r.docs import docstring, python_text
from keras3r.spec import SPECS
from keras3r.spec.shared import RATE_FUNCTION_DETAILS
from keras3r.spec.spelling import text_for

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "spec" / "optimizer_adam_w.seed.txt"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every man page as R's HTML help renders it, read as plain text."""
    out = tmp_path_factory.mktemp("html")
    render_docs.render_html(sorted(SPECS), out)
    return {name: render_docs.html_to_text((out / f"{name}.html").read_text()) for name in SPECS}


def _drop_footer(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("[Package "))


def _paragraphs(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", p).strip() for p in text.split("\n\n") if p.strip()]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _arguments(section: str) -> list[tuple[str, str]]:
    """The Arguments section as (name, text) pairs: they alternate, block by block."""
    blocks = _paragraphs(section)
    return list(zip(blocks[::2], blocks[1::2]))


def test_rd_page_reproduces_the_seed_page_section_by_section(rendered: dict[str, str]) -> None:
    seed = render_docs.sections(_drop_footer(SEED.read_text()))
    ours = render_docs.sections(_drop_footer(rendered["optimizer_adam_w"]))
    assert ours["header"] == seed["header"].replace("{keras3}", "{keras3r}")
    assert ours["title"] == seed["title"] == "Optimizer that implements the AdamW algorithm."
    assert _paragraphs(ours["Description"]) == _paragraphs(seed["Description"])
    assert ours["Usage"].splitlines() == seed["Usage"].splitlines()
    assert _arguments(ours["Arguments"]) == _arguments(seed["Arguments"])
    assert len(_arguments(ours["Arguments"])) == 16
    assert ours["Value"] == seed["Value"] == "an Optimizer instance"
    # Functions that keras3r has beyond keras3 1.1.0 join the list in order.
    newer = {f"{name}()" for name in SPECS} - set(_lines(seed["See Also"])) - {"optimizer_adam_w()"}
    assert [line for line in _lines(ours["See Also"]) if line not in newer] == _lines(
        seed["See Also"]
    )
    # The seed's References heading is empty; ours lists the papers.
    assert "References" in seed and "Loshchilov" in ours["References"]


def _python_words(text: str) -> list[str]:
    """Words of a text with R spellings mapped to Python ones, markup ignored."""
    text = re.sub(r"\b(\d+)L\b", r"\1", text)
    text = re.sub(r"\(?https?://[^\s)]+\)?", "", text)  # docstrings spell out link targets
    words = re.findall(r"[A-Za-z0-9_]+", text)
    mapping = {"NULL": "None", "TRUE": "True", "FALSE": "False"}
    return [mapping.get(w, w) for w in words if w != "c"]


def _docstring_arguments(doc: str) -> dict[str, str]:
    section = doc.split("\nArgs:\n", 1)[1].split("\nReturns:\n", 1)[0]
    entries = re.findall(r"^    (\*\*kwargs|\w+):\n((?:        .*\n?)+)", section, re.M)
    return {name: " ".join(body.split()) for name, body in entries}


def _only_in(language: str, markdown: str) -> list[str]:
    """The paragraphs of `markdown` that reach `language`'s docs alone."""
    other = {"R": "Python", "Python": "R"}[language]
    shared = set(text_for(other, markdown).split("\n\n"))
    return [p for p in text_for(language, markdown).split("\n\n") if p not in shared]


def _without(words: list[str], run: list[str]) -> list[str]:
    """`words` less one occurrence of the consecutive words `run`, which must be there."""
    for i in range(len(words) - len(run) + 1):
        if words[i : i + len(run)] == run:
            return words[:i] + words[i + len(run) :]
    raise AssertionError(f"not found: {' '.join(run)}")


def _shared(words: list[str], language: str, markdown: str) -> list[str]:
    """`words` of `language`'s docs of `markdown`, less the paragraphs for that language alone."""
    for paragraph in _only_in(language, markdown):
        words = _without(words, _python_words(python_text(paragraph)))
    return words


@pytest.mark.parametrize("name", sorted(SPECS))
def test_docstring_says_what_the_man_page_says(name: str, rendered: dict[str, str]) -> None:
    spec = SPECS[name]
    doc = inspect.getdoc(getattr(keras3r, name)) + "\n"
    assert doc == docstring(spec)
    page = render_docs.sections(_drop_footer(rendered[name]))
    assert doc.splitlines()[0] == page["title"]
    described = _python_words(" ".join(doc.split("\nArgs:\n")[0].splitlines()[1:]))
    on_page = _python_words(page["Description"] + "\n\n" + page.get("Details", ""))
    # Each language's own paragraphs aside, both say the same.
    assert _shared(described, "Python", spec.details) == _shared(on_page, "R", spec.details)
    in_rd = dict(_arguments(page["Arguments"]))
    in_doc = _docstring_arguments(doc)
    if "..." in in_rd:
        in_rd["**kwargs"] = in_rd.pop("...")
    assert sorted(in_doc) == sorted(in_rd), "every argument documented on both sides"
    docs = {a.name: a.doc for a in spec.args} | {"**kwargs": spec.dots_doc}
    for argument, text in in_rd.items():
        in_python = _shared(_python_words(in_doc[argument]), "Python", docs[argument])
        assert in_python == _shared(_python_words(text), "R", docs[argument]), argument
    returns = doc.split("\nReturns:\n", 1)[1].split("\n\n", 1)[0]
    assert _python_words(returns) == _python_words(page["Value"])


def test_a_learning_rate_function_is_explained_in_each_language(
    rendered: dict[str, str],
) -> None:
    # R's page: an R function through reticulate; the docstring: a Python callable.
    optimizers = [n for n, s in SPECS.items() if RATE_FUNCTION_DETAILS in s.details]
    assert len(optimizers) == 14  # every optimizer but the loss-scale and multi ones
    for name in optimizers:
        details = render_docs.sections(_drop_footer(rendered[name]))["Details"]
        doc = getattr(keras3r, name).__doc__
        assert "reticulate" in details and "compile(run_eagerly = TRUE)" in details, name
        assert "reticulate" not in doc and "R function" not in doc, name
        assert "model.compile(run_eagerly=True)" in doc and "Keras variable" in doc, name


def test_docstrings_speak_python() -> None:
    for name in SPECS:
        doc = getattr(keras3r, name).__doc__
        for code in re.findall(r"`([^`]+)`", doc):
            assert not re.search(r"\b(NULL|TRUE|FALSE)\b|\$", code), (name, code)


_DOCTESTS = {
    test.name.rpartition(".")[2]: test
    for test in doctest.DocTestFinder().find(keras3r.family)
    if test.examples
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_python_example_is_a_doctest_that_passes(name: str) -> None:
    # What `pytest --doctest-modules py/keras3r/family.py` runs, one test per function.
    test = _DOCTESTS[name]
    assert sum(bool(example.want) for example in test.examples) >= 1, "shows no output"
    report = io.StringIO()
    result = doctest.DocTestRunner().run(copy.copy(test), out=report.write)
    assert result.failed == 0, report.getvalue()
