"""PROTOCOL.md §3, messages: broadcast, direct, isolation, order and the pending policy."""

import asyncio
import json
import uuid
from unittest import mock

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from realtime.registry import get_registry
from tests.conftest import make_project
from tests.realtime.consumer_helpers import RelayTestCase, error

APPROVE_NOT_ADMIN = {
    "from": "system",
    "event": "approved",
    "id": "x",
    "status": "failed",
    "error": "not admin",
}


class MessageTests(RelayTestCase):
    async def test_broadcast_reaches_everyone_including_the_sender(self):
        a, a_id = await self.open()
        b, _ = await self.open()
        c, _ = await self.open()
        await a.send_json_to({"to": "all", "data": "pesan percobaan"})
        for ws in (a, b, c):
            self.assertEqual(
                await ws.receive_json_from(), {"from": a_id, "to": "all", "data": "pesan percobaan"}
            )
        await self.assert_silent(a, b, c)
        await self.disconnect(a, b, c)

    async def test_a_broadcast_reaches_a_connection_that_has_its_id(self):
        # With a layer slower to join groups than to send (Redis), a newcomer that has its id
        # must already be in the project's groups.
        layer = get_channel_layer()
        group_add = layer.group_add

        async def slow_group_add(group, channel):
            await asyncio.sleep(0.05)
            await group_add(group, channel)

        with mock.patch.object(layer, "group_add", slow_group_add):
            a, a_id = await self.open()
            b, _ = await self.open()
            await a.send_json_to({"to": "all", "data": "welcome"})
            for ws in (a, b):
                self.assertEqual(
                    await ws.receive_json_from(), {"from": a_id, "to": "all", "data": "welcome"}
                )
        await self.disconnect(a, b)

    async def test_broadcast_never_crosses_projects(self):
        other = await sync_to_async(make_project)(self.alice)
        a, a_id = await self.open()
        outsider, outsider_id = await self.open(other)
        await a.send_json_to({"to": "all", "data": 1})
        self.assertEqual(await a.receive_json_from(), {"from": a_id, "to": "all", "data": 1})
        await outsider.send_json_to({"to": "all", "data": 2})
        self.assertEqual(
            await outsider.receive_json_from(), {"from": outsider_id, "to": "all", "data": 2}
        )
        await self.assert_silent(a, outsider)
        await self.disconnect(a, outsider)

    async def test_direct_message_reaches_only_the_recipient(self):
        a, a_id = await self.open()
        b, b_id = await self.open()
        c, _ = await self.open()
        await a.send_json_to({"to": b_id, "data": {"event": "join"}})
        self.assertEqual(
            await b.receive_json_from(), {"from": a_id, "to": b_id, "data": {"event": "join"}}
        )
        await self.assert_silent(a, b, c)
        await self.disconnect(a, b, c)

    async def test_a_recipient_on_this_process_is_found_without_reading_the_registry(self):
        a, a_id = await self.open()
        b, b_id = await self.open()
        registry = get_registry()
        reads = []
        get = registry.get

        async def counted_get(project, conn_id):
            reads.append(conn_id)
            return await get(project, conn_id)

        unknown = str(uuid.uuid4())
        with mock.patch.object(registry, "get", counted_get):
            await a.send_json_to({"to": b_id, "data": 1})
            self.assertEqual(await b.receive_json_from(), {"from": a_id, "to": b_id, "data": 1})
            await a.send_json_to({"to": unknown, "data": 2})  # not here: the registry says
            self.assertEqual(await a.receive_json_from(), error("unknown_recipient", to=unknown))
        self.assertEqual(reads, [unknown])
        await self.disconnect(a, b)

    async def test_unknown_recipient_names_the_id(self):
        a, _ = await self.open()
        stranger = str(uuid.uuid4())
        await a.send_json_to({"to": stranger, "data": "hi"})
        self.assertEqual(await a.receive_json_from(), error("unknown_recipient", to=stranger))
        await self.assert_silent(a)
        await self.disconnect(a)

    async def test_an_id_in_another_project_is_an_unknown_recipient(self):
        other = await sync_to_async(make_project)(self.alice)
        a, _ = await self.open()
        outsider, outsider_id = await self.open(other)
        await a.send_json_to({"to": outsider_id, "data": "hi"})
        self.assertEqual(await a.receive_json_from(), error("unknown_recipient", to=outsider_id))
        await self.assert_silent(a, outsider)
        await self.disconnect(a, outsider)

    async def test_a_closed_connection_is_an_unknown_recipient(self):
        a, _ = await self.open()
        b, b_id = await self.open()
        await b.disconnect()
        await a.send_json_to({"to": b_id, "data": "hi"})
        self.assertEqual(await a.receive_json_from(), error("unknown_recipient", to=b_id))
        await a.disconnect()

    async def test_answers_come_in_the_order_of_the_requests(self):
        a, _ = await self.open()
        stranger = str(uuid.uuid4())
        requests = [
            ("ping", {"system": "pong"}),
            (json.dumps({"to": stranger, "data": 1}), error("unknown_recipient", to=stranger)),
            ("nope", error("invalid_json")),
            ('{"to":"system","event":"connections"}', error("not_admin")),
            ('{"to":"system","event":"approved","id":"x"}', APPROVE_NOT_ADMIN),
            ('"ping"', {"system": "pong"}),
        ]
        for _ in range(3):
            for text, _ in requests:
                await a.send_to(text_data=text)
        for _ in range(3):
            for _, answer in requests:
                self.assertEqual(await a.receive_json_from(), answer)
        await a.disconnect()

    async def test_data_is_relayed_unchanged(self):
        a, a_id = await self.open()
        b, b_id = await self.open()
        for data in (None, {"event": "join", "who": {"name": "Budi", "tags": [1, 2.5, True]}}, []):
            with self.subTest(data=data):
                await a.send_json_to({"to": b_id, "data": data})
                self.assertEqual(
                    await b.receive_json_from(), {"from": a_id, "to": b_id, "data": data}
                )
                await a.send_json_to({"to": "all", "data": data})
                for ws in (a, b):
                    self.assertEqual(
                        await ws.receive_json_from(), {"from": a_id, "to": "all", "data": data}
                    )
        await self.disconnect(a, b)

    async def test_from_sent_by_the_client_is_ignored(self):
        a, a_id = await self.open()
        b, b_id = await self.open()
        await a.send_json_to({"from": b_id, "to": "all", "data": "x"})
        for ws in (a, b):
            self.assertEqual(await ws.receive_json_from(), {"from": a_id, "to": "all", "data": "x"})
        await a.send_json_to({"from": "system", "to": b_id, "data": "y"})
        self.assertEqual(await b.receive_json_from(), {"from": a_id, "to": b_id, "data": "y"})
        await self.disconnect(a, b)

    async def test_messages_arrive_in_the_order_sent(self):
        a, a_id = await self.open()
        b, b_id = await self.open()
        sent = [("all" if n % 3 == 0 else b_id, n) for n in range(30)]
        for to, n in sent:
            await a.send_json_to({"to": to, "data": n})
        for to, n in sent:
            self.assertEqual(await b.receive_json_from(), {"from": a_id, "to": to, "data": n})
        for to, n in sent:
            if to == "all":
                self.assertEqual(await a.receive_json_from(), {"from": a_id, "to": to, "data": n})
        await self.assert_silent(a, b)
        await self.disconnect(a, b)


