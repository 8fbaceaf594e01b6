"""Render man/*.Rd with R's own help renderer, to HTML and to plain text.

    python tools/render_docs.py --out build/docs optimizer_adam_w

The plain text is what a browser shows of R's HTML help page, block by block;
the tests compare it with the seed page (tests/spec/optimizer_adam_w.seed.txt),
section by section. The reference site is pkgdown's (`make docs`).
"""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SECTION_TITLES = (
    "Description",
    "Usage",
    "Arguments",
    "Details",
    "Value",
    "References",
    "See Also",
    "Examples",
)

# Each page links the other pages as siblings: FILE.html in the same folder,
# found by any alias the page defines (one page documents several functions).
_R_RENDER = r"""
args <- commandArgs(trailingOnly = TRUE)
out <- args[[1]]
pages <- args[-1]
rd_files <- list.files("man", pattern = "[.]Rd$", full.names = TRUE)
aliases <- lapply(rd_files, function(f) {
  sub("^\\\\alias\\{(.*)\\}$", "\\1", grep("^\\\\alias\\{", readLines(f), value = TRUE))
})
html <- paste0(tools::file_path_sans_ext(basename(rd_files)), ".html")
links <- setNames(rep(html, lengths(aliases)), unlist(aliases))
version <- read.dcf("DESCRIPTION", fields = "Version")[[1]]
for (page in pages) {
  tools::Rd2HTML(
    file.path("man", paste0(page, ".Rd")),
    out = file.path(out, paste0(page, ".html")),
    package = c("keras3r", version),
    Links = links,
    stages = c("build", "install", "render"),
    texmath = "tex"  # no KaTeX from a CDN: the pages work offline

  )
}
"""


def render_html(pages: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
        script.write(_R_RENDER)
    subprocess.run(
        ["Rscript", script.name, str(out), *pages],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    Path(script.name).unlink()


class _TextExtractor(HTMLParser):
    """What a reader sees: text, with a line break around every block."""

    BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "table", "tr", "pre", "ul", "ol",
              "li", "dl", "dt", "dd", "hr", "br"}
    SKIP = {"head", "script", "style", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.in_pre = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        if tag == "pre":
            self.in_pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        if tag == "pre":
            self.in_pre -= 1

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if not self.in_pre:
            data = re.sub(r"\s+", " ", data)
        self.parts.append(data)


def html_to_text(page: str) -> str:
    parser = _TextExtractor()
    parser.feed(page)
    text = html.unescape("".join(parser.parts))
    lines = [line.strip() if not line.startswith("  ") else line.rstrip()
             for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def sections(text: str) -> dict[str, str]:
    """Split a rendered page into its title and its sections, by heading line.

    Keys: "header" (the first line), "title", then each heading that occurs.
    """
    lines = text.strip().splitlines()
    out: dict[str, list[str]] = {"header": [lines[0]], "title": []}
    current = "title"
    for line in lines[1:]:
        if line.strip() in SECTION_TITLES:
            current = line.strip()
            out[current] = []
        else:
            out[current].append(line)
    return {key: "\n".join(value).strip() for key, value in out.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("pages", nargs="+")
    options = parser.parse_args(argv)
    pages = options.pages
    render_html(pages, options.out)
    css = Path(subprocess.run(
        ["Rscript", "-e", "cat(file.path(R.home('doc'), 'html', 'R.css'))"],
        check=True, capture_output=True, text=True,
    ).stdout)
    if css.exists():
        (options.out / "R.css").write_text(css.read_text())
    for page in pages:
        path = options.out / f"{page}.html"
        (options.out / f"{page}.txt").write_text(html_to_text(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
