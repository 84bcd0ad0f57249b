"""PROTOCOL.md §2, the approval timeout (shortened to 1 s; the protocol allows ±1 s)."""

from django.conf import settings
from django.test import override_settings

from tests.realtime.consumer_helpers import RelayTestCase

TIMEOUT_FRAME = {"from": "system", "event": "timeout", "error": "not approved in time"}
WAIT_FOR_TIMEOUT = 2.5  # the 1 s timeout, its 1 s tolerance, and some slack
PAST_THE_TIMEOUT = 1.5  # long enough to see a timer of 1 s that was not cancelled


@override_settings(
    RELAY={**settings.RELAY, "APPROVAL_TIMEOUT_OVERRIDE": 1, "TRUSTED_PROXY_HEADER": ""}
)
class ApprovalTimeoutTests(RelayTestCase):
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
