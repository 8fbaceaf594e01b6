"""The reference site (`make docs`, tools/build_site.py), read in headless Chromium by a reader.

The site is built once into a folder of the test's own; one browser
(tests/python/browser.py) then opens every page in R and in Python, follows
every internal link, switches the language, and searches. Screenshots of
optimizer_adam_w's page in each language are left in build/screenshots/ for
a person to look at.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import keras3r
from browser import Browser
from keras3r.spec import SPECS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402

SCREENSHOTS = ROOT / "build" / "screenshots"
# pkgdown's own files: what the pages need is checked through their links.
ASSET_DIRS = {"deps"}
LANGUAGES = ("r", "py")
# What a reader sees: the page's DOM once its scripts have run, without what
# they hid (the other language's blocks).
VISIBLE_DOM = """(() => {
  const copy = document.documentElement.cloneNode(true);
  copy.querySelectorAll("[hidden]").forEach(e => e.remove());
  return copy.outerHTML;
})()"""


@dataclass
class Page:
    """What a page shows once its scripts have run, as Chromium's DOM gives it."""

    links: list[str] = field(default_factory=list)       # <a href>
    resources: list[str] = field(default_factory=list)   # what the page loads
    ids: set[str] = field(default_factory=set)
    h1: str = ""
    terms: list[str] = field(default_factory=list)       # <dt>: argument names
    sections: dict[str, list[str]] = field(default_factory=dict)  # h2 -> links under it
    code: list[str] = field(default_factory=list)        # text of each <pre>
    inline_code: list[str] = field(default_factory=list)  # text of each <code> outside <pre>
    console: list[str] = field(default_factory=list)     # JavaScript errors


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.capture: str | None = None
        self.text: list[str] = []
        self.section = ""
        self.in_main = False  # the page's own code, not the search box's hidden <pre>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.page.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.page.links.append(a["href"])
            if self.section:
                self.page.sections[self.section].append(a["href"])
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.page.resources.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") != "canonical":
            self.page.resources.append(a["href"])
        if tag == "main":
            self.in_main = True
        wanted = ("h1", "h2", "dt", "pre", "code") if self.in_main else ("h1", "h2")
        if tag in wanted and self.capture is None:
            self.capture, self.text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.in_main = False
        if tag != self.capture:
            return
        text = "".join(self.text)
        if tag == "h1":
            self.page.h1 = " ".join(text.split())
        elif tag == "h2":
            self.section = " ".join(text.split())
            self.page.sections[self.section] = []
        elif tag == "dt":
            self.page.terms.append(text.strip())
        elif tag == "code":
            self.page.inline_code.append(text)
        else:
            self.page.code.append(text)
        self.capture = None

    def handle_data(self, data: str) -> None:
        if self.capture:
            self.text.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it, into a folder of this test's own."""
    out = tmp_path_factory.mktemp("site").resolve()
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out",
                           str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as opened:
        yield opened


def url(site: Path, name: str, lang: str | None = None) -> str:
    return (site / name).as_uri() + (f"?lang={lang}" if lang else "")


@pytest.fixture(scope="module")
def views(site: Path, browser: Browser) -> dict[str, dict[str, Page]]:
    """Every HTML page of the site in each language, by language and path in the site."""
    paths = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if p.relative_to(site).parts[0] not in ASSET_DIRS)
    found: dict[str, dict[str, Page]] = {lang: {} for lang in LANGUAGES}
    for lang in LANGUAGES:
        for name in paths:
            browser.console.clear()
            browser.open(url(site, name, lang))
            parser = _PageParser()
            parser.feed(browser.evaluate(VISIBLE_DOM))
            parser.page.console = list(browser.console)
            found[lang][name] = parser.page
    return found


@pytest.fixture(scope="module")
def pages(views: dict[str, dict[str, Page]]) -> dict[str, Page]:
    """The pages in R, the language a reader who never chose one reads."""
    return views["r"]


@pytest.fixture(scope="module")
def py_pages(views: dict[str, dict[str, Page]]) -> dict[str, Page]:
    return views["py"]


def man_topics() -> list[str]:
    names = [re.search(r"\\name\{([^}]+)\}", p.read_text()) for p in (ROOT / "man").glob("*.Rd")]
    return sorted(m.group(1) for m in names if m)


