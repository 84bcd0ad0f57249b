"""PROTOCOL.md §6, approving: the checks in their order, the reply and the notice."""

import uuid

from asgiref.sync import sync_to_async

from tests.conftest import make_project
from tests.realtime.consumer_helpers import RelayTestCase, error


def approve(conn_id):
    return {"to": "system", "event": "approved", "id": conn_id}


def succeeded(conn_id):
    return {"from": "system", "event": "approved", "id": conn_id, "status": "success"}


def failed(conn_id, reason):
    return {
        "from": "system",
        "event": "approved",
        "id": conn_id,
        "status": "failed",
        "error": reason,
    }


def notice(conn_id):
    return {"from": "system", "event": "approved", "id": conn_id}


class ApproveTests(RelayTestCase):
    async def test_not_admin_gets_failed_not_admin(self):
        ws, _ = await self.open()
        other, other_id = await self.open()
        for target in (other_id, 42):  # not admin is checked before the id's type
            with self.subTest(target=target):
                await ws.send_json_to(approve(target))
                self.assertEqual(await ws.receive_json_from(), failed(target, "not admin"))
        self.assertTrue(await other.receive_nothing())
        await other.disconnect()
        await ws.disconnect()

    async def test_non_string_id_is_invalid_message(self):
        admin, _ = await self.open_admin()
        for target in (42, None, ["x"], {"id": "x"}):
            with self.subTest(target=target):
                await admin.send_json_to(approve(target))
                self.assertEqual(await admin.receive_json_from(), error("invalid_message"))
        await admin.send_json_to({"to": "system", "event": "approved"})
        self.assertEqual(await admin.receive_json_from(), error("invalid_message"))
        await admin.disconnect()

    async def test_unknown_id_gets_failed_unknown_id(self):
        admin, _ = await self.open_admin()
        for target in (str(uuid.uuid4()), "not-an-id", ""):
            with self.subTest(target=target):
                await admin.send_json_to(approve(target))
                self.assertEqual(await admin.receive_json_from(), failed(target, "unknown id"))
        await admin.disconnect()

    async def test_id_in_another_project_is_unknown(self):
        other = await sync_to_async(make_project)(self.alice)
        admin, _ = await self.open_admin()
        outsider, outsider_id = await self.open(other)
        await admin.send_json_to(approve(outsider_id))
        self.assertEqual(await admin.receive_json_from(), failed(outsider_id, "unknown id"))
        self.assertTrue(await outsider.receive_nothing())
        await outsider.disconnect()
        await admin.disconnect()

    async def test_success_then_the_connection_is_told(self):
        admin, _ = await self.open_admin()
        pending, pending_id = await self.open()
        bystander, _ = await self.open()
        await admin.receive_json_from()  # new_id of pending
        await admin.receive_json_from()  # new_id of bystander
        await admin.send_json_to(approve(pending_id))
        self.assertEqual(await admin.receive_json_from(), succeeded(pending_id))
        self.assertEqual(await pending.receive_json_from(), notice(pending_id))
        self.assertTrue(await bystander.receive_nothing())
        self.assertEqual((await self.statuses(admin))[pending_id], "approved")
        for ws in (bystander, pending, admin):
            await ws.disconnect()

    async def test_approving_twice_succeeds_and_tells_each_time(self):
        admin, _ = await self.open_admin()
        pending, pending_id = await self.open()
        await admin.receive_json_from()  # new_id
        for _ in range(2):
            await admin.send_json_to(approve(pending_id))
            self.assertEqual(await admin.receive_json_from(), succeeded(pending_id))
            self.assertEqual(await pending.receive_json_from(), notice(pending_id))
        self.assertEqual((await self.statuses(admin))[pending_id], "approved")
        await pending.disconnect()
        await admin.disconnect()

    async def test_approving_an_admin_succeeds_and_it_stays_admin(self):
        admin, _ = await self.open_admin()
        other_admin, other_admin_id = await self.open_admin()
        await admin.receive_json_from()  # new_id of other_admin
        await admin.send_json_to(approve(other_admin_id))
        self.assertEqual(await admin.receive_json_from(), succeeded(other_admin_id))
        self.assertEqual(await other_admin.receive_json_from(), notice(other_admin_id))
        self.assertEqual((await self.statuses(admin))[other_admin_id], "admin")
        self.assertEqual((await self.statuses(other_admin))[other_admin_id], "admin")
        await other_admin.disconnect()
        await admin.disconnect()

    async def test_approving_oneself_succeeds_and_stays_admin(self):
        admin, admin_id = await self.open_admin()
        await admin.send_json_to(approve(admin_id))
        self.assertEqual(await admin.receive_json_from(), succeeded(admin_id))
        self.assertEqual(await admin.receive_json_from(), notice(admin_id))
        self.assertEqual(await self.statuses(admin), {admin_id: "admin"})
        await admin.disconnect()
