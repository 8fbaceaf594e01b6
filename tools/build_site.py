"""The reference site in both languages: `make docs` and tests/python/test_site.py run it.

    python tools/build_site.py --out build/site

1. pkgdown builds the R site (every Rd page with its examples run, the
   articles, NEWS.md as the changelog), offline.
2. Every reference page gets its Python view from the same spec: the usage as
   `inspect.signature()` gives it, the text in Python's spelling
   (keras3r.spec.spelling) and the doctests of py/keras3r/family.py, run here,
   with the output they printed. Each block is marked `data-lang="r"` or
   `data-lang="py"`; pkgdown/lang.js shows the reader's language.
3. The search: the scripts pkgdown's template loads from a CDN (fuse.js,
   autocomplete.js, mark.js), installed with npm at the versions the template
   names and checked against its integrity hashes, are served from the site,
   with an index of both languages' text in a script (a page opened from
   file:// cannot fetch a JSON file).
"""

from __future__ import annotations

import argparse
import base64
import doctest
import hashlib
import html
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))

from markdown_it import MarkdownIt  # noqa: E402

from keras3r.spec import SPECS, FunctionSpec  # noqa: E402
from keras3r.spec.spelling import python_code, text_for  # noqa: E402

NPM_DIR = ROOT / "build" / "npm"
SEARCH_DEPS = "deps/search"
LANG_ATTR = "data-lang"


# -- 1. pkgdown -----------------------------------------------------------------------------


