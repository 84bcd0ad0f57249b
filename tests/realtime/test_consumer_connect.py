"""PROTOCOL.md §1, connecting: the id frame, new_id to admins, and the refusals."""

import uuid

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from tests.conftest import make_project
from tests.realtime.consumer_helpers import RelayTestCase, closed, error


class ConnectTests(RelayTestCase):
    async def open(self, project=None, headers=None):
        """Connect to a project and return the communicator and the id from the first frame."""
        ws = await self.connect(project, headers=headers)
        frame = await ws.receive_json_from()
        self.assertEqual(set(frame), {"from", "id"})
        self.assertEqual(frame["from"], "system")
        return ws, frame["id"]

    async def assert_refused(self, path, code, close_code, headers=None):
        ws = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await ws.connect()
        self.assertTrue(connected)
        self.assertEqual(await ws.receive_json_from(), error(code))
        self.assertEqual(await ws.receive_output(), closed(close_code))
        await ws.disconnect()

    # --- The id frame and new_id ------------------------------------------------------------

    async def test_first_frame_is_a_fresh_lowercase_uuid4(self):
        other = await sync_to_async(make_project)(self.alice)
        first, first_id = await self.open()
        second, second_id = await self.open(other)
        for conn_id in (first_id, second_id):
            self.assertEqual(uuid.UUID(conn_id).version, 4)
            self.assertEqual(str(uuid.UUID(conn_id)), conn_id)
        self.assertNotEqual(first_id, second_id)
        self.assertTrue(await first.receive_nothing())
        await first.disconnect()
        await second.disconnect()

    async def test_admins_are_told_of_new_connections_and_others_are_not(self):
        admin, _ = await self.open()
        await self.become_admin(admin)
        plain, _ = await self.open()
        self.assertEqual((await admin.receive_json_from())["from"], "system")  # new_id of plain
        newcomer, newcomer_id = await self.open()
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "new_id": newcomer_id})
        self.assertTrue(await plain.receive_nothing())
        self.assertTrue(await newcomer.receive_nothing())
        for ws in (newcomer, plain, admin):
            await ws.disconnect()

    async def test_admins_are_not_told_of_connections_opened_before(self):
        earlier, _ = await self.open()
        admin, _ = await self.open()
        await self.become_admin(admin)
        self.assertTrue(await admin.receive_nothing())
        later, later_id = await self.open()
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "new_id": later_id})
        self.assertTrue(await admin.receive_nothing())
        for ws in (later, admin, earlier):
            await ws.disconnect()

    async def test_new_id_stays_in_its_project(self):
        other = await sync_to_async(make_project)(self.alice)
        admin, _ = await self.open()
        await self.become_admin(admin)
        outsider, _ = await self.open(other)
        self.assertTrue(await admin.receive_nothing())
        await outsider.disconnect()
        await admin.disconnect()

    # --- Refusals ---------------------------------------------------------------------------

    async def test_unknown_project_gets_project_not_found_then_4004(self):
        await self.assert_refused("/ws/AAAAAAAAAAAAAAAAAAAAAA/", "project_not_found", 4004)

    async def test_malformed_public_id_gets_project_not_found_then_4004(self):
        for public_id in ("short", "has.dots.and.more.than.16", "x" * 65, str(self.project.pk)):
            with self.subTest(public_id=public_id):
                await self.assert_refused(f"/ws/{public_id}/", "project_not_found", 4004)

    async def test_disabled_project_gets_project_not_found_then_4004(self):
        disabled = await sync_to_async(make_project)(self.alice, is_active=False)
        await self.assert_refused(f"/ws/{disabled.public_id}/", "project_not_found", 4004)

    async def test_origin_not_listed_gets_origin_not_allowed_then_4403(self):
        listed = await sync_to_async(make_project)(
            self.alice, allowed_origins=["https://app.example.com"]
        )
        path = f"/ws/{listed.public_id}/"
        for origin in (
            b"https://evil.example.com",
            b"http://app.example.com",
            b"https://app.example.com:8443",
            b"null",
        ):
            with self.subTest(origin=origin):
                await self.assert_refused(
                    path, "origin_not_allowed", 4403, headers=[(b"origin", origin)]
                )

    async def test_no_origin_is_allowed(self):
        listed = await sync_to_async(make_project)(
            self.alice, allowed_origins=["https://app.example.com"]
        )
        ws, _ = await self.open(listed)
        await ws.disconnect()

    async def test_listed_origin_is_allowed(self):
        listed = await sync_to_async(make_project)(
            self.alice, allowed_origins=["https://app.example.com"]
        )
        for origin in (b"https://app.example.com", b"https://APP.Example.com:443"):
            with self.subTest(origin=origin):
                ws, _ = await self.open(listed, headers=[(b"origin", origin)])
                await ws.disconnect()

    async def test_any_origin_is_allowed_when_none_are_listed(self):
        ws, _ = await self.open(headers=[(b"origin", b"https://anywhere.example.net")])
        await ws.disconnect()

    async def test_wildcard_origin_allows_one_level_of_subdomain(self):
        listed = await sync_to_async(make_project)(
            self.alice, allowed_origins=["https://*.example.com"]
        )
        ws, _ = await self.open(listed, headers=[(b"origin", b"https://chat.example.com")])
        await ws.disconnect()
        for origin in (b"https://example.com", b"https://a.b.example.com"):
            with self.subTest(origin=origin):
                await self.assert_refused(
                    f"/ws/{listed.public_id}/",
                    "origin_not_allowed",
                    4403,
                    headers=[(b"origin", origin)],
                )

    async def test_connection_limit_gets_too_many_connections_then_4029(self):
        small = await sync_to_async(make_project)(self.alice, max_connections=2)
        admin, _ = await self.open(small)
        await self.become_admin(admin, small)
        second, _ = await self.open(small)
        await admin.receive_json_from()  # new_id of second
        await self.assert_refused(f"/ws/{small.public_id}/", "too_many_connections", 4029)
        self.assertTrue(await admin.receive_nothing())  # the refused one never existed

        await second.disconnect()
        await admin.receive_json_from()  # left_id of second
        third, third_id = await self.open(small)
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "new_id": third_id})
        await third.disconnect()
        await admin.disconnect()
