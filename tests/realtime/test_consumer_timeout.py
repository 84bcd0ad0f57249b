"""PROTOCOL.md §2, the approval timeout (shortened to 1 s; the protocol allows ±1 s)."""

from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import TransactionTestCase, override_settings

from config.asgi import application
from tests.conftest import make_project

TIMEOUT_FRAME = {"from": "system", "event": "timeout", "error": "not approved in time"}
WAIT_FOR_TIMEOUT = 2.5  # the 1 s timeout, its 1 s tolerance, and some slack
PAST_THE_TIMEOUT = 1.5  # long enough to see a timer of 1 s that was not cancelled


@override_settings(
    RELAY={**settings.RELAY, "APPROVAL_TIMEOUT_OVERRIDE": 1, "TRUSTED_PROXY_HEADER": ""}
)
class ApprovalTimeoutTests(TransactionTestCase):
    def setUp(self):
        channel_layers.backends.clear()  # a fresh layer for this test's own event loop
        self.alice = get_user_model().objects.create_user(email="alice@example.com")
        self.project = make_project(self.alice)

    async def open(self):
        ws = WebsocketCommunicator(application, f"/ws/{self.project.public_id}/")
        connected, _ = await ws.connect()
        self.assertTrue(connected)
        return ws, (await ws.receive_json_from())["id"]

    async def become_admin(self, ws):
        await ws.send_json_to({"to": "system", "event": "admin", "key": self.project.admin_key})
        self.assertEqual(
            await ws.receive_json_from(), {"from": "system", "event": "admin", "status": "success"}
        )

    async def test_pending_connection_gets_timeout_then_4001(self):
        ws, _ = await self.open()
        self.assertEqual(await ws.receive_json_from(timeout=WAIT_FOR_TIMEOUT), TIMEOUT_FRAME)
        self.assertEqual(await ws.receive_output(), {"type": "websocket.close", "code": 4001})
        await ws.disconnect()

    async def test_admins_are_told_when_a_timed_out_connection_leaves(self):
        admin, _ = await self.open()
        await self.become_admin(admin)
        pending, pending_id = await self.open()
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "new_id": pending_id})
        self.assertEqual(await pending.receive_json_from(timeout=WAIT_FOR_TIMEOUT), TIMEOUT_FRAME)
        self.assertEqual(await pending.receive_output(), {"type": "websocket.close", "code": 4001})
        await pending.disconnect()  # what the server does after closing
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "left_id": pending_id})
        await admin.disconnect()

    async def test_approval_cancels_the_timeout(self):
        admin, _ = await self.open()
        await self.become_admin(admin)
        pending, pending_id = await self.open()
        await admin.receive_json_from()  # new_id
        await admin.send_json_to({"to": "system", "event": "approved", "id": pending_id})
        self.assertEqual(
            await admin.receive_json_from(),
            {"from": "system", "event": "approved", "id": pending_id, "status": "success"},
        )
        self.assertEqual(
            await pending.receive_json_from(),
            {"from": "system", "event": "approved", "id": pending_id},
        )
        self.assertTrue(await pending.receive_nothing(timeout=PAST_THE_TIMEOUT))
        await pending.send_to(text_data="ping")
        self.assertEqual(await pending.receive_json_from(), {"system": "pong"})
        await pending.disconnect()
        await admin.disconnect()

    async def test_becoming_admin_cancels_the_timeout(self):
        ws, _ = await self.open()
        await self.become_admin(ws)
        self.assertTrue(await ws.receive_nothing(timeout=PAST_THE_TIMEOUT))
        await ws.send_to(text_data="ping")
        self.assertEqual(await ws.receive_json_from(), {"system": "pong"})
        await ws.disconnect()

    async def test_a_failed_admin_attempt_does_not_cancel_the_timeout(self):
        ws, _ = await self.open()
        await ws.send_json_to({"to": "system", "event": "admin", "key": "x" * 40})
        self.assertEqual(
            await ws.receive_json_from(),
            {"from": "system", "event": "admin", "status": "failed", "error": "invalid key"},
        )
        self.assertEqual(await ws.receive_json_from(timeout=WAIT_FOR_TIMEOUT), TIMEOUT_FRAME)
        self.assertEqual(await ws.receive_output(), {"type": "websocket.close", "code": 4001})
        await ws.disconnect()
