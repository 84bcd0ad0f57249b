"""Tenancy in one place: which projects a request may see."""

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from .models import Project


def get_project_for_user(request: HttpRequest, public_id: str) -> Project:
    """The signed-in user's project `public_id`, or 404.

    Someone else's project looks exactly like a missing one.
    """
    if not request.user.is_authenticated:
        raise Http404
    return get_object_or_404(Project, public_id=public_id, owner=request.user)
