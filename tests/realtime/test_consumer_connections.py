"""PROTOCOL.md §8, beyond the seed: the connections list, and a project going away."""

import re
from datetime import UTC, datetime, timedelta

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from tests.conftest import make_project
from tests.realtime.consumer_helpers import RelayTestCase, closed, error

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


class ConnectionsTests(RelayTestCase):
    async def connections(self, admin):
        """The list an admin gets, as {id: status}, after checking the frame's shape."""
        await admin.send_json_to({"to": "system", "event": "connections"})
        frame = await admin.receive_json_from()
        self.assertEqual(set(frame), {"from", "event", "connections"})
        self.assertEqual((frame["from"], frame["event"]), ("system", "connections"))
        now = datetime.now(UTC)
        for entry in frame["connections"]:
            self.assertEqual(set(entry), {"id", "status", "connected_at"})
            self.assertRegex(entry["connected_at"], ISO_UTC)
            connected_at = datetime.fromisoformat(entry["connected_at"].replace("Z", "+00:00"))
            self.assertLess(abs(now - connected_at), timedelta(seconds=10))
        statuses = {entry["id"]: entry["status"] for entry in frame["connections"]}
        self.assertEqual(len(statuses), len(frame["connections"]))  # no id twice
        return statuses

    async def test_non_admin_gets_not_admin(self):
        ws, _ = await self.open()
        await ws.send_json_to({"to": "system", "event": "connections"})
        self.assertEqual(await ws.receive_json_from(), error("not_admin"))
        self.assertTrue(await ws.receive_nothing())
        await ws.disconnect()

    async def test_admin_gets_every_connection_with_its_status(self):
        other = await sync_to_async(make_project)(self.alice)
        outsider, _ = await self.open(other)
        pending, pending_id = await self.open()
        admin, admin_id = await self.open_admin()
        approved, approved_id = await self.open()
        await admin.receive_json_from()  # new_id
        await admin.send_json_to({"to": "system", "event": "approved", "id": approved_id})
        await admin.receive_json_from()  # success
        await approved.receive_json_from()  # approved notice

        self.assertEqual(
            await self.connections(admin),
            {pending_id: "pending", admin_id: "admin", approved_id: "approved"},
        )
        await pending.disconnect()
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "left_id": pending_id})
        self.assertEqual(
            await self.connections(admin), {admin_id: "admin", approved_id: "approved"}
        )
        for ws in (approved, admin, outsider):
            await ws.disconnect()

    async def test_disabling_the_project_closes_everyone_with_4004(self):
        pending, _ = await self.open()
        admin, _ = await self.open_admin()
        approved, approved_id = await self.open()
        await admin.receive_json_from()  # new_id
        await admin.send_json_to({"to": "system", "event": "approved", "id": approved_id})
        await admin.receive_json_from()  # success
        await approved.receive_json_from()  # approved notice
        other = await sync_to_async(make_project)(self.alice)
        outsider, _ = await self.open(other)

        await sync_to_async(self.project.disable)()

        for ws in (pending, admin, approved):
            self.assertEqual(await ws.receive_json_from(), error("project_not_found"))
            self.assertEqual(await ws.receive_output(), closed(4004))
        self.assertTrue(await outsider.receive_nothing())
        for ws in (pending, admin, approved, outsider):
            await ws.disconnect()

        late = WebsocketCommunicator(application, f"/ws/{self.project.public_id}/")
        self.assertTrue((await late.connect())[0])
        self.assertEqual(await late.receive_json_from(), error("project_not_found"))
        self.assertEqual(await late.receive_output(), closed(4004))
        await late.disconnect()

    async def test_deleting_the_project_closes_everyone_with_4004(self):
        pending, _ = await self.open()
        admin, _ = await self.open_admin()

        await sync_to_async(self.project.delete)()

        for ws in (pending, admin):
            self.assertEqual(await ws.receive_json_from(), error("project_not_found"))
            self.assertEqual(await ws.receive_output(), closed(4004))
            await ws.disconnect()
