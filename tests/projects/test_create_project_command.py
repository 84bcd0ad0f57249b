import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from projects.models import Project
from tests.conftest import ROOT, database_url_for_servers


def create_project(*args: str) -> dict:
    out = StringIO()
    call_command("create_project", *args, stdout=out)
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1, text
    return json.loads(text)


@pytest.mark.django_db
def test_prints_one_line_of_json_with_id_path_and_key(alice):
    printed = create_project("--owner", "alice@example.com", "--name", "Chat")
    project = Project.objects.get(public_id=printed["public_id"])
    assert project.owner == alice
    assert project.name == "Chat"
    assert printed["path"] == f"/ws/{project.public_id}/"
    assert printed["admin_key"] == project.admin_key
    assert len(printed["admin_key"]) == 40


@pytest.mark.django_db
def test_defaults_when_no_options_are_given(alice):
    printed = create_project("--owner", "alice@example.com", "--name", "Chat")
    project = Project.objects.get(public_id=printed["public_id"])
    assert project.approval_timeout == 60
    assert project.pending_policy == "open"
    assert project.allowed_origins == []
    assert project.max_connections == 1000


@pytest.mark.django_db
def test_owner_email_is_matched_in_any_case(alice):
    printed = create_project("--owner", "Alice@Example.COM", "--name", "Chat")
    assert Project.objects.get(public_id=printed["public_id"]).owner == alice


@pytest.mark.django_db
def test_options_are_stored(alice):
    printed = create_project(
        "--owner",
        "alice@example.com",
        "--name",
        "Game",
        "--approval-timeout",
        "120",
        "--pending-policy",
        "restricted",
        "--allowed-origins",
        "https://example.com",
        "https://*.example.com",
        "--max-connections",
        "5",
    )
    project = Project.objects.get(public_id=printed["public_id"])
    assert project.approval_timeout == 120
    assert project.pending_policy == Project.PendingPolicy.RESTRICTED
    assert project.allowed_origins == ["https://example.com", "https://*.example.com"]
    assert project.max_connections == 5


@pytest.mark.django_db
def test_create_owner_makes_a_missing_owner():
    printed = create_project("--owner", "new@example.com", "--name", "Chat", "--create-owner")
    owner = get_user_model().objects.get(email="new@example.com")
    assert Project.objects.get(public_id=printed["public_id"]).owner == owner


@pytest.mark.django_db
def test_unknown_owner_without_create_owner_is_refused():
    with pytest.raises(CommandError, match=r"nobody@example\.com"):
        call_command(
            "create_project", "--owner", "nobody@example.com", "--name", "X", stdout=StringIO()
        )
    assert not Project.objects.exists()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "option",
    [
        ["--approval-timeout", "5"],
        ["--approval-timeout", "4000"],
        ["--max-connections", "0"],
        ["--allowed-origins", "example.com"],
        ["--allowed-origins", "https://example.com", "https://example.com/path"],
        ["--allowed-origins", "https://a.*.example.com"],
    ],
    ids=["timeout 5", "timeout 4000", "max connections 0", "no scheme", "path", "inner star"],
)
def test_bad_option_is_refused_and_nothing_is_made(alice, option):
    with pytest.raises(CommandError):
        call_command(
            "create_project",
            "--owner",
            "alice@example.com",
            "--name",
            "X",
            *option,
            stdout=StringIO(),
        )
    assert not Project.objects.exists()


@pytest.mark.django_db
def test_refused_option_does_not_create_the_owner():
    with pytest.raises(CommandError):
        call_command(
            "create_project",
            "--owner",
            "new@example.com",
            "--name",
            "X",
            "--create-owner",
            "--approval-timeout",
            "5",
            stdout=StringIO(),
        )
    assert not get_user_model().objects.filter(email="new@example.com").exists()


def run_manage(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url_for_servers(), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "manage.py", "create_project", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_command_prints_one_line_and_fails_with_status_1(transactional_db, alice):
    done = run_manage("--owner", "alice@example.com", "--name", "Chat")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and done.stdout.count("\n") == 1, done.stdout
    printed = json.loads(done.stdout)
    project = Project.objects.get(public_id=printed["public_id"])
    assert project.owner == alice
    assert printed["path"] == f"/ws/{project.public_id}/"
    assert printed["admin_key"] == project.admin_key

    refused = run_manage("--owner", "nobody@example.com", "--name", "X")
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and refused.stderr.endswith("\n"), refused.stderr
    assert "nobody@example.com" in refused.stderr
    assert Project.objects.count() == 1
