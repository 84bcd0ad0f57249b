"""The operators' admin for projects: search, filters, limits, actions and live connections."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import TransactionTestCase
from django.urls import reverse
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from config.asgi import application
from projects.admin import masked_key
from projects.models import Project
from tests.conftest import make_project

CHANGELIST = reverse("admin:projects_project_changelist")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def change_url(project: Project) -> str:
    return reverse("admin:projects_project_change", args=[project.pk])


def connections_url(project: Project) -> str:
    return reverse("admin:projects_project_connections", args=[project.pk])


def listed(response) -> list[Project]:
    return list(response.context["cl"].result_list)


def change_form_data(project: Project, **overrides) -> dict:
    data = {
        "name": project.name,
        "owner": project.owner_id,
        "is_active": "on" if project.is_active else "",
        "max_connections": project.max_connections,
        "max_message_bytes": project.max_message_bytes,
        "rate_burst": project.rate_burst,
        "rate_per_second": project.rate_per_second,
        "approval_timeout": project.approval_timeout,
        "pending_policy": project.pending_policy,
        "allowed_origins": "\n".join(project.allowed_origins),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


def disable_action(project: Project) -> dict:
    return {"action": "disable_projects", "_selected_action": [project.pk]}


# --- Search, filters, columns ------------------------------------------------------------


@pytest.fixture
def projects(alice, mallory):
    return {
        "alpha": make_project(alice, name="Alpha"),
        "beta": make_project(mallory, name="Beta", pending_policy="restricted"),
        "gamma": make_project(mallory, name="Gamma", is_active=False),
    }


@pytest.mark.django_db
def test_search_by_owner_email(admin_client, projects):
    response = admin_client.get(CHANGELIST, {"q": "alice@example.com"})
    assert response.status_code == 200
    assert listed(response) == [projects["alpha"]]


@pytest.mark.django_db
def test_search_by_public_id(admin_client, projects):
    beta = projects["beta"]
    response = admin_client.get(CHANGELIST, {"q": beta.public_id})
    assert listed(response) == [beta]


@pytest.mark.django_db
def test_search_by_name(admin_client, projects):
    response = admin_client.get(CHANGELIST, {"q": "gamm"})
    assert listed(response) == [projects["gamma"]]


@pytest.mark.django_db
def test_filter_by_active(admin_client, projects):
    inactive = admin_client.get(CHANGELIST, {"is_active__exact": "0"})
    assert listed(inactive) == [projects["gamma"]]
    active = admin_client.get(CHANGELIST, {"is_active__exact": "1"})
    assert set(listed(active)) == {projects["alpha"], projects["beta"]}


@pytest.mark.django_db
def test_filter_by_pending_policy(admin_client, projects):
    response = admin_client.get(CHANGELIST, {"pending_policy__exact": "restricted"})
    assert listed(response) == [projects["beta"]]


@pytest.mark.django_db
def test_changelist_links_owner_and_shows_live_count_but_never_the_key(admin_client, project):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    user_url = reverse("admin:accounts_user_change", args=[project.owner_id])
    assert f'<a href="{user_url}">alice@example.com</a>' in response.text
    assert f'<a href="{connections_url(project)}">0</a>' in response.text
    assert project.admin_key not in response.text


@pytest.mark.django_db
def test_change_page_shows_the_key_masked_and_ids_read_only(admin_client, project):
    response = admin_client.get(change_url(project))
    assert response.status_code == 200
    assert project.admin_key not in response.text
    assert masked_key(project.admin_key) in response.text
    assert project.public_id in response.text
    assert 'name="public_id"' not in response.text
    assert 'name="admin_key"' not in response.text
    assert f'href="{connections_url(project)}"' in response.text


def test_masked_key_keeps_four_characters():
    masked = masked_key("hfB2ZCr8PtlRPrv4i8fVOp0Zr9ChEWoPaCYjGFHr")
    assert masked.startswith("hfB2")
    assert "ZCr8" not in masked


# --- Editing limits -----------------------------------------------------------------------


@pytest.mark.django_db
def test_operator_edits_the_limits(admin_client, project):
    key, public_id = project.admin_key, project.public_id
    data = change_form_data(
        project,
        max_connections=5,
        max_message_bytes=1024,
        rate_burst=10,
        rate_per_second=2,
        approval_timeout=120,
        pending_policy="restricted",
        allowed_origins="https://app.example.com\n\nhttps://*.example.org\n",
    )
    response = admin_client.post(change_url(project), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    project.refresh_from_db()
    assert (project.max_connections, project.max_message_bytes) == (5, 1024)
    assert (project.rate_burst, project.rate_per_second) == (10, 2)
    assert project.approval_timeout == 120
    assert project.pending_policy == "restricted"
    assert project.allowed_origins == ["https://app.example.com", "https://*.example.org"]
    assert (project.admin_key, project.public_id) == (key, public_id)


@pytest.mark.django_db
def test_posted_key_and_public_id_are_ignored(admin_client, project):
    key, public_id = project.admin_key, project.public_id
    data = change_form_data(project, admin_key="x" * 40, public_id="attacker-chosen-id")
    assert admin_client.post(change_url(project), data).status_code == 302
    project.refresh_from_db()
    assert (project.admin_key, project.public_id) == (key, public_id)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("approval_timeout", 5),
        ("approval_timeout", 3601),
        ("max_message_bytes", 1024 * 1024 + 1),
        ("max_connections", 0),
        ("allowed_origins", "not an origin"),
        ("allowed_origins", "https://example.com/path"),
    ],
)
def test_out_of_range_limits_are_refused(admin_client, project, field, value):
    response = admin_client.post(change_url(project), change_form_data(project, **{field: value}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    project.refresh_from_db()
    assert project.approval_timeout == 60 and project.allowed_origins == []


@pytest.mark.django_db
def test_unticking_active_on_the_change_page_disables_the_project(
    admin_client, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(change_url(project), change_form_data(project, is_active=""))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.is_active is False
    assert callbacks  # live connections are told (closed with 4004)


# --- Actions ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_disable_action(admin_client, projects):
    alpha, beta = projects["alpha"], projects["beta"]
    data = {"action": "disable_projects", "_selected_action": [alpha.pk, beta.pk]}
    response = admin_client.post(CHANGELIST, data, follow=True)
    assert response.status_code == 200
    alpha.refresh_from_db()
    beta.refresh_from_db()
    assert alpha.is_active is False and beta.is_active is False
    assert "Disabled 2 projects" in response.text


@pytest.mark.django_db
def test_enable_action(admin_client, projects):
    gamma = projects["gamma"]
    data = {"action": "enable_projects", "_selected_action": [gamma.pk]}
    response = admin_client.post(CHANGELIST, data, follow=True)
    gamma.refresh_from_db()
    assert gamma.is_active is True
    assert "Enabled 1 project." in response.text


@pytest.mark.django_db
def test_actions_are_offered_in_the_changelist(admin_client, project):
    response = admin_client.get(CHANGELIST)
    assert "Disable selected projects" in response.text
    assert "Enable selected projects" in response.text


# --- Access -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_non_staff_user_is_sent_to_the_admin_login(client, alice, project):
    client.force_login(alice)
    for url in (CHANGELIST, change_url(project), connections_url(project)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_anonymous_visitor_is_sent_to_the_admin_login(client, project):
    response = client.get(connections_url(project))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_staff_without_permission_cannot_see_connections(client, django_user_model, project):
    staff = django_user_model.objects.create_user(email="staff@example.com", is_staff=True)
    client.force_login(staff)
    assert client.get(connections_url(project)).status_code == 403


@pytest.mark.django_db
def test_connections_of_unknown_project_is_404(admin_client):
    for object_id in (999999, "not-a-number"):
        url = reverse("admin:projects_project_connections", args=[object_id])
        assert admin_client.get(url).status_code == 404


@pytest.mark.django_db
def test_connections_view_rejects_post(admin_client, project):
    assert admin_client.post(connections_url(project)).status_code == 405


@pytest.mark.django_db
def test_connections_view_with_nobody_connected(admin_client, project):
    response = admin_client.get(connections_url(project))
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "No live connections." in response.text


# --- Live, in process (works on the in-memory default and on Redis) -----------------------


class LiveTests(TransactionTestCase):
    def setUp(self):
        User = get_user_model()
        self.alice = User.objects.create_user(email="alice@example.com")
        self.operator = User.objects.create_superuser(email="ops@example.com", password="pw")
        self.project = make_project(self.alice)
        self.client.force_login(self.operator)

    async def open(self):
        ws = WebsocketCommunicator(application, f"/ws/{self.project.public_id}/")
        connected, _ = await ws.connect()
        self.assertTrue(connected)
        frame = await ws.receive_json_from()
        return ws, frame["id"]

    async def test_connections_view_lists_a_live_connection(self):
        ws, conn_id = await self.open()
        try:
            response = await sync_to_async(self.client.get)(connections_url(self.project))
            self.assertEqual(response.status_code, 200)
            rows = response.context["rows"]
            self.assertEqual([(r["id"], r["status"]) for r in rows], [(conn_id, "pending")])
            self.assertIn(conn_id, response.text)
            self.assertIn(rows[0]["connected_at_iso"], response.text)

            changelist = await sync_to_async(self.client.get)(CHANGELIST)
            self.assertIn(f'<a href="{connections_url(self.project)}">1</a>', changelist.text)
        finally:
            await ws.disconnect()

    async def test_disable_action_closes_live_connections_with_4004(self):
        ws, _ = await self.open()
        response = await sync_to_async(self.client.post)(CHANGELIST, disable_action(self.project))
        self.assertEqual(response.status_code, 302)
        frame = await ws.receive_json_from(timeout=5)
        self.assertEqual(
            (frame["from"], frame["event"], frame["code"]),
            ("system", "error", "project_not_found"),
        )
        self.assertEqual(
            await ws.receive_output(timeout=5), {"type": "websocket.close", "code": 4004}
        )
        await ws.disconnect()
        await sync_to_async(self.project.refresh_from_db)()
        self.assertFalse(self.project.is_active)

    async def test_saved_limits_reach_live_connections(self):
        ws, conn_id = await self.open()
        data = change_form_data(self.project, max_message_bytes=16)
        response = await sync_to_async(self.client.post)(change_url(self.project), data)
        self.assertEqual(response.status_code, 302)
        # The change travels through the channel layer: until it lands, the message is relayed.
        for _ in range(50):
            await ws.send_json_to({"to": conn_id, "data": "longer than sixteen bytes"})
            frame = await ws.receive_json_from(timeout=5)
            if frame.get("code") == "message_too_large":
                break
            self.assertEqual(frame["data"], "longer than sixteen bytes")
            await asyncio.sleep(0.1)
        self.assertEqual(frame.get("code"), "message_too_large")
        await ws.disconnect()


# --- Live, against a real server process (needs Redis to share the registry and layer) ----


@pytest.mark.redis
@pytest.mark.server
def test_disable_action_closes_a_socket_on_a_server(start_server, admin_client, alice):
    project = make_project(alice)
    server = start_server()
    with connect(server.ws(project.public_id), open_timeout=5) as ws:
        assert set(json.loads(ws.recv(timeout=5))) == {"from", "id"}
        response = admin_client.post(CHANGELIST, disable_action(project))
        assert response.status_code == 302
        frame = json.loads(ws.recv(timeout=5))
        assert frame == {
            "from": "system",
            "event": "error",
            "code": "project_not_found",
            "error": frame["error"],
        }
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert ws.close_code == 4004


@pytest.mark.redis
@pytest.mark.server
def test_connections_view_lists_a_socket_on_a_server(start_server, admin_client, alice):
    project = make_project(alice)
    server = start_server()
    with connect(server.ws(project.public_id), open_timeout=5) as ws:
        conn_id = json.loads(ws.recv(timeout=5))["id"]
        response = admin_client.get(connections_url(project))
        assert response.status_code == 200
        assert [row["id"] for row in response.context["rows"]] == [conn_id]
        assert conn_id in response.text
