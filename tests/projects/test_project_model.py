import re

import pytest
from django.core.exceptions import ValidationError

from projects.models import Project
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


def test_defaults_follow_the_protocol(alice):
    project = make_project(alice)
    project.refresh_from_db()
    assert project.pending_policy == Project.PendingPolicy.OPEN == "open"
    assert project.approval_timeout == 60
    assert project.max_message_bytes == 65536
    assert project.rate_burst == 100
    assert project.rate_per_second == 50
    assert project.allowed_origins == []
    assert project.is_active


def test_public_id_is_random_and_not_the_primary_key(alice):
    first, second = make_project(alice), make_project(alice)
    for project in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", project.public_id)
        assert project.public_id != str(project.pk)
    assert first.public_id != second.public_id
    assert first.socket_path == f"/ws/{first.public_id}/"


def test_new_project_has_an_admin_key(alice):
    project = make_project(alice)
    assert re.fullmatch(r"[A-Za-z0-9]{40}", project.admin_key)
    assert project.admin_key != make_project(alice).admin_key


def test_rotate_admin_key_changes_and_saves_the_key(alice):
    project = make_project(alice)
    old = project.admin_key
    new = project.rotate_admin_key()
    assert new != old
    assert re.fullmatch(r"[A-Za-z0-9]{40}", new)
    assert project.admin_key == new
    assert Project.objects.get(pk=project.pk).admin_key == new


@pytest.mark.parametrize("timeout", [9, 3601, 0])
def test_full_clean_refuses_approval_timeout_out_of_range(alice, timeout):
    project = make_project(alice, approval_timeout=timeout)
    with pytest.raises(ValidationError) as caught:
        project.full_clean()
    assert "approval_timeout" in caught.value.message_dict


@pytest.mark.parametrize("timeout", [10, 3600])
def test_full_clean_accepts_approval_timeout_at_the_bounds(alice, timeout):
    make_project(alice, approval_timeout=timeout).full_clean()
