"""The reference site (`make docs`, pkgdown), opened page by page in headless Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from keras3r.spec import SPECS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# pkgdown's own files: what the pages need is checked through their links.
ASSET_DIRS = {"deps"}


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", *args],
            capture_output=True, text=True, timeout=120, check=True,
        )


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
    console: list[str] = field(default_factory=list)     # JavaScript errors


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.capture: str | None = None
        self.text: list[str] = []
        self.section = ""

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
        if tag in ("h1", "h2", "dt", "pre") and self.capture is None:
            self.capture, self.text = tag, []

    def handle_endtag(self, tag: str) -> None:
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
        else:
            self.page.code.append(text)
        self.capture = None

    def handle_data(self, data: str) -> None:
        if self.capture:
            self.text.append(data)


def open_page(path: Path) -> Page:
    done = chromium("--dump-dom", path.as_uri())
    parser = _PageParser()
    parser.feed(done.stdout)
    page = parser.page
    page.console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it, into a folder of this test's own."""
    out = tmp_path_factory.mktemp("site").resolve()
    script = (
        "options(pkgdown.internet = FALSE); "
        f"pkgdown::build_site({str(ROOT)!r}, preview = FALSE, "
        f"override = list(destination = {str(out)!r}))"
    )
    done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def pages(site: Path) -> dict[str, Page]:
    """Every HTML page of the site, by its path in the site, opened in Chromium."""
    paths = sorted(p for p in site.rglob("*.html")
                   if p.relative_to(site).parts[0] not in ASSET_DIRS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        opened = list(pool.map(open_page, paths))
    return {p.relative_to(site).as_posix(): page for p, page in zip(paths, opened)}


def man_topics() -> list[str]:
    names = [re.search(r"\\name\{([^}]+)\}", p.read_text()) for p in (ROOT / "man").glob("*.Rd")]
    return sorted(m.group(1) for m in names if m)


def test_every_page_loads_with_a_title_and_no_script_error(pages: dict[str, Page]) -> None:
    expected = {"index.html", "reference/index.html", "articles/keras3r.html",
                *(f"reference/{topic}.html" for topic in man_topics())}
    assert expected <= set(pages)
    for name, page in pages.items():
        assert page.h1, f"{name}: no <h1>"
        assert not page.console, f"{name}: {page.console}"


def test_every_internal_link_resolves_and_nothing_comes_from_the_network(
    site: Path, pages: dict[str, Page]
) -> None:
    checked = 0
    for name, page in pages.items():
        here = site / name
        for resource in page.resources:
            assert not urlsplit(resource).scheme, f"{name} loads {resource} from outside the site"
        for target in page.links + page.resources:
            parts = urlsplit(target)
            if parts.scheme or target.startswith("//"):
                continue  # a link out of the site, for the reader to follow
            path = (here.parent / unquote(parts.path)).resolve() if parts.path else here
            if path.is_dir():
                path = path / "index.html"
            assert path.is_file(), f"{name} links {target}: no such file"
            assert site in path.parents, f"{name} links {target}: outside the site"
            if parts.fragment and path.suffix == ".html":
                linked = pages[path.relative_to(site).as_posix()]
                assert unquote(parts.fragment) in linked.ids, f"{name} links {target}: no such id"
            checked += 1
    assert checked > 500


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
    # The table of contents is built in the browser, from the page's headings.
    assert {"#arguments", "#ref-examples"} <= set(page.links)


def test_the_vignette_is_an_article_with_its_output(pages: dict[str, Page]) -> None:
    article = pages["articles/keras3r.html"]
    assert article.h1 == "Using keras3r from R"
    assert "keras3r.html" in pages["articles/index.html"].links
    code = "\n".join(article.code)
    assert "opt$apply(list(grad), list(w))" in code
    assert "#> [1]  1.5 -2.0  0.5  3.0" in code  # the custom loop found the weights


def test_the_pages_render_to_pixels(site: Path, tmp_path: Path) -> None:
    for page in ("reference/index.html", "reference/optimizer_adam_w.html"):
        shot = tmp_path / (Path(page).stem + ".png")
        chromium(f"--screenshot={shot}", "--window-size=1200,1600", (site / page).as_uri())
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, page
