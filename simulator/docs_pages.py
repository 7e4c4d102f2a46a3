"""The manual in the browser: the README at /docs/ and each docs/*.md at /docs/<name>.md.

The landing page links here because a file on the server's disk is no link a browser
can follow, and the machine running a load test often has no internet to reach the
project's pages elsewhere. Markdown is rendered with markdown-it-py (raw HTML in the
files is shown as text, never run); headings get GitHub's anchors, so the README's
own links between its sections work, and links between the files are rewritten to
these addresses.
"""

from __future__ import annotations

import functools
import itertools
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe
from markdown_it import MarkdownIt
from markdown_it.token import Token

README = "README.md"
# An installed package carries the manual here (README.md and docs/*.md, copied in by
# setup.py when the wheel is built); a checkout serves the files at its top level.
SHIPPED_MANUAL = Path(__file__).resolve().parent / "manual"


@dataclass(frozen=True)
class Page:
    """A page of the manual: its path in the project, its title, what it holds."""

    name: str
    title: str
    about: str


# The manual in reading order; any other docs/*.md is served too, after these.
MANUAL = (
    Page(README, "README", "what LLMSim is, the two commands, a first request per SDK"),
    Page("docs/getting-started.md", "Getting started", "the landing page, the admin, first requests, the tests"),
    Page("docs/configuration.md", "Configuration", "YAML file, LLMSIM_* variables, serve flags, secrets, HTTPS"),
    Page(
        "docs/scenarios-and-rules.md",
        "Scenarios and rules",
        "rules, sequences, error profiles, override headers, rate limits, import/export, management API",
    ),
    Page("docs/providers.md", "Providers", "what each OpenAI, Anthropic and Gemini API supports, and what not"),
    Page("docs/deployment.md", "Deployment", "pip, Docker, docker-compose, Kubernetes; what replicas share"),
    Page("docs/testing-with-llmsim.md", "Testing with LLMSim", "the pytest fixture, CI jobs, SDK base-URL variables"),
    Page("docs/recording.md", "Recording and replay", "record real traffic, replay it with its timing, calibrate"),
    Page("docs/observability.md", "Observability", "/llmsim/stats, /metrics, the dashboard, llmsim_top, logs"),
    Page("docs/architecture.md", "Architecture", "the floor plan of the code, one request's flow, dependency rules"),
    Page("docs/benchmarks.md", "Benchmarks", "current figures, how they are measured, how to rerun them"),
    Page("docs/limits.md", "Limits", "every bound a request meets, and what the server keeps"),
)


def _files() -> dict[str, Path]:
    """Served pages by their path in the project ("README.md", "docs/limits.md"), the
    manual's in reading order first."""
    root = SHIPPED_MANUAL if SHIPPED_MANUAL.is_dir() else settings.BASE_DIR
    found = {page.name: root / page.name for page in MANUAL}
    found.update({f"docs/{path.name}": path for path in sorted((root / "docs").glob("*.md"))})
    return {name: path for name, path in found.items() if path.is_file()}


def title_of(name: str) -> str:
    """A served page's title: the manual's, or its file name."""
    return next((page.title for page in MANUAL if page.name == name), posixpath.basename(name))


def manual() -> list[tuple[Page, str]]:
    """The manual's pages this server has on its disk, with their addresses."""
    served = _files()
    return [(page, url_of(page.name)) for page in MANUAL if page.name in served]


def url_of(name: str) -> str:
    """The address of a served page, by its path in the project."""
    if name == README:
        return reverse("docs")
    return reverse("docs-page", args=[name.removeprefix("docs/")])


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def _anchor_headings(tokens: list[Token]) -> list[tuple[int, str, str]]:
    """Give every heading its id (the second of a name gets -1, as on GitHub); returns
    (level, title, id) of each, for the table of contents."""
    seen: dict[str, int] = {}
    headings = []
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        title = "".join(child.content for child in inline.children or () if child.type in ("text", "code_inline"))
        anchor = slug(title)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchor = f"{anchor}-{count}" if count else anchor
        opening.attrSet("id", anchor)
        headings.append((int(opening.tag[1]), title, anchor))
    return headings


def _rewrite_links(tokens: list[Token], name: str, served: frozenset[str]) -> None:
    """Links to another served file point at its page; to other files of the project
    (not served), they are left as text naming the path."""
    folder = posixpath.dirname(name)
    for token in tokens:
        for child in token.children or ():
            if child.type != "link_open":
                continue
            href = str(child.attrGet("href") or "")
            target, _, fragment = href.partition("#")
            if not target or "://" in target or target.startswith(("/", "mailto:")):
                continue
            path = posixpath.normpath(posixpath.join(folder, target))
            if path in served:
                child.attrSet("href", url_of(path) + (f"#{fragment}" if fragment else ""))
            else:
                child.attrs.pop("href", None)
                child.attrSet("title", f"{path} in the project's folder")


@functools.lru_cache(maxsize=16)
def _render(name: str, file: Path, modified: float, served: frozenset[str]) -> tuple[str, list[tuple[int, str, str]]]:
    """The page's HTML and headings; cached until the file changes (`modified`)."""
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(file.read_text(encoding="utf-8"))
    headings = _anchor_headings(tokens)
    _rewrite_links(tokens, name, served)
    return markdown.renderer.render(tokens, markdown.options, {}), headings


@require_safe
def page(request: HttpRequest, name: str = "") -> HttpResponse:
    """GET /docs/ (the README) and /docs/<name>.md (docs/<name>.md)."""
    served = _files()
    path = f"docs/{name}" if name else README
    if path not in served:
        raise Http404("No such page in the docs.")
    file = served[path]
    html, headings = _render(path, file, file.stat().st_mtime, frozenset(served))
    context = {
        "name": path,
        "html": mark_safe(html),  # markdown-it escapes the files' text and any HTML in them
        "contents": [heading for heading in headings if heading[0] == 2],
        "title": title_of(path),
        "pages": [(other, title_of(other), url_of(other)) for other in served],
    }
    return render(request, "llmsim/doc.html", context)
