"""The admin never filters on the admin key: a view-only operator cannot recover it."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.conftest import make_project

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:projects_project_changelist")


@pytest.fixture
def viewer_client(client, django_user_model):
    viewer = django_user_model.objects.create_user(
        email="viewer@example.com", password="pw-viewer-123", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_project"))
    client.force_login(viewer)
    return client


def test_view_only_operator_sees_the_project_list(viewer_client, project):
    response = viewer_client.get(CHANGELIST)
    assert response.status_code == 200
    assert project.public_id in response.text


@pytest.mark.parametrize(
    "lookup",
    ["admin_key__startswith", "admin_key", "admin_key__exact", "admin_key__regex"],
)
def test_filtering_on_the_admin_key_is_refused(viewer_client, project, lookup):
    response = viewer_client.get(CHANGELIST, {lookup: project.admin_key[:1]})
    # DisallowedModelAdminLookup is a SuspiciousOperation: a 400, with no list.
    assert response.status_code == 400
    assert project.public_id not in response.text


def test_guessing_the_first_character_tells_nothing(viewer_client, alice):
    project = make_project(alice)
    answers = {
        viewer_client.get(CHANGELIST, {"admin_key__startswith": c}).status_code
        for c in {project.admin_key[0], "0" if project.admin_key[0] != "0" else "1"}
    }
    assert answers == {400}


def test_other_filters_still_work(viewer_client, project):
    response = viewer_client.get(CHANGELIST, {"is_active__exact": "1"})
    assert response.status_code == 200
