"""Forms of the dashboard. Each owns its validation, in `clean_<field>`."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from realtime.protocol import valid_origin_entry

from .models import MAX_APPROVAL_TIMEOUT, MIN_APPROVAL_TIMEOUT, Project, WebhookEndpoint
from .webhooks import UnsafeUrl, check_url

MAX_ALLOWED_ORIGINS = 100


class ProjectNameForm(forms.ModelForm):
    """Create a project, or rename one: only the name is the developer's to choose."""

    class Meta:
        model = Project
        fields = ["name"]
        labels = {"name": _("Project name")}
        help_texts = {"name": _("Only you see it, e.g. “Chat” or “Game lobby (staging)”.")}
        error_messages = {
            "name": {
                "required": _("Give the project a name."),
                "max_length": _("Keep the name to %(limit_value)d characters or fewer."),
            }
        }

    def clean_name(self) -> str:
        # Runs of spaces, tabs and newlines become one space.
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(_("Give the project a name."), code="required")
        return name


class ProjectSettingsForm(forms.ModelForm):
    """The settings a live connection reads: pending policy, approval timeout, origins."""

    pending_policy = forms.ChoiceField(
        label=_("Pending connections"),
        choices=Project.PendingPolicy.choices,
        widget=forms.RadioSelect,
        help_text=_("What a connection may do before an admin approves it."),
        error_messages={"invalid_choice": _("Choose “open” or “restricted”.")},
    )
    # The range is checked in clean_approval_timeout, so that one clear message covers it.
    approval_timeout = forms.IntegerField(
        label=_("Approval timeout (seconds)"),
        widget=forms.NumberInput(
            attrs={"min": MIN_APPROVAL_TIMEOUT, "max": MAX_APPROVAL_TIMEOUT, "step": 1}
        ),
        help_text=_(
            "A connection that is neither approved nor admin after this long is closed "
            "with code 4001. From 10 to 3600."
        ),
        error_messages={
            "required": _("Enter a number of seconds, from 10 to 3600."),
            "invalid": _("Enter a whole number of seconds, from 10 to 3600."),
        },
    )
    allowed_origins = forms.CharField(
        label=_("Allowed origins"),
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "spellcheck": "false",
                "autocapitalize": "off",
                "placeholder": "https://app.example.com\nhttps://*.example.com",
            }
        ),
        help_text=_(
            "One per line, as scheme://host[:port]; https://*.example.com allows one level "
            "of subdomain. Browsers from other origins are refused with code 4403. Empty: "
            "any origin may connect. Servers and scripts send no origin and are always allowed."
        ),
    )

    class Meta:
        model = Project
        fields = ["pending_policy", "approval_timeout", "allowed_origins"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins or [])

    def clean_approval_timeout(self) -> int:
        seconds = self.cleaned_data["approval_timeout"]
        if not MIN_APPROVAL_TIMEOUT <= seconds <= MAX_APPROVAL_TIMEOUT:
            raise forms.ValidationError(
                _("Choose from %(min)d to %(max)d seconds (you entered %(value)d)."),
                code="out_of_range",
                params={"min": MIN_APPROVAL_TIMEOUT, "max": MAX_APPROVAL_TIMEOUT, "value": seconds},
            )
        return seconds

    def clean_allowed_origins(self) -> list[str]:
        origins: list[str] = []
        errors: list[forms.ValidationError] = []
        for number, line in enumerate(self.cleaned_data["allowed_origins"].splitlines(), 1):
            entry = line.strip()
            if not entry:
                continue
            problem = origin_problem(entry)
            if problem is not None:
                errors.append(
                    forms.ValidationError(
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
            raise forms.ValidationError(errors)
        if len(origins) > MAX_ALLOWED_ORIGINS:
            raise forms.ValidationError(
                _("List at most %(max)d origins (there are %(count)d)."),
                code="too_many",
                params={"max": MAX_ALLOWED_ORIGINS, "count": len(origins)},
            )
        return origins


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


class WebhookForm(forms.ModelForm):
    """A project's webhook endpoint: where events are posted, and which events."""

    url = forms.URLField(
        label=_("Endpoint URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://api.example.com/relay-webhooks"}),
        help_text=_(
            "An https URL of your server. Events are posted to it signed (Standard Webhooks) "
            "and retried for more than a day until it answers 2xx."
        ),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=WebhookEndpoint.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except UnsafeUrl:
            raise forms.ValidationError(
                _(
                    "Use an https URL of a public server (plain http only to 127.0.0.1 when "
                    "the server allows it, for development)."
                ),
                code="unsafe_url",
            ) from None
        return url
