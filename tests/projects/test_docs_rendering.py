"""The docs renderer is safe whatever a Markdown file holds: raw HTML is escaped, and links and
images keep only http(s) and relative URLs."""

import pytest

from projects.docs_views import render_markdown, safe_url


def html(text: str) -> str:
    return render_markdown(text, "protocol")[0]


def test_raw_html_block_is_escaped():
    out = html('<script>alert("x")</script>\n\n<div onclick="steal()">hi</div>\n')
    assert "<script" not in out and "<div" not in out
    assert "&lt;script&gt;" in out
    assert "&lt;div onclick" in out


def test_inline_raw_html_is_escaped():
    out = html('Hello <img src=x onerror="alert(1)"> and <b>bold</b>.')
    assert "<img" not in out and "<b>" not in out
    assert "&lt;img src=x" in out


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "javascript&#58;alert(1)",
        "&#106;avascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
)
def test_links_to_other_schemes_lose_their_target(url):
    out = html(f"[click]({url})\n\n[ref][r]\n\n[r]: {url}\n")
    assert "href" not in out
    assert "click" in out


def test_images_from_other_schemes_lose_their_source():
    out = html("![pic](javascript:alert(1)) ![data](data:image/png;base64,AAAA)")
    assert "src=" not in out


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a", "http://example.com", "/docs/", "#section", "quickstart.md", "?q=1"],
)
def test_http_and_relative_links_are_kept(url):
    assert safe_url(url)
    assert "href=" in html(f"[ok]({url})")


def test_code_blocks_still_show_html_as_code():
    out = html("```html\n<script>x</script>\n```\n")
    assert "&lt;script&gt;x&lt;/script&gt;" in out
    assert "<pre>" in out