def test_every_page_loads_in_both_languages_with_a_title_and_no_script_error(
    views: dict[str, dict[str, Page]]
) -> None:
    expected = {"index.html", "reference/index.html", "articles/keras3r.html",
                "articles/python.html", "news/index.html",
                *(f"reference/{topic}.html" for topic in man_topics())}
    for lang, pages in views.items():
        assert expected <= set(pages), lang
        for name, page in pages.items():
            assert page.h1, f"{name} in {lang}: no <h1>"
            assert not page.console, f"{name} in {lang}: {page.console}"


def test_every_internal_link_resolves_and_nothing_comes_from_the_network(
    site: Path, views: dict[str, dict[str, Page]]
) -> None:
    checked = 0
    for lang, pages in views.items():
        for name, page in pages.items():
            here = site / name
            for resource in page.resources:
                assert not urlsplit(resource).scheme, f"{name} loads {resource} from outside"
            for target in page.links + page.resources:
                parts = urlsplit(target)
                if parts.scheme or target.startswith("//"):
                    continue  # a link out of the site, for the reader to follow
                path = (here.parent / unquote(parts.path)).resolve() if parts.path else here
                if path.is_dir():
                    path = path / "index.html"
                assert path.is_file(), f"{name} in {lang} links {target}: no such file"
                assert site in path.parents, f"{name} in {lang} links {target}: outside the site"
                if parts.fragment and path.suffix == ".html":
                    linked = pages[path.relative_to(site).as_posix()]
                    assert unquote(parts.fragment) in linked.ids, (
                        f"{name} in {lang} links {target}: no such id")
                # A reader of Python stays in Python from page to page.
                if lang == "py" and parts.path.endswith(".html") and target in page.links:
                    assert "lang=py" in parts.query, f"{name} links {target} without lang=py"
                checked += 1
    assert checked > 1000


def test_the_reference_index_groups_every_topic(pages: dict[str, Page]) -> None:
    index = pages["reference/index.html"]
    groups = {title: {Path(h).stem for h in hrefs if not h.startswith("#")}
              for title, hrefs in index.sections.items()}
    groups.pop("On this page")
    titles = list(groups)
    assert titles[:2] == ["Optimizers", "Learning-rate schedules"]
    assert titles[-1] == "Set-up and helpers"  # the catch-all: whatever the others leave
    assert set().union(*groups.values()) >= set(man_topics())
    for name, spec in SPECS.items():
        group = "Optimizers" if spec.family == "optimizers" else "Learning-rate schedules"
        assert name in groups[group], (name, group)
    assert {"install_keras3r", "keras3r_available", "keras3r-package"} <= groups[
        "Set-up and helpers"]
    assert not any(n.startswith(("optimizer_", "learning_rate_schedule_"))
                   for n in groups["Set-up and helpers"])


def test_the_adam_w_page_shows_title_usage_arguments_family_and_examples(
    pages: dict[str, Page]
) -> None:
    page = pages["reference/optimizer_adam_w.html"]
    assert page.h1 == "Optimizer that implements the AdamW algorithm."
    usage = page.code[0]
    assert usage.startswith("optimizer_adam_w(\n  learning_rate = 0.001,")
    arguments = [a.name for a in SPECS["optimizer_adam_w"].args] + ["..."]
    assert sorted(page.terms) == sorted(arguments)
    family = {f"{s.name}.html" for s in SPECS.values()
              if s.family == "optimizers" and s.name != "optimizer_adam_w"}
    assert family <= set(page.sections["See also"])
    # The examples ran when the site was built: their output is on the page.
    # (the same weights as the docstring's doctest shows, in R's print)
    assert "#> [1] 0.9900 1.9899 2.9899" in page.code[-1]
    assert not any(">>>" in code for code in page.code), "Python in the R view"
    # The table of contents is built in the browser, from the page's headings.
    assert {"#arguments", "#ref-examples"} <= set(page.links)


