"""The landing page, the developer's dashboard and the project page.

Function views; each reads top to bottom: load, check access, validate, act, then redirect or
render. State changes are POST only; a GET never writes.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import live, webhooks
from .access import get_project_for_user
from .forms import ProjectNameForm, ProjectSettingsForm, WebhookForm
from .models import Project, WebhookEndpoint


def ws_url_for(request: HttpRequest, project: Project) -> str:
    """The absolute WebSocket URL of `project` as this request reached us."""
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{project.socket_path}"


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    scheme = "wss" if request.is_secure() else "ws"
    return render(request, "home.html", {"ws_base": f"{scheme}://{request.get_host()}"})


@login_required
@require_safe
def project_list(request: HttpRequest) -> HttpResponse:
    projects = list(request.user.projects.all())
    for project in projects:
        project.live_counts = live.counts(project.public_id)
    context = {"projects": projects, "form": ProjectNameForm()}
    return render(request, "projects/list.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "projects/new.html", {"form": ProjectNameForm()})
    form = ProjectNameForm(request.POST)
    if not form.is_valid():
        return render(request, "projects/new.html", {"form": form})
    project = form.save(commit=False)
    project.owner = request.user
    project.save()
    messages.success(
        request,
        _("Project “%(name)s” is ready. Connect to its URL below.") % {"name": project.name},
    )
    return redirect("projects:detail", project.public_id)


@login_required
@require_safe
def project_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    return render_detail(request, project)


def render_detail(
    request: HttpRequest,
    project: Project,
    rename_form: ProjectNameForm | None = None,
    settings_form: ProjectSettingsForm | None = None,
    webhook_form: WebhookForm | None = None,
) -> HttpResponse:
    """The project page; a form that failed validation is shown with its errors."""
    endpoint = WebhookEndpoint.objects.filter(project=project).first()
    context = {
        "webhook": endpoint,
        "webhook_form": webhook_form
        or WebhookForm(instance=endpoint, auto_id="webhook_%s", initial=_default_events(endpoint)),
        "webhook_log": list(endpoint.attempts.select_related("message")[: webhooks.LOG_SIZE])
        if endpoint
        else [],
        "project": project,
        "ws_url": ws_url_for(request, project),
        "api_url": request.build_absolute_uri(f"/api/v1/projects/{project.public_id}/"),
        "api_docs_url": reverse("docs:api"),
        "counts": live.counts(project.public_id),
        "message_counts": live.messages(project.public_id),
        "rename_form": rename_form or ProjectNameForm(instance=project, auto_id="rename_%s"),
        "settings_form": settings_form or ProjectSettingsForm(instance=project),
    }
    return render(request, "projects/detail.html", context)


@login_required
@require_POST
def project_rename(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    form = ProjectNameForm(request.POST, instance=project, auto_id="rename_%s")
    if not form.is_valid():
        project.refresh_from_db(fields=["name"])
        return render_detail(request, project, rename_form=form)
    form.save()
    messages.success(request, _("Renamed to “%(name)s”.") % {"name": project.name})
    return redirect("projects:detail", project.public_id)


@login_required
@require_POST
def project_settings(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    form = ProjectSettingsForm(request.POST, instance=project)
    if not form.is_valid():
        project.refresh_from_db()
        return render_detail(request, project, settings_form=form)
    form.save()
    project.settings_changed()
    messages.success(request, _("Settings saved. Live connections use them from now on."))
    return redirect("projects:detail", project.public_id)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def regenerate_key(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    if request.method != "POST":
        return render(request, "projects/regenerate_key.html", {"project": project})
    project.rotate_admin_key()
    messages.success(
        request,
        _(
            "New admin key made. Connections that were admin with the old key were closed "
            "with code 4003."
        ),
    )
    return redirect("projects:detail", project.public_id)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def project_delete(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    if request.method != "POST":
        context = {"project": project, "counts": live.counts(project.public_id)}
        return render(request, "projects/delete.html", context)
    name = project.name
    project.delete()
    messages.success(
        request,
        _("Project “%(name)s” deleted; its connections were closed with code 4004.")
        % {"name": name},
    )
    return redirect("projects:list")


@never_cache
@login_required
@require_POST
def admin_key(request: HttpRequest, public_id: str) -> JsonResponse:
    """The admin key, on demand: it never sits in page HTML nor in a GET response."""
    project = get_project_for_user(request, public_id)
    return JsonResponse({"admin_key": project.admin_key})


@never_cache
@login_required
@require_safe
def project_stats(request: HttpRequest, public_id: str) -> JsonResponse:
    """Connections now, by status, and messages relayed lately: the page polls this."""
    project = get_project_for_user(request, public_id)
    return JsonResponse(
        {
            "connections": live.counts(project.public_id),
            "messages": live.messages(project.public_id),
        }
    )


def _default_events(endpoint: WebhookEndpoint | None) -> dict:
    return {} if endpoint else {"events": list(WebhookEndpoint.Event.values)}


@login_required
@require_POST
def webhook_save(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    endpoint = WebhookEndpoint.objects.filter(project=project).first()
    form = WebhookForm(request.POST, instance=endpoint, auto_id="webhook_%s")
    if not form.is_valid():
        return render_detail(request, project, webhook_form=form)
    endpoint = form.save(commit=False)
    endpoint.project = project
    endpoint.save()
    live.forget_webhook(project.public_id)
    messages.success(request, _("Webhook saved. New events go to %(url)s.") % {"url": endpoint.url})
    return redirect(reverse("projects:detail", args=[project.public_id]) + "#webhooks")


@login_required
@require_POST
def webhook_delete(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    WebhookEndpoint.objects.filter(project=project).delete()
    live.forget_webhook(project.public_id)
    messages.success(request, _("Webhook removed: no more events are sent."))
    return redirect(reverse("projects:detail", args=[project.public_id]) + "#webhooks")


@login_required
@require_POST
def webhook_test(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request, public_id)
    endpoint = get_object_or_404(WebhookEndpoint, project=project)
    webhooks.send_test_event(endpoint)
    messages.success(request, _("Test event queued; its attempt shows in the delivery log below."))
    return redirect(reverse("projects:detail", args=[project.public_id]) + "#webhooks")


@never_cache
@login_required
@require_POST
def webhook_secret(request: HttpRequest, public_id: str) -> JsonResponse:
    """The signing secret, on demand: never in page HTML nor in a GET response."""
    project = get_project_for_user(request, public_id)
    endpoint = get_object_or_404(WebhookEndpoint, project=project)
    return JsonResponse({"secret": endpoint.secret})
