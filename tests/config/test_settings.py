"""Production settings are safe by default: each case loads the settings in a fresh process with
only the environment it names (no .env file is read by these, none is in the checkout in CI)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
GOOD_KEY = secrets.token_urlsafe(50)
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "relay.example.com"}
SHOWN = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_TRUSTED_ORIGINS",
]
SHOW = (
    "import json, django; from django.conf import settings; django.setup(); "
    f"print(json.dumps({{n: getattr(settings, n) for n in {SHOWN!r}}}))"
)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run Python in the checkout with nothing in the environment but `env` (and PATH)."""
    base = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


def settings_with(env: dict[str, str]) -> dict:
    done = run(env, "-c", SHOW)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_check_deploy_is_clean_with_only_key_and_hosts_set():
    done = run(PRODUCTION, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_debug_is_off_unless_set():
    shown = settings_with({"SECRET_KEY": GOOD_KEY})
    assert shown["DEBUG"] is False


def test_secure_choices_are_on_with_debug_off():
    shown = settings_with(PRODUCTION)
    assert shown["SECURE_SSL_REDIRECT"] is True
    assert shown["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert shown["SESSION_COOKIE_SECURE"] is True
    assert shown["CSRF_COOKIE_SECURE"] is True
    assert shown["SECURE_PROXY_SSL_HEADER"] is None


def test_each_secure_choice_can_be_changed_from_the_environment():
    shown = settings_with(
        {
            **PRODUCTION,
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "3600",
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
            "CSRF_TRUSTED_ORIGINS": "https://relay.example.com,https://www.relay.example.com",
        }
    )
    assert shown["SECURE_SSL_REDIRECT"] is False
    assert shown["SECURE_HSTS_SECONDS"] == 3600
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert shown["CSRF_TRUSTED_ORIGINS"] == [
        "https://relay.example.com",
        "https://www.relay.example.com",
    ]


def test_development_turns_the_secure_choices_off():
    shown = settings_with({"DEBUG": "1"})
    assert shown["SECURE_SSL_REDIRECT"] is False
    assert shown["SECURE_HSTS_SECONDS"] == 0
    assert shown["SESSION_COOKIE_SECURE"] is False


def test_debug_off_refuses_a_missing_short_or_placeholder_key():
    placeholders = [
        None,
        "",
        "change-me",
        "dev-only-insecure-secret-key-do-not-use-in-production",
        "django-insecure-" + secrets.token_urlsafe(50),
        secrets.token_urlsafe(30),  # 40 characters
        "a" * 60,
    ]
    for key in placeholders:
        env = {"DEBUG": "0", "ALLOWED_HOSTS": "relay.example.com"}
        if key is not None:
            env["SECRET_KEY"] = key
        done = run(env, "manage.py", "check")
        assert done.returncode != 0, key
        assert "ImproperlyConfigured" in done.stderr and "SECRET_KEY" in done.stderr, key
