"""The operators' view of projects: search, limits, disable/enable, and live connections."""

from __future__ import annotations

import logging
from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_safe

from . import live
from .models import Project, WebhookEndpoint, WebhookMessage
from .origins import clean_origins
from .statuses import Status

logger = logging.getLogger(__name__)

admin.site.site_header = _("Relay administration")
admin.site.site_title = _("Relay admin")
admin.site.index_title = _("Operations")

# The project's secret: never a filter, a search field or a sort column of the admin.
SECRET_FIELD = "admin_key"

LIMIT_FIELDS = [
    "max_connections",
    "max_message_bytes",
    "rate_burst",
    "rate_per_second",
    "approval_timeout",
    "pending_policy",
    "allowed_origins",
]


def masked_key(key: str) -> str:
    """The first four characters and then dots: enough to tell two keys apart, no more."""
    return f"{key[:4]}{'•' * 12}" if key else ""


class OriginsField(forms.CharField):
    """A list of origins, edited as one origin per line."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value) -> list[str]:
        lines = list(value) if isinstance(value, list | tuple) else (value or "").splitlines()
        return clean_origins(lines)


class ProjectAdminForm(forms.ModelForm):
    allowed_origins = OriginsField(
        label=_("allowed origins"),
        required=False,
        help_text=_("One per line, such as https://app.example.com. Empty: any origin."),
    )

    class Meta:
        model = Project
        fields = ["name", "owner", "is_active", *LIMIT_FIELDS]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = [
        "name",
        "public_id",
        "owner_link",
        "live_connections",
        "pending_policy",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active", "pending_policy", "created_at"]
    search_fields = ["name", "public_id", "owner__email"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner"]
    readonly_fields = ["public_id", "admin_key_masked", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "owner", "is_active"]}),
        (_("Identity"), {"fields": ["public_id", "admin_key_masked", "created_at"]}),
        (_("Limits"), {"fields": LIMIT_FIELDS}),
    ]
    actions = ["disable_projects", "enable_projects"]

    # --- Filters ---------------------------------------------------------------------------

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Never filter on the admin key: `?admin_key__startswith=` would reveal it, a
        character at a time, to anyone who may only view projects."""
        if SECRET_FIELD in lookup.split(LOOKUP_SEP):
            return False
        return super().lookup_allowed(lookup, value, request)

    # --- Columns and read-only fields ------------------------------------------------------

    @admin.display(description=_("owner"), ordering="owner__email")
    def owner_link(self, project: Project) -> str:
        url = reverse("admin:accounts_user_change", args=[project.owner_id])
        return format_html('<a href="{}">{}</a>', url, project.owner.email)

    @admin.display(description=_("live connections"))
    def live_connections(self, project: Project) -> str:
        try:
            total = live.counts(project.public_id)["total"]
        except Exception:
            logger.exception("could not count live connections of %s", project.public_id)
            return "?"
        url = reverse("admin:projects_project_connections", args=[project.pk])
        return format_html('<a href="{}">{}</a>', url, total)

    @admin.display(description=_("admin key"))
    def admin_key_masked(self, project: Project) -> str:
        return masked_key(project.admin_key)

    # --- Saving ----------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Project, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            return
        if "is_active" in form.changed_data and not obj.is_active:
            obj.disable()  # closes its live connections with 4004
        elif form.changed_data:
            obj.settings_changed()  # live connections read the new limits

    # --- Actions ---------------------------------------------------------------------------

    @admin.action(description=_("Disable selected projects"), permissions=["change"])
    def disable_projects(self, request: HttpRequest, queryset) -> None:
        count = 0
        for project in queryset:
            project.disable()
            count += 1
        self.message_user(
            request,
            ngettext(
                "Disabled %(count)d project; its live connections were closed.",
                "Disabled %(count)d projects; their live connections were closed.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Enable selected projects"), permissions=["change"])
    def enable_projects(self, request: HttpRequest, queryset) -> None:
        count = 0
        for project in queryset:
            project.enable()
            count += 1
        self.message_user(
            request,
            ngettext("Enabled %(count)d project.", "Enabled %(count)d projects.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    # --- Live connections view -------------------------------------------------------------

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/connections/",
                self.admin_site.admin_view(require_safe(self.connections_view)),
                name="projects_project_connections",
            ),
        ]
        return own + super().get_urls()

    def connections_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        project = self.get_object(request, unquote(object_id))
        if project is None:
            raise Http404(_("No such project."))
        if not self.has_view_permission(request, project):
            raise PermissionDenied
        try:
            entries = live.connections(project.public_id)
            unavailable = False
        except Exception:
            logger.exception("could not list live connections of %s", project.public_id)
            entries, unavailable = [], True
        rows = [
            {
                "id": entry.conn_id,
                "status": str(entry.status),
                "connected_at": _parse_time(entry.connected_at),
                "connected_at_iso": entry.connected_at,
            }
            for entry in entries
        ]
        counts = {str(s): sum(1 for r in rows if r["status"] == s) for s in Status}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": project,
            "title": _("Live connections of %(project)s") % {"project": project.name},
            "subtitle": project.public_id,
            "rows": rows,
            "counts": counts,
            "total": len(rows),
            "unavailable": unavailable,
            "has_view_permission": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/projects/project/connections.html", context)


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Operators see where projects' webhooks go; the signing secret is never shown."""

    list_display = ["project", "url", "created_at"]
    search_fields = ["project__public_id", "project__name", "url"]
    fields = ["project", "url", "events", "created_at"]
    readonly_fields = ["project", "url", "events", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(admin.ModelAdmin):
    """Webhook events and their delivery state, for support questions."""

    list_display = ["msg_id", "event", "endpoint", "state", "attempts", "next_attempt_at"]
    list_filter = ["state", "event"]
    search_fields = ["msg_id", "conn_id", "endpoint__project__public_id"]
    readonly_fields = [
        "endpoint",
        "msg_id",
        "event",
        "conn_id",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
