from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from projects.origins import MAX_ALLOWED_ORIGINS
from tests.conftest import make_project

pytestmark = pytest.mark.django_db

VALID = {"pending_policy": "open", "approval_timeout": "60", "allowed_origins": ""}


def settings_url(project) -> str:
    return reverse("projects:settings", args=[project.public_id])


def post(client, project, django_capture_on_commit_callbacks, **changes):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(settings_url(project), {**VALID, **changes})


def errors(response) -> dict:
    return response.context["settings_form"].errors


def test_url_name(project):
    assert settings_url(project) == f"/projects/{project.public_id}/settings/"


def test_saves_settings_and_tells_live_connections(
    alice_client, project, told, django_capture_on_commit_callbacks
):
    response = post(
        alice_client,
        project,
        django_capture_on_commit_callbacks,
        pending_policy="restricted",
        approval_timeout="300",
        allowed_origins="https://app.example.com\r\nhttps://*.example.org\r\n",
    )

    assert response.status_code == 302
    assert response.url == reverse("projects:detail", args=[project.public_id])
    project.refresh_from_db()
    assert project.pending_policy == "restricted"
    assert project.approval_timeout == 300
    assert project.allowed_origins == ["https://app.example.com", "https://*.example.org"]
    assert told == [(project.public_id, "settings")]


def test_says_the_settings_were_saved(alice_client, project, told):
    response = alice_client.post(settings_url(project), VALID, follow=True)

    assert "Settings saved." in response.content.decode()


def test_origins_skip_blank_lines_trailing_slashes_and_repeats(
    alice_client, project, told, django_capture_on_commit_callbacks
):
    post(
        alice_client,
        project,
        django_capture_on_commit_callbacks,
        allowed_origins="\n  https://a.example.com/  \n\nhttps://a.example.com\nhttp://localhost:3000\n",
    )

    project.refresh_from_db()
    assert project.allowed_origins == ["https://a.example.com", "http://localhost:3000"]


def test_empty_origins_allow_any(alice_client, alice, told, django_capture_on_commit_callbacks):
    project = make_project(alice, allowed_origins=["https://a.example.com"])

    post(alice_client, project, django_capture_on_commit_callbacks, allowed_origins="  \n ")

    project.refresh_from_db()
    assert project.allowed_origins == []


@pytest.mark.parametrize("seconds", ["10", "3600"])
def test_timeout_bounds_are_accepted(
    alice_client, project, told, django_capture_on_commit_callbacks, seconds
):
    post(alice_client, project, django_capture_on_commit_callbacks, approval_timeout=seconds)

    project.refresh_from_db()
    assert project.approval_timeout == int(seconds)


@pytest.mark.parametrize("seconds", ["9", "3601", "0", "-5"])
def test_timeout_out_of_range_is_refused(alice_client, project, told, seconds):
    response = alice_client.post(settings_url(project), {**VALID, "approval_timeout": seconds})

    assert errors(response) == {
        "approval_timeout": [f"Choose from 10 to 3600 seconds (you entered {seconds})."]
    }
    project.refresh_from_db()
    assert project.approval_timeout == 60
    assert told == []


@pytest.mark.parametrize("seconds", ["soon", "1.5"])
def test_timeout_that_is_not_a_whole_number_is_refused(alice_client, project, told, seconds):
    response = alice_client.post(settings_url(project), {**VALID, "approval_timeout": seconds})

    assert errors(response) == {
        "approval_timeout": ["Enter a whole number of seconds, from 10 to 3600."]
    }


def test_missing_timeout_is_refused(alice_client, project, told):
    response = alice_client.post(settings_url(project), {**VALID, "approval_timeout": ""})

    assert errors(response) == {"approval_timeout": ["Enter a number of seconds, from 10 to 3600."]}


def test_unknown_policy_is_refused(alice_client, project, told):
    response = alice_client.post(settings_url(project), {**VALID, "pending_policy": "lax"})

    assert errors(response) == {"pending_policy": ["Choose “open” or “restricted”."]}
    assert told == []


def test_each_bad_origin_gets_its_own_message(alice_client, project, told):
    lines = [
        "https://ok.example.com",
        "example.com",
        "ftp://files.example.com",
        "https://app.example.com/login",
        "https://app.*.example.com",
        "https://user:pw@example.com",
        "https://example.com:99999",
        "https://",
    ]

    response = alice_client.post(
        settings_url(project), {**VALID, "allowed_origins": "\n".join(lines)}
    )

    assert response.status_code == 200
    assert errors(response)["allowed_origins"] == [
        "Line 2: “example.com” has no scheme: write it as https://example.com.",
        "Line 3: “ftp://files.example.com” must start with http:// or https://.",
        "Line 4: “https://app.example.com/login” has a path; an origin is only "
        "scheme://host[:port], here https://app.example.com.",
        "Line 5: “https://app.*.example.com”: a wildcard may only stand for the first "
        "label, as in https://*.example.com.",
        "Line 6: “https://user:pw@example.com” must not contain a user name or password.",
        "Line 7: “https://example.com:99999” has an invalid host or port.",
        "Line 8: “https://” is not an origin: write scheme://host[:port], like "
        "https://app.example.com.",
    ]
    body = response.content.decode()
    assert "Line 2: “example.com” has no scheme" in body
    project.refresh_from_db()
    assert project.allowed_origins == []
    assert told == []


def test_too_many_origins_are_refused(alice_client, project, told):
    origins = "\n".join(f"https://a{n}.example.com" for n in range(MAX_ALLOWED_ORIGINS + 1))

    response = alice_client.post(settings_url(project), {**VALID, "allowed_origins": origins})

    assert errors(response) == {
        "allowed_origins": [
            f"List at most {MAX_ALLOWED_ORIGINS} origins (there are {MAX_ALLOWED_ORIGINS + 1})."
        ]
    }


def test_errors_keep_what_was_typed_and_the_rest_of_the_page(alice_client, project, told):
    response = alice_client.post(
        settings_url(project),
        {"pending_policy": "restricted", "approval_timeout": "5", "allowed_origins": "nope"},
    )

    body = response.content.decode()
    assert 'value="5"' in body
    assert "nope</textarea>" in body
    assert f"ws://testserver/ws/{project.public_id}/" in body
    # The page's other parts show what is saved, not what failed.
    assert response.context["project"].pending_policy == "open"
    project.refresh_from_db()
    assert (project.pending_policy, project.approval_timeout) == ("open", 60)


def test_outsider_gets_404_and_nothing_changes(client, mallory, project, told):
    client.force_login(mallory)

    response = client.post(settings_url(project), {**VALID, "pending_policy": "restricted"})

    assert response.status_code == 404
    project.refresh_from_db()
    assert project.pending_policy == "open"
    assert told == []


def test_anonymous_is_sent_to_log_in(client, project, told):
    response = client.post(settings_url(project), {**VALID, "pending_policy": "restricted"})

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("accounts:login")
    project.refresh_from_db()
    assert project.pending_policy == "open"


def test_rejects_get(alice_client, project, told):
    response = alice_client.get(settings_url(project), {**VALID, "pending_policy": "restricted"})

    assert response.status_code == 405
    project.refresh_from_db()
    assert project.pending_policy == "open"
    assert told == []
