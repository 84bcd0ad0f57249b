"""A project's allowed origins: how entries are checked, normalized and matched (PROTOCOL.md §1).

The dashboard's settings form, the Django admin and `create_project` validate a list of
origins through `clean_origins`; the relay asks `origin_allowed` at connect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MAX_ALLOWED_ORIGINS = 100

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(origin: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the host lower-cased and a default port dropped."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    if port == _DEFAULT_PORTS.get(scheme):
        port = None
    return scheme, parts.hostname.lower(), port


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """PROTOCOL.md §1: no Origin is allowed; an empty list allows any; `*.` is one level."""
    if origin is None or not allowed:
        return True
    given = normalize_origin(origin)
    if given is None:
        return False
    scheme, host, port = given
    for entry in allowed:
        wanted = normalize_origin(entry.replace("*.", "wildcard.", 1))
        if wanted is None or (wanted[0], wanted[2]) != (scheme, port):
            continue
        if entry.split("://", 1)[-1].startswith("*."):
            parent = wanted[1].removeprefix("wildcard.")
            label, _, rest = host.partition(".")
            if label and rest == parent:
                return True
        elif wanted[1] == host:
            return True
    return False


def valid_origin_entry(entry: str) -> bool:
    """Whether an allowed-origins entry is a bare origin (scheme://host[:port], maybe `*.`)."""
    probe = entry.replace("*.", "wildcard.", 1) if "://*." in entry else entry
    try:
        parts = urlsplit(probe)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and not parts.username
        and "*" not in probe
    )


def origin_problem(entry: str) -> str | None:
    """What is wrong with one allowed-origins entry, in words a developer can act on."""
    if valid_origin_entry(entry):
        return None
    example = _suggestion(entry)
    if "://" not in entry:
        return gettext("“%(entry)s” has no scheme: write it as https://%(entry)s.") % {
            "entry": entry
        }
    try:
        parts = urlsplit(entry.replace("*.", "wildcard.", 1))
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return gettext("“%(entry)s” has an invalid host or port.") % {"entry": entry}
    if parts.scheme not in ("http", "https"):
        return gettext("“%(entry)s” must start with http:// or https://.") % {"entry": entry}
    if "*" in entry and not entry.split("://", 1)[1].startswith("*."):
        return gettext(
            "“%(entry)s”: a wildcard may only stand for the first label, as in "
            "https://*.example.com."
        ) % {"entry": entry}
    if parts.username or parts.password:
        return gettext("“%(entry)s” must not contain a user name or password.") % {"entry": entry}
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        if example:
            return gettext(
                "“%(entry)s” has a path; an origin is only scheme://host[:port], here %(example)s."
            ) % {"entry": entry, "example": example}
        return gettext("“%(entry)s” has a path; an origin is only scheme://host[:port].") % {
            "entry": entry
        }
    return gettext(
        "“%(entry)s” is not an origin: write scheme://host[:port], like https://app.example.com."
    ) % {"entry": entry}


def _suggestion(entry: str) -> str | None:
    """scheme://host[:port] of `entry`, when it has those and they are valid."""
    try:
        parts = urlsplit(entry)
    except ValueError:
        return None
    candidate = f"{parts.scheme}://{parts.netloc}"
    return candidate if parts.scheme and parts.netloc and valid_origin_entry(candidate) else None


def clean_origins(lines: list[str]) -> list[str]:
    """The allowed origins of `lines` (one entry each; blank ones skipped), or a ValidationError
    with one message per bad line. Trailing slashes are dropped and repeats kept once."""
    origins: list[str] = []
    errors: list[ValidationError] = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry:
            continue
        problem = origin_problem(entry)
        if problem is not None:
            errors.append(
                ValidationError(
                    _("Line %(line)d: %(problem)s"),
                    code="invalid_origin",
                    params={"line": number, "problem": problem},
                )
            )
            continue
        entry = entry.rstrip("/")
        if entry not in origins:
            origins.append(entry)
    if errors:
        raise ValidationError(errors)
    if len(origins) > MAX_ALLOWED_ORIGINS:
        raise ValidationError(
            _("List at most %(max)d origins (there are %(count)d)."),
            code="too_many",
            params={"max": MAX_ALLOWED_ORIGINS, "count": len(origins)},
        )
    return origins