def expected_python_usage(name: str) -> list[str]:
    """The parameters as inspect.signature() lists them, a `*` where keyword-only ones start."""
    shown = []
    for parameter in inspect.signature(getattr(keras3r, name)).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and "*" not in shown:
            shown.append("*")
        shown.append(("**" if parameter.kind is parameter.VAR_KEYWORD else "")
                     + parameter.name)
    return shown


def test_the_adam_w_page_in_python_shows_its_signature_spelling_and_doctests(
    py_pages: dict[str, Page]
) -> None:
    page = py_pages["reference/optimizer_adam_w.html"]
    assert page.h1 == "Optimizer that implements the AdamW algorithm."
    usage = page.code[0]
    assert usage.startswith("keras3r.optimizer_adam_w(\n    learning_rate: float | "
                            "LearningRateSchedule | Callable[[], float] = 0.001,\n")
    assert "    *,\n    loss_scale_factor: float | None = None," in usage
    assert usage.endswith(") -> keras.optimizers.AdamW")
    spec = SPECS["optimizer_adam_w"]
    assert page.terms == ([a.name for a in spec.before_dots] + ["*"]
                          + [a.name for a in spec.after_dots] + ["**kwargs"])
    # The doctest ran when the site was built, and shows what it printed.
    examples = page.code[-1]
    assert ">>> opt.apply([keras.ops.ones(3)], [w])  # one update step" in examples
    assert "\n[0.99, 1.9899, 2.9899]" in examples
    assert "#>" not in examples and "opt$apply" not in "".join(page.code)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_function_page_reads_in_python(py_pages: dict[str, Page], name: str) -> None:
    page = py_pages[f"reference/{name}.html"]
    usage = page.code[0]
    assert usage.startswith(f"keras3r.{name}(")
    listed = [line.strip().split(":")[0].split("=")[0].rstrip(",")
              for line in usage.splitlines()[1:-1]]
    assert listed == expected_python_usage(name)
    assert page.code[-1].startswith(">>> "), "no doctest session in Examples"
    # R's literals and `$` are spelled in Python in every code span.
    r_spelled = [c for c in page.inline_code
                 if re.search(r"\b(NULL|TRUE|FALSE)\b|\w\$\w|\bc\(", c)]
    assert not r_spelled, r_spelled


def test_a_python_example_that_prints_otherwise_stops_the_build() -> None:
    def example() -> None:
        pass

    example.__doc__ = ">>> 1 + 1\n3\n"
    with pytest.raises(SystemExit, match=r"example: 1 \+ 1\n  expected '3\\n', got '2\\n'"):
        build_site.run_doctests(example, {})
    example.__doc__ = ">>> 1 + 1\n2\n>>> print('printed')\nprinted\n"
    assert build_site.run_doctests(example, {}) == ">>> 1 + 1\n2\n>>> print('printed')\nprinted"


def test_pages_of_r_alone_say_so_in_python(
    pages: dict[str, Page], py_pages: dict[str, Page]
) -> None:
    for name in ("install_keras3r", "keras3r_available"):
        page = py_pages[f"reference/{name}.html"]
        assert page.code == pages[f"reference/{name}.html"].code  # the R usage stays
        assert "pip install keras3r" in page.inline_code
    plain = py_pages["reference/plain.html"]
    assert "keras3r.plain(\n    optimizer: Any,\n) -> Any" in plain.code  # the usage
    assert keras3r.plain.__doc__.splitlines()[0] in plain.code[0]  # the docstring


def test_the_articles_and_the_changelog(
    pages: dict[str, Page], py_pages: dict[str, Page]
) -> None:
    article = pages["articles/keras3r.html"]
    assert article.h1 == "Using keras3r from R"
    assert {"keras3r.html", "python.html"} <= set(pages["articles/index.html"].links)
    code = "\n".join(article.code)
    assert "opt$apply(list(grad), list(w))" in code
    assert "#> [1]  1.5 -2.0  0.5  3.0" in code  # the custom loop found the weights
    python = py_pages["articles/python.html"]
    assert python.h1 == "Using keras3r from Python"
    code = "\n".join(python.code)
    # Its Python ran when the site was built, on the backend it chose.
    assert "#> ('jax', " in code
    assert "    opt.apply([grad], [w])" in code
    assert "#> array([ 1.5 , -1.99,  0.5 ,  3.  ], dtype=float32)" in code
    assert "#> ('AdamW', 200)" in code  # the reloaded optimizer kept its step count
    news = pages["news/index.html"]
    assert news.h1 == "Changelog"
    assert f"keras3r {keras3r.__version__}" in news.sections


