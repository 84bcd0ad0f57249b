"""The public documentation: Markdown files from docs/, rendered in the active language.

Each page is docs/<name>.md, or docs/<name>.id.md when the language is Indonesian. A file is
rendered once per process and kept until its modification time changes.

Rendering is safe whatever the files hold: raw HTML in the Markdown is escaped (shown as text),
and links and images keep only http(s) and relative URLs.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
import threading
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from pathlib import Path

import markdown
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

logger = logging.getLogger(__name__)

DOCS_DIR = Path(settings.BASE_DIR) / "docs"

# The pages, in the order of the side list; each name is also its URL name in "docs:".
PAGES = {
    "protocol": _("Protocol"),
    "quickstart": _("Quick start"),
    "limits": _("Limits and close codes"),
    "security": _("Security"),
    "api": _("HTTP API and webhooks"),
}

MARKDOWN_EXTENSIONS = ["tables", "fenced_code", "toc"]


SAFE_SCHEMES = {"http", "https"}
# Browsers skip control characters and spaces inside a scheme ("java\tscript:").
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")


def safe_url(url: str) -> bool:
    """Whether a link or image URL is http(s) or relative (no javascript:, data:, ...)."""
    # The serializer keeps character references, which the browser decodes: check the URL
    # the browser will see.
    seen = _IGNORED_IN_SCHEME.sub("", htmllib.unescape(url))
    scheme = _SCHEME.match(seen)
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


@dataclass(frozen=True)
class Rendered:
    mtime: float
    title: str  # the first level-1 heading, or ""
    html: str


_cache: dict[Path, Rendered] = {}
_lock = threading.Lock()


def doc_path(name: str, language: str | None) -> Path:
    """docs/<name>.id.md for Indonesian (when it exists), docs/<name>.md otherwise."""
    if (language or "").lower().startswith("id"):
        translated = DOCS_DIR / f"{name}.id.md"
        if translated.exists():
            return translated
    return DOCS_DIR / f"{name}.md"


def page_for_link(href: str) -> tuple[str, str, str] | None:
    """(page name, language suffix, "#fragment") for a relative link to one of our files."""
    if "://" in href or href.startswith(("/", "#", "mailto:")):
        return None
    target, hash_, fragment = href.partition("#")
    target = target.removeprefix("./")
    if not target.endswith(".md"):
        return None
    stem = target.removesuffix(".md")
    name, dot, lang = stem.partition(".")
    if name not in PAGES or (dot and lang != "id"):
        return None
    return name, lang, hash_ + fragment


class _DocLinks(Treeprocessor):
    """Point links to our Markdown files at the docs pages; wrap tables to scroll on phones.

    A paragraph that only links to this same page in the other language ("English:
    [protocol.md](protocol.md)") is dropped: the site's language switch does that job.
    """

    def __init__(self, md: markdown.Markdown, page: str) -> None:
        super().__init__(md)
        self.page = page

    def run(self, root: etree.Element) -> None:
        parents = {child: parent for parent in root.iter() for child in parent}
        for link in list(root.iter("a")):
            found = page_for_link(link.get("href", ""))
            if found is None:
                continue
            name, _lang, fragment = found
            paragraph = parents.get(link)
            if name == self.page and not fragment and _only_link(paragraph, link):
                parents[paragraph].remove(paragraph)
                continue
            link.set("href", reverse(f"docs:{name}") + fragment)
        for table in list(root.iter("table")):
            parent = parents[table]
            wrapper = etree.Element("div", {"class": "table-scroll"})
            parent.insert(list(parent).index(table), wrapper)
            parent.remove(table)
            wrapper.append(table)


def _only_link(paragraph: etree.Element | None, link: etree.Element) -> bool:
    return paragraph is not None and paragraph.tag == "p" and list(paragraph) == [link]


class _SafeUrls(Treeprocessor):
    """Drop link targets and image sources that are not http(s) or relative."""

    def run(self, root: etree.Element) -> None:
        for element in root.iter():
            attribute = {"a": "href", "img": "src"}.get(element.tag)
            url = element.get(attribute) if attribute else None
            if url is not None and not safe_url(url):
                logger.warning("docs: dropped an unsafe %s URL", element.tag)
                del element.attrib[attribute]


class DocLinksExtension(Extension):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_DocLinks(md, self.page), "relay_doc_links", 5)


class SafeHtmlExtension(Extension):
    """Raw HTML is text, not markup; URLs are http(s) or relative."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_SafeUrls(md), "relay_safe_urls", 1)


def render_markdown(text: str, page: str) -> tuple[str, str]:
    """(HTML, title) of a page's Markdown; the title is the first level-1 heading, or ""."""
    md = markdown.Markdown(
        extensions=[*MARKDOWN_EXTENSIONS, DocLinksExtension(page), SafeHtmlExtension()]
    )
    body = md.convert(text)
    titles = [htmllib.unescape(token["name"]) for token in md.toc_tokens if token["level"] == 1]
    return body, titles[0] if titles else ""


def render_file(name: str, path: Path) -> Rendered:
    """The page's HTML, from the cache unless the file changed since it was rendered."""
    mtime = path.stat().st_mtime
    cached = _cache.get(path)
    if cached is not None and cached.mtime == mtime:
        return cached
    body, title = render_markdown(path.read_text(encoding="utf-8"), name)
    rendered = Rendered(mtime=mtime, title=title, html=body)
    with _lock:
        _cache[path] = rendered
    logger.debug("rendered %s", path.name)
    return rendered


def api_operations() -> list[dict]:
    """The HTTP API's operations, read from its OpenAPI schema (the one the API serves)."""
    from realtime.api import api

    schema = api.get_openapi_schema()
    components = schema.get("components", {}).get("schemas", {})

    def resolve(node: dict) -> dict:
        ref = node.get("$ref", "")
        return components.get(ref.rsplit("/", 1)[-1], {}) if ref else node

    def kind(node: dict) -> str:
        node = resolve(node)
        if "const" in node or "enum" in node:
            return " | ".join(f'"{v}"' for v in node.get("enum", [node.get("const")]))
        if node.get("type") == "array":
            return f"array of {resolve(node.get('items', {})).get('title', 'objects')}"
        return node.get("type", "any JSON value")

    operations = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = resolve(
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            required = set(body.get("required", ()))
            fields = [
                {
                    "name": name,
                    "type": kind(field),
                    "required": name in required,
                    "description": field.get("description", ""),
                }
                for name, field in body.get("properties", {}).items()
            ]
            responses = []
            for code, answer in op.get("responses", {}).items():
                content = answer.get("content", {}).get("application/json", {})
                model = resolve(content.get("schema", {}))
                shape = ", ".join(
                    f"{name}: {kind(field)}" for name, field in model.get("properties", {}).items()
                )
                responses.append(
                    {"code": code, "description": answer["description"], "shape": shape}
                )
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    # Our own text from realtime/api.py, in Markdown.
                    "description": mark_safe(markdown.markdown(op.get("description", ""))),
                    "fields": fields,
                    "responses": responses,
                }
            )
    return operations


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return redirect("docs:protocol")


@require_safe
def page(request: HttpRequest, name: str) -> HttpResponse:
    if name not in PAGES:
        raise Http404("no such page")
    path = doc_path(name, get_language())
    if not path.exists():
        raise Http404("no such page")
    rendered = render_file(name, path)
    return render(
        request,
        "docs/page.html",
        {
            "page": name,
            "pages": [(slug, label, reverse(f"docs:{slug}")) for slug, label in PAGES.items()],
            "title": rendered.title or PAGES[name],
            # Rendered by SafeHtmlExtension: raw HTML escaped, only http(s) and relative URLs.
            "body": mark_safe(rendered.html),
            # The API page ends with its reference, generated from the OpenAPI schema.
            "operations": api_operations() if name == "api" else None,
        },
    )
