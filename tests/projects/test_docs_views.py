import os

import pytest
from django.conf import settings
from django.urls import reverse

from projects import docs_views

pytestmark = pytest.mark.django_db

PAGES = ["protocol", "quickstart", "limits", "security", "api"]


@pytest.fixture(autouse=True)
def empty_cache():
    docs_views._cache.clear()
    yield
    docs_views._cache.clear()


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitor_reads_each_page_in_english(client, name):
    response = client.get(reverse(f"docs:{name}"))
    assert response.status_code == 200
    assert response.templates[0].name == "docs/page.html"
    assert '<article class="prose">' in response.text
    assert response.context["title"] in response.text
    for other in PAGES:
        assert f'href="{reverse(f"docs:{other}")}"' in response.text  # the side list


def test_quickstart_is_english_by_default(client):
    response = client.get(reverse("docs:quickstart"))
    assert "<h1" in response.text and "Quick start</h1>" in response.text
    assert "Become admin" in response.text
    assert "Panduan memulai" not in response.text


def test_accept_language_id_picks_the_indonesian_file(client):
    response = client.get(reverse("docs:quickstart"), HTTP_ACCEPT_LANGUAGE="id")
    assert response.status_code == 200
    assert "Panduan memulai</h1>" in response.text
    assert "Menjadi admin" in response.text
    assert "Become admin" not in response.text


def test_language_cookie_picks_the_indonesian_file(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "id"
    response = client.get(reverse("docs:limits"))
    assert "Batasan dan kode penutupan</h1>" in response.text
    assert "perlukah klien menyambung ulang?" in response.text


def test_indonesian_protocol_page(client):
    response = client.get(reverse("docs:protocol"), HTTP_ACCEPT_LANGUAGE="id-ID,id;q=0.9")
    assert "Protokol relay WebSocket</h1>" in response.text


def test_markdown_extensions_render_tables_code_and_anchors(client):
    response = client.get(reverse("docs:limits"))
    assert '<div class="table-scroll"><table>' in response.text
    assert "<th>should the client reconnect?</th>" in response.text
    assert "<td>4004</td>" in response.text
    assert '<h2 id="close-codes">Close codes</h2>' in response.text
    assert "<pre><code" in response.text


def test_links_between_markdown_files_point_at_the_docs_pages(client):
    response = client.get(reverse("docs:limits"))
    assert f'href="{reverse("docs:protocol")}#7-errors-and-limits"' in response.text
    assert '.md"' not in response.text and ".md#" not in response.text

    response = client.get(reverse("docs:quickstart"), HTTP_ACCEPT_LANGUAGE="id")
    assert f'href="{reverse("docs:limits")}"' in response.text
    assert '.md"' not in response.text


def test_the_link_to_the_same_page_in_the_other_language_is_dropped(client):
    english = client.get(reverse("docs:protocol")).text
    assert "protocol.id.md" not in english
    indonesian = client.get(reverse("docs:protocol"), HTTP_ACCEPT_LANGUAGE="id").text
    assert "protocol.md" not in indonesian


def test_limits_page_lists_every_close_code_and_error_code(client):
    english = client.get(reverse("docs:limits")).text
    indonesian = client.get(reverse("docs:limits"), HTTP_ACCEPT_LANGUAGE="id").text
    close_codes = ["1009", "1012", "4001", "4003", "4004", "4008", "4009", "4029", "4403"]
    error_codes = [
        "invalid_json",
        "invalid_message",
        "unknown_event",
        "unknown_recipient",
        "not_admin",
        "not_approved",
        "binary_not_supported",
        "message_too_large",
        "rate_limited",
        "project_not_found",
        "origin_not_allowed",
        "too_many_connections",
    ]
    for text in (english, indonesian):
        for code in close_codes:
            assert f"<td>{code}</td>" in text
        for code in error_codes:
            assert f"<code>{code}</code>" in text
        assert "65 536" in text and "1 MiB" in text


def test_rendered_once_and_again_when_the_file_changes(client, tmp_path, monkeypatch):
    (tmp_path / "limits.md").write_text("# First\n", encoding="utf-8")
    monkeypatch.setattr(docs_views, "DOCS_DIR", tmp_path)
    calls = []
    real = docs_views.markdown.Markdown

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(docs_views.markdown, "Markdown", counting)
    assert "First</h1>" in client.get(reverse("docs:limits")).text
    assert "First</h1>" in client.get(reverse("docs:limits")).text
    assert len(calls) == 1

    path = tmp_path / "limits.md"
    path.write_text("# Second\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert "Second</h1>" in client.get(reverse("docs:limits")).text
    assert len(calls) == 2


def test_falls_back_to_english_when_there_is_no_indonesian_file(client, tmp_path, monkeypatch):
    (tmp_path / "limits.md").write_text("# Only English\n", encoding="utf-8")
    monkeypatch.setattr(docs_views, "DOCS_DIR", tmp_path)
    response = client.get(reverse("docs:limits"), HTTP_ACCEPT_LANGUAGE="id")
    assert "Only English</h1>" in response.text


def test_docs_index_redirects_to_the_protocol(client):
    response = client.get(reverse("docs:index"))
    assert response.status_code == 302
    assert response.url == reverse("docs:protocol")


def test_unknown_page_is_404(client):
    assert client.get("/docs/nope/").status_code == 404
    assert client.get("/docs/protocol.md").status_code == 404


def test_rejects_post(client):
    assert client.post(reverse("docs:quickstart")).status_code == 405


def test_signed_in_users_see_the_docs_too(client, alice):
    client.force_login(alice)
    assert client.get(reverse("docs:protocol")).status_code == 200


def test_security_page_in_both_languages(client):
    response = client.get(reverse("docs:security"))
    assert "Security</h1>" in response.text
    assert "Deployment checklist behind a TLS proxy" in response.text
    response = client.get(reverse("docs:security"), HTTP_ACCEPT_LANGUAGE="id")
    assert "Keamanan</h1>" in response.text
    assert "Daftar periksa pemasangan" in response.text


def test_api_page_ends_with_the_reference_generated_from_the_schema(client):
    response = client.get(reverse("docs:api"))
    assert "/api/v1/openapi.json" in response.text
    for operation in (
        "POST /api/v1/projects/{public_id}/messages",
        "POST /api/v1/projects/{public_id}/approvals",
        "GET /api/v1/projects/{public_id}/connections",
    ):
        assert f"<code>{operation}</code>" in response.text
    assert "unknown_recipient" in response.text


@pytest.mark.parametrize("language", ["en", "id"])
def test_no_page_calls_the_api_planned(client, language):
    for name in PAGES:
        text = client.get(reverse(f"docs:{name}"), HTTP_ACCEPT_LANGUAGE=language).text.lower()
        assert "planned" not in text and "direncanakan" not in text