def visible(lang: str) -> str:
    """JavaScript: whether every block of `lang` shows and no block of the other does."""
    other = "py" if lang == "r" else "r"
    return (f"[...document.querySelectorAll('[data-lang={lang}]')].every(e => e.offsetParent)"
            f" && ![...document.querySelectorAll('[data-lang={other}]')].some(e => e.offsetParent)"
            f" && document.querySelectorAll('[data-lang={lang}]').length > 0")


def test_the_switch_changes_the_language_and_the_site_remembers_it(
    site: Path, browser: Browser
) -> None:
    adam_w = url(site, "reference/optimizer_adam_w.html")
    browser.open(adam_w)
    browser.evaluate("localStorage.clear()")
    browser.open(url(site, "index.html"))
    browser.open(adam_w)
    assert browser.evaluate(visible("r")), "a new reader does not get R"
    assert browser.evaluate("document.querySelector('#ref-usage + * pre, #ref-usage ~ div pre')"
                            ".textContent").startswith("optimizer_adam_w(")
    browser.evaluate("document.querySelector('[data-lang-switch=py]').click()")
    browser.wait_for("location.search === '?lang=py' && document.readyState === 'complete'")
    assert browser.evaluate(visible("py"))
    # Remembered: the next page, opened without ?lang=, is in Python too, and
    # "Get started" leads to the Python article.
    browser.open(url(site, "reference/optimizer_sgd.html"))
    assert browser.evaluate(visible("py"))
    start = browser.evaluate("[...document.querySelectorAll('nav a.nav-link')]"
                             ".find(a => a.textContent.trim() === 'Get started').href")
    assert "articles/python.html" in start
    browser.evaluate("document.querySelector('[data-lang-switch=r]').click()")
    browser.wait_for("location.search === '?lang=r' && document.readyState === 'complete'")
    browser.open(url(site, "index.html"))
    assert browser.evaluate(visible("r"))


def search(browser: Browser, query: str) -> list[str]:
    """Type `query` into the search box; the pages its list offers, best first."""
    browser.evaluate("(() => { const box = document.getElementById('search-input');"
                     " box.value = ''; box.focus(); })()")
    browser.type(query)
    return browser.wait_for(
        "(() => { const hits = [...document.querySelectorAll('.aa-suggestion')];"
        "  return hits.length && hits.map(h => h.textContent); })()")


def test_the_search_finds_adam_w_offline_in_each_language(site: Path, browser: Browser) -> None:
    browser.open(url(site, "index.html", "r"))
    title = "Optimizer that implements the AdamW algorithm."
    for query in ("adamw", "weight decay"):
        hits = search(browser, query)
        assert title in hits[0] and "optimizer_adam_w" in hits[0], (query, hits)
    # The Python spelling of an argument, from its signature: Python's view
    # finds it, R's has nothing of the kind.
    python_spelling = "weight_decay: float = 0.004"
    assert not any(title in hit for hit in search(browser, python_spelling))
    browser.open(url(site, "reference/index.html", "py"))
    hits = search(browser, python_spelling)
    assert title in hits[0] and "Usage" in hits[0], hits
    # Choosing the hit opens the page at the section, the words marked.
    browser.evaluate("document.querySelector('.aa-suggestion').click()")
    browser.wait_for("location.pathname.endsWith('/reference/optimizer_adam_w.html')"
                     " && document.readyState === 'complete'")
    assert browser.evaluate("location.hash") == "#ref-usage"
    assert browser.wait_for("document.querySelectorAll('main mark').length")
    assert browser.evaluate(visible("py"))
    assert not browser.console, browser.console


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_adam_w_page_renders_to_pixels_in_each_language(
    site: Path, browser: Browser, lang: str
) -> None:
    browser.open(url(site, "reference/optimizer_adam_w.html", lang))
    shot = browser.screenshot(full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"optimizer_adam_w-{'python' if lang == 'py' else 'r'}.png").write_bytes(shot)