class RestrictedPolicyTests(RelayTestCase):
    """Pending connections of a `restricted` project talk only to admins."""

    project_options = {"pending_policy": "restricted"}

    async def cast(self):
        """An admin, an approved connection and a pending one, each with its id."""
        admin, admin_id = await self.open_admin()
        approved, approved_id = await self.open()
        await admin.receive_json_from()  # new_id
        await self.approve(admin, approved, approved_id)
        pending, pending_id = await self.open()
        await admin.receive_json_from()  # new_id
        return (admin, admin_id), (approved, approved_id), (pending, pending_id)

    async def approve(self, admin, ws, conn_id):
        await admin.send_json_to({"to": "system", "event": "approved", "id": conn_id})
        self.assertEqual(
            await admin.receive_json_from(),
            {"from": "system", "event": "approved", "id": conn_id, "status": "success"},
        )
        self.assertEqual(
            await ws.receive_json_from(), {"from": "system", "event": "approved", "id": conn_id}
        )

    async def test_pending_gets_no_broadcasts(self):
        (admin, admin_id), (approved, approved_id), (pending, _) = await self.cast()
        for sender, sender_id in ((admin, admin_id), (approved, approved_id)):
            await sender.send_json_to({"to": "all", "data": "news"})
            for ws in (admin, approved):
                self.assertEqual(
                    await ws.receive_json_from(), {"from": sender_id, "to": "all", "data": "news"}
                )
        await self.assert_silent(pending, admin, approved)
        await self.disconnect(pending, approved, admin)

    async def test_pending_may_not_broadcast(self):
        (admin, _), (approved, _), (pending, _) = await self.cast()
        await pending.send_json_to({"to": "all", "data": "hello?"})
        self.assertEqual(await pending.receive_json_from(), error("not_approved"))
        await self.assert_silent(pending, admin, approved)
        await self.disconnect(pending, approved, admin)

    async def test_pending_may_write_to_an_admin(self):
        (admin, admin_id), (approved, _), (pending, pending_id) = await self.cast()
        await pending.send_json_to({"to": admin_id, "data": "let me in"})
        self.assertEqual(
            await admin.receive_json_from(),
            {"from": pending_id, "to": admin_id, "data": "let me in"},
        )
        await self.assert_silent(pending, admin, approved)
        await self.disconnect(pending, approved, admin)

    async def test_pending_may_ping_and_ask_the_system(self):
        (admin, _), (approved, _), (pending, _) = await self.cast()
        await pending.send_to(text_data="ping")
        self.assertEqual(await pending.receive_json_from(), {"system": "pong"})
        await pending.send_json_to({"to": "system", "event": "connections"})
        self.assertEqual(await pending.receive_json_from(), error("not_admin"))
        await self.disconnect(pending, approved, admin)

    async def test_pending_writing_to_a_non_admin_gets_not_approved(self):
        (admin, _), (approved, approved_id), (pending, _) = await self.cast()
        other_pending, other_pending_id = await self.open()
        await admin.receive_json_from()  # new_id
        # The policy is checked before the recipient, so an unknown id is refused the same way.
        for to in (approved_id, other_pending_id, str(uuid.uuid4())):
            with self.subTest(to=to):
                await pending.send_json_to({"to": to, "data": "psst"})
                self.assertEqual(await pending.receive_json_from(), error("not_approved"))
        await self.assert_silent(pending, admin, approved, other_pending)
        await self.disconnect(other_pending, pending, approved, admin)

    async def test_to_a_non_admin_a_pending_connection_does_not_exist(self):
        (admin, _), (approved, _), (pending, pending_id) = await self.cast()
        await approved.send_json_to({"to": pending_id, "data": "hi"})
        self.assertEqual(
            await approved.receive_json_from(), error("unknown_recipient", to=pending_id)
        )
        await self.assert_silent(pending, admin, approved)
        await self.disconnect(pending, approved, admin)

    async def test_admin_may_write_to_a_pending_connection(self):
        (admin, admin_id), (approved, _), (pending, pending_id) = await self.cast()
        await admin.send_json_to({"to": pending_id, "data": {"event": "welcome"}})
        self.assertEqual(
            await pending.receive_json_from(),
            {"from": admin_id, "to": pending_id, "data": {"event": "welcome"}},
        )
        await self.assert_silent(pending, admin, approved)
        await self.disconnect(pending, approved, admin)

    async def test_after_approval_broadcasts_arrive(self):
        (admin, admin_id), (approved, approved_id), (pending, pending_id) = await self.cast()
        await self.approve(admin, pending, pending_id)
        await admin.send_json_to({"to": "all", "data": "welcome"})
        for ws in (admin, approved, pending):
            self.assertEqual(
                await ws.receive_json_from(), {"from": admin_id, "to": "all", "data": "welcome"}
            )
        await pending.send_json_to({"to": approved_id, "data": "thanks"})
        self.assertEqual(
            await approved.receive_json_from(),
            {"from": pending_id, "to": approved_id, "data": "thanks"},
        )
        await self.disconnect(pending, approved, admin)