def build_r_site(out: Path) -> None:
    script = (
        "options(pkgdown.internet = FALSE); "
        f"pkgdown::build_site({str(ROOT)!r}, preview = FALSE, "
        f"override = list(destination = {str(out)!r}))"
    )
    # The Python article's chunks run in RETICULATE_PYTHON: this Python unless it is set.
    env = {"RETICULATE_PYTHON": sys.executable, **os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(["Rscript", "-e", script], cwd=ROOT, capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        raise SystemExit("pkgdown failed:\n" + done.stdout[-4000:] + done.stderr[-4000:])


# -- 2. the Python view of each reference page ------------------------------------------------


def rd_aliases() -> dict[str, str]:
    """Every alias an Rd page defines -> the page's file name (`plain` -> `plain.html`)."""
    found = {}
    for rd in sorted((ROOT / "man").glob("*.Rd")):
        for alias in re.findall(r"^\\alias\{(.+)\}$", rd.read_text(), flags=re.M):
            found[alias] = rd.stem + ".html"
    return found


def python_markdown(markdown: str, pages: dict[str, str], python_names: set[str]) -> str:
    """Spec markdown (R spelling) -> HTML in Python's spelling, linking keras3r's own pages."""
    text = text_for("Python", markdown)

    def link(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in python_names and name in pages:
            return f"[`{name}()`]({pages[name]})"
        return f"`{name}()`"

    text = re.sub(r"\[([A-Za-z0-9_.]+)\(\)\]", link, text)
    text = re.sub(r"`([^`]+)`", lambda m: "`" + python_code(m.group(1)) + "`", text)
    return MarkdownIt("commonmark").enable("table").render(text)


def python_signature(name: str, function: object) -> str:
    """The call as `inspect.signature()` shows it, one argument a line, annotations unquoted."""
    signature = inspect.signature(function)  # type: ignore[arg-type]
    lines = []
    previous = None
    for parameter in signature.parameters.values():
        kind = parameter.kind
        if kind is parameter.KEYWORD_ONLY and previous not in (kind, parameter.VAR_POSITIONAL):
            lines.append("*")
        text = str(parameter.replace(annotation=parameter.empty, default=parameter.empty))
        if parameter.annotation is not parameter.empty:
            annotation = parameter.annotation
            text += ": " + (annotation if isinstance(annotation, str)
                            else inspect.formatannotation(annotation))
        if parameter.default is not parameter.empty:
            text += (" = " if parameter.annotation is not parameter.empty else "=")
            text += repr(parameter.default)
        lines.append(text)
        previous = kind
    returns = signature.return_annotation
    tail = "" if returns is signature.empty else f" -> {returns}"
    if not lines:
        return f"keras3r.{name}(){tail}"
    return f"keras3r.{name}(\n" + "".join(f"    {line},\n" for line in lines) + f"){tail}"


class _Recorder(doctest.DocTestRunner):
    """A doctest runner that keeps what each example printed, matched or not."""

    def __init__(self) -> None:
        super().__init__(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        self.got: list[tuple[doctest.Example, str]] = []
        self.failed: list[str] = []

    def report_success(self, out, test, example, got) -> None:  # noqa: ANN001
        self.got.append((example, got))

    def report_failure(self, out, test, example, got) -> None:  # noqa: ANN001
        self.got.append((example, got))
        self.failed.append(f"{test.name}: {example.source.strip()}\n"
                           f"  expected {example.want!r}, got {got!r}")

    def report_unexpected_exception(self, out, test, example, exc_info) -> None:  # noqa: ANN001
        shown = "".join(traceback.format_exception_only(*exc_info[:2]))
        self.got.append((example, "Traceback (most recent call last):\n  ...\n" + shown))
        self.failed.append(f"{test.name}: {example.source.strip()}\n  raised {shown.strip()}")


def run_doctests(function: object, globs: dict[str, object]) -> str:
    """A function's doctests, run now: the session as a reader would see it."""
    import keras

    keras.utils.set_random_seed(1)
    tests = doctest.DocTestFinder(recurse=False).find(function, globs=dict(globs))
    runner = _Recorder()
    for test in tests:
        runner.run(test, clear_globs=False)
    if runner.failed:
        raise SystemExit("a Python example printed what its doctest does not say:\n"
                         + "\n".join(runner.failed))
    lines = []
    for example, got in runner.got:
        source = example.source.rstrip("\n").split("\n")
        lines.append(">>> " + source[0])
        lines += ["... " + line for line in source[1:]]
        if got:
            lines.append(got.rstrip("\n"))
    return "\n".join(lines)


def code_block(text: str) -> str:
    return (f'<div class="sourceCode"><pre class="sourceCode python"><code>'
            f"{html.escape(text)}</code></pre></div>")


@dataclass
class PythonView:
    """What a page's sections say in Python, by section id ("" is the description)."""

    sections: dict[str, str] = field(default_factory=dict)
    note: str = ""           # shown above the page in Python
    r_only: set[str] = field(default_factory=set)  # sections with nothing to say in Python


def spec_view(spec: FunctionSpec, function: object, globs: dict[str, object],
              pages: dict[str, str], python_names: set[str]) -> PythonView:
    def md(text: str) -> str:
        return python_markdown(text, pages, python_names)

    def entry(name: str, doc: str) -> str:
        return f"<dt>{html.escape(name)}</dt>\n<dd>{md(doc)}</dd>\n"

    arguments = "".join(entry(a.name, a.doc) for a in spec.before_dots)
    if spec.after_dots:
        arguments += ('<dt>*</dt>\n<dd><p>Where R has <code>...</code>: the arguments after it '
                      "are keyword-only in Python.</p></dd>\n")
        arguments += "".join(entry(a.name, a.doc) for a in spec.after_dots)
    if spec.dots_at is not None:
        arguments += entry("**kwargs", spec.dots_doc)
    view = PythonView()
    view.sections[""] = md(spec.description)
    view.sections["ref-usage"] = code_block(python_signature(spec.name, function))
    view.sections["arguments"] = f"<dl>{arguments}</dl>"
    view.sections["value"] = md(spec.value)
    if spec.details:
        view.sections["details"] = md(spec.details)
    view.sections["ref-examples"] = code_block(run_doctests(function, globs))
    return view


def docstring_view(names: list[str], functions: dict[str, object]) -> PythonView:
    """A page that roxygen writes by hand for R: Python's signatures and docstrings."""
    view = PythonView()
    view.sections["ref-usage"] = "\n".join(
        code_block(python_signature(n, functions[n])) for n in names)
    view.sections[""] = "\n".join(
        f"<h3><code>keras3r.{n}()</code></h3>\n"
        f'<pre class="python-docstring">{html.escape(inspect.getdoc(functions[n]) or "")}</pre>'
        for n in names)
    view.r_only = {"arguments", "value", "details", "ref-examples", "see-also"}
    return view


def r_only_view(topic: str) -> PythonView:
    return PythonView(note=(
        f"<p><code>{html.escape(topic)}</code> is part of the R package alone: in Python, "
        "<code>pip install keras3r</code> sets keras3r up, and its functions are those of "
        "the optimizer and schedule pages. This page stays in R.</p>"))


_SECTION = re.compile(r'<div class="(?:ref-description )?section level2">')
_H2 = re.compile(r'\s*<h2 id="([^"]+)">.*?</h2>', re.S)


def _both(r_html: str, py_html: str) -> str:
    return (f'<div {LANG_ATTR}="r">{r_html}</div>\n'
            f'<div {LANG_ATTR}="py" hidden>{py_html}</div>\n')


def add_python_view(page: str, view: PythonView) -> str:
    """`page` with each section that reads differently in Python given both versions."""
    if f"{LANG_ATTR}=" in page:
        raise SystemExit("a page given its Python view twice: pkgdown did not rewrite it")
    start = page.index('<main id="main"')
    start = page.index(">", start) + 1
    end = page.index("</main>", start)
    chunks = re.split(r'(?=<div class="(?:ref-description )?section level2">)',
                      page[start:end])
    out = [chunks[0]]
    if view.note:
        out.append(f'<div {LANG_ATTR}="py" hidden class="alert alert-info">{view.note}</div>\n')
    for chunk in chunks[1:]:
        opening = _SECTION.match(chunk)
        assert opening is not None
        body = chunk.rstrip()
        assert body.endswith("</div>"), chunk[-200:]
        inner = body[opening.end():-len("</div>")]
        heading = _H2.match(inner)
        section = heading.group(1) if heading else ""
        head = heading.group(0) if heading else ""
        content = inner[len(head):]
        if section in view.r_only:
            out.append(f'<div class="section level2" {LANG_ATTR}="r">{inner}</div>\n')
        elif section in view.sections:
            out.append(opening.group(0) + head + "\n"
                       + _both(content, view.sections[section]) + "</div>\n")
        else:
            out.append(chunk)
    return page[:start] + "".join(out) + page[end:]


def add_python_views(site: Path) -> int:
    """Every reference page with its Python view; the number of pages given one."""
    import keras3r
    import keras3r.family as family

    pages = rd_aliases()
    python_names = {n for n in dir(keras3r) if not n.startswith("_")
                    and callable(getattr(keras3r, n))}
    functions = {n: getattr(keras3r, n) for n in python_names}
    globs = dict(vars(family))
    done = 0
    for rd in sorted((ROOT / "man").glob("*.Rd")):
        path = site / "reference" / f"{rd.stem}.html"
        aliases = [a for a, p in pages.items() if p == path.name]
        if rd.stem in SPECS:
            view = spec_view(SPECS[rd.stem], functions[rd.stem], globs, pages, python_names)
        elif any(a in python_names for a in aliases):
            view = docstring_view([a for a in aliases if a in python_names], functions)
        else:
            view = r_only_view(rd.stem)
        path.write_text(add_python_view(path.read_text(), view))
        done += 1
    return done


ARTICLES = {"r": ("keras3r.html", "Using keras3r from R"),
            "py": ("python.html", "Using keras3r from Python")}


def add_article_notes(site: Path) -> None:
    """Each language's "Get started" article points a reader of the other to theirs."""
    for lang, (name, _) in ARTICLES.items():
        other = "py" if lang == "r" else "r"
        other_name, other_title = ARTICLES[other]
        path = site / "articles" / name
        page = path.read_text()
        start = page.index(">", page.index('<main id="main"')) + 1
        note = (f'<div {LANG_ATTR}="{other}"{" hidden" if other == "py" else ""} '
                f'class="alert alert-info">This article is for '
                f'{"R" if lang == "r" else "Python"}; '
                f'<a href="{other_name}">{other_title}</a> is its '
                f'{"Python" if other == "py" else "R"} twin.</div>\n')
        path.write_text(page[:start] + note + page[start:])


# -- 3. the search ------------------------------------------------------------------------------


def search_scripts() -> list[tuple[str, str, str]]:
    """(npm package, version, file) of each search script pkgdown's template loads, with its
    integrity hash: `<!-- search -->` in pkgdown's BS5 head.html."""
    pkgdown = subprocess.run(["Rscript", "-e", 'cat(system.file(package = "pkgdown"))'],
                             capture_output=True, text=True, check=True).stdout.strip()
    head = (Path(pkgdown) / "BS5" / "templates" / "head.html").read_text()
    block = head.split("<!-- search -->", 1)[1].split("<!--", 1)[0]
    found = re.findall(r'libs/([^/]+)/([^/]+)/([^"]+)" integrity="([^"]+)"', block)
    if len(found) != 3:
        raise SystemExit(f"pkgdown's head.html names {len(found)} search scripts, not 3")
    return [(name, version, f"{file}|{integrity}") for name, version, file, integrity in found]


def install_search_scripts(site: Path) -> list[str]:
    """The search scripts from the npm registry (cached in build/npm), copied into the site."""
    wanted = search_scripts()
    modules = NPM_DIR / "node_modules"
    missing = [f"{name}@{version}" for name, version, _ in wanted
               if not (modules / name / "package.json").is_file()
               or json.loads((modules / name / "package.json").read_text())["version"] != version]
    if missing:
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(NPM_DIR), "--no-save", "--no-audit",
                        "--no-fund", "--no-package-lock", "--loglevel=error", *missing],
                       check=True, stdout=subprocess.DEVNULL)
    target = site / SEARCH_DEPS
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, _, file_and_hash in wanted:
        file, integrity = file_and_hash.split("|")
        source = modules / name / "dist" / file
        algorithm, expected = integrity.split("-", 1)
        digest = base64.b64encode(hashlib.new(algorithm, source.read_bytes()).digest()).decode()
        if digest != expected:
            raise SystemExit(f"{source}: not the file pkgdown's template names ({integrity})")
        shutil.copyfile(source, target / file)
        copied.append(file)
    return copied


class _SearchText(HTMLParser):
    """A page's text by section and language: what the search index holds."""

    SKIP = {"script", "style", "nav", "header", "footer", "aside"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None, bool]] = []  # tag, language, skipped
        self.in_main = False
        self.title = ""
        self.section_id = ""
        self.section = ""
        self.heading: list[str] | None = None
        self.texts: dict[tuple[str, str, str], list[str]] = {}

    def language(self) -> str:
        for _, lang, _ in reversed(self.stack):
            if lang:
                return lang
        return ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "main":
            self.in_main = True
        if tag in ("br", "img", "input", "meta", "link", "hr", "wbr"):
            return
        skipped = tag in self.SKIP or (bool(self.stack) and self.stack[-1][2])
        self.stack.append((tag, a.get(LANG_ATTR), skipped))
        if tag in ("h1", "h2"):
            self.heading = []
            if tag == "h2":
                self.section_id = a.get("id", "")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            top = self.stack.pop()[0]
            if top == tag:
                break
        if tag == "main":
            self.in_main = False
        if tag in ("h1", "h2") and self.heading is not None:
            text = " ".join("".join(self.heading).split())
            if tag == "h1":
                self.title = text
            else:
                self.section = text
            self.heading = None

    def handle_data(self, data: str) -> None:
        if not self.in_main or (self.stack and self.stack[-1][2]):
            return
        if self.heading is not None:
            self.heading.append(data)
            return
        key = (self.section_id, self.section, self.language())
        self.texts.setdefault(key, []).append(data)


def search_index(site: Path) -> list[dict[str, str]]:
    """One entry per page section and language: R's text, Python's, or both's."""
    entries = []
    for path in sorted(site.rglob("*.html")):
        name = path.relative_to(site).as_posix()
        if name.startswith("deps/") or name in ("404.html", "reference/index.html"):
            continue
        parser = _SearchText()
        parser.feed(path.read_text())
        for (section_id, section, lang), parts in parser.texts.items():
            text = " ".join("".join(parts).split())
            if not text:
                continue
            topic = path.stem if name.startswith("reference/") else ""
            entries.append({"path": name, "id": section_id, "title": parser.title,
                            "name": topic,
                            "what": section or parser.title, "lang": lang,
                            "dir": name.split("/")[0].replace(".html", "").capitalize()
                            if "/" in name else "Home",
                            "text": text})
    return entries


def write_search_index(site: Path) -> int:
    entries = search_index(site)
    (site / "search-index.js").write_text(
        "// The site's text by page, section and language (tools/build_site.py).\n"
        "window.keras3rSearchIndex = " + json.dumps(entries, ensure_ascii=False) + ";\n")
    return len(entries)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    out = parser.parse_args(argv).out.resolve()
    build_r_site(out)
    scripts = install_search_scripts(out)
    pages = add_python_views(out)
    add_article_notes(out)
    entries = write_search_index(out)
    print(f"site: {pages} reference pages in R and Python, search over {entries} sections "
          f"({', '.join(scripts)} from npm)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
