"""Helpers shared by the consumer tests (tests/realtime/test_consumer_*.py)."""

from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import TransactionTestCase

from config.asgi import application
from tests.conftest import make_project

ADMIN_SUCCESS = {"from": "system", "event": "admin", "status": "success"}


class AnyText:
    """Equal to any non-empty string: the human-readable `error` of an error frame."""

    def __eq__(self, other):
        return isinstance(other, str) and bool(other)

    def __repr__(self):
        return "<any text>"


def error(code, **extra):
    return {"from": "system", "event": "error", "code": code, "error": AnyText(), **extra}


def closed(code):
    return {"type": "websocket.close", "code": code}


class RelayTestCase(TransactionTestCase):
    """alice owns `self.project`; each test gets a fresh channel layer."""

    project_options: dict = {}  # passed to make_project for `self.project`

    def setUp(self):
        channel_layers.backends.clear()  # a fresh layer for this test's own event loop
        self.alice = get_user_model().objects.create_user(email="alice@example.com")
        self.project = make_project(self.alice, **self.project_options)

    async def connect(self, project=None, headers=None, client=None):
        """A connected communicator for `project`, its first frame not yet read."""
        project = project or self.project
        ws = WebsocketCommunicator(application, f"/ws/{project.public_id}/", headers=headers)
        if client is not None:
            ws.scope["client"] = client  # read by the consumer, which has not started yet
        connected, _ = await ws.connect()
        self.assertTrue(connected)
        return ws

    async def open(self, project=None, headers=None, client=None):
        """Connect to a project and return the communicator and the id from the first frame."""
        ws = await self.connect(project, headers=headers, client=client)
        return ws, (await ws.receive_json_from())["id"]

    async def become_admin(self, ws, project=None):
        project = project or self.project
        await ws.send_json_to({"to": "system", "event": "admin", "key": project.admin_key})
        self.assertEqual(await ws.receive_json_from(), ADMIN_SUCCESS)

    async def open_admin(self):
        ws, conn_id = await self.open()
        await self.become_admin(ws)
        return ws, conn_id

    async def statuses(self, admin):
        """The connections list an admin gets, as {id: status}."""
        await admin.send_json_to({"to": "system", "event": "connections"})
        frame = await admin.receive_json_from()
        return {c["id"]: c["status"] for c in frame["connections"]}

    async def assert_silent(self, *sockets):
        for ws in sockets:
            self.assertTrue(await ws.receive_nothing())

    async def disconnect(self, *sockets):
        for ws in sockets:
            await ws.disconnect()
