"""The reference site (`make docs`), opened in headless Chromium."""

from __future__ import annotations

import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

import render_docs
from keras3r.spec import SPECS

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=True,
        )
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    assert render_docs.main(["--out", str(out), "--all"]) == 0
    return out


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def test_the_adam_w_page_shows_title_usage_arguments_and_family(site: Path) -> None:
    dom = chromium("--dump-dom", (site / "optimizer_adam_w.html").as_uri())
    text = render_docs.html_to_text(dom)
    page = render_docs.sections(text)
    assert page["title"] == "Optimizer that implements the AdamW algorithm."
    assert page["Usage"].startswith("optimizer_adam_w(\n  learning_rate = 0.001,")
    for argument in [a.name for a in SPECS["optimizer_adam_w"].args] + ["..."]:
        assert re.search(rf"^{re.escape(argument)}$", page["Arguments"], re.M), argument
    links = _Links()
    links.feed(dom)
    family = [f"{s.name}.html" for s in SPECS.values()
              if s.family == "optimizers" and s.name != "optimizer_adam_w"]
    # The see-also list closes the page: every other optimizer, in the spec's order.
    assert [h for h in links.hrefs if h in family][-len(family):] == family
    assert all((site / href).exists() for href in links.hrefs if not href.startswith("http"))
    assert "cdn." not in dom  # the page needs nothing from the network


def test_the_index_links_every_function(site: Path) -> None:
    dom = chromium("--dump-dom", (site / "index.html").as_uri())
    links = _Links()
    links.feed(dom)
    assert {f"{name}.html" for name in SPECS} <= set(links.hrefs)
    assert all((site / href).exists() for href in links.hrefs)


def test_the_page_renders_to_pixels(site: Path, tmp_path: Path) -> None:
    shot = tmp_path / "adam_w.png"
    chromium(f"--screenshot={shot}", "--window-size=1000,1400",
             (site / "optimizer_adam_w.html").as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
