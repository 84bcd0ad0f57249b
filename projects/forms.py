"""Forms of the dashboard. Each owns its validation, in `clean_<field>`."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import MAX_APPROVAL_TIMEOUT, MIN_APPROVAL_TIMEOUT, Project, WebhookEndpoint
from .origins import clean_origins
from .webhooks import UnsafeUrl, check_url


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
        return clean_origins(self.cleaned_data["allowed_origins"].splitlines())


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
