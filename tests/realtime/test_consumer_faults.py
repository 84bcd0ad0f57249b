"""A connection always cleans up, and a project's changes always reach its live sockets.

Faults are injected where they happen in production (a backing service raising, a slow
group_add, a change committed while a connection reads its project); the consumer, hub and
registry under test are the real ones.
"""

import asyncio
from unittest import mock

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from redis.exceptions import ConnectionError as RedisConnectionError

from config.asgi import application
from projects.models import Project
from realtime import consumer as consumer_module
from realtime import live
from realtime.registry import get_registry
from tests.realtime.consumer_helpers import RelayTestCase, closed, error

GONE = error("project_not_found")


class ProjectChangesReachSocketsTests(RelayTestCase):
    async def assert_closed_as_gone(self, *sockets):
        for ws in sockets:
            self.assertEqual(await ws.receive_json_from(timeout=5), GONE)
            self.assertEqual(await ws.receive_output(timeout=5), closed(4004))

    async def test_deleting_the_owner_closes_the_projects_sockets_with_4004(self):
        ws, _ = await self.open()
        await sync_to_async(self.alice.delete)()
        await self.assert_closed_as_gone(ws)
        await ws.disconnect()

    async def test_deleting_projects_in_bulk_closes_their_sockets_with_4004(self):
        ws, _ = await self.open()
        await sync_to_async(lambda: Project.objects.filter(owner=self.alice).delete())()
        await self.assert_closed_as_gone(ws)
        await ws.disconnect()

    async def test_disabling_projects_in_bulk_closes_their_sockets_with_4004(self):
        ws, _ = await self.open()
        await sync_to_async(
            lambda: Project.objects.filter(pk=self.project.pk).update(is_active=False)
        )()
        await self.assert_closed_as_gone(ws)
        await ws.disconnect()

    async def test_the_admins_delete_selected_action_closes_sockets_with_4004(self):
        ws, _ = await self.open()
        operator = await sync_to_async(get_user_model().objects.create_superuser)(
            email="ops@example.com", password="pw"
        )
        await sync_to_async(self.client.force_login)(operator)
        response = await sync_to_async(self.client.post)(
            "/admin/projects/project/",
            {"action": "delete_selected", "_selected_action": [self.project.pk], "post": "yes"},
        )
        self.assertEqual(response.status_code, 302)
        await self.assert_closed_as_gone(ws)
        await ws.disconnect()

    async def racing(self, change):
        """Open a connection while `change` is committed right after it read its project."""
        load = consumer_module.load_project

        async def load_then_change(public_id):
            project = await load(public_id)
            await sync_to_async(change)()
            return project

        # connect() goes on after the accept: the change stays in place until the id came.
        with mock.patch.object(consumer_module, "load_project", load_then_change):
            ws = await self.connect()
            first = await ws.receive_json_from(timeout=5)
        self.assertEqual(set(first), {"from", "id"})
        return ws

    async def test_a_disable_committed_while_connecting_is_still_seen(self):
        ws = await self.racing(lambda: Project.objects.get(pk=self.project.pk).disable())
        self.assertEqual(await ws.receive_json_from(timeout=5), GONE)
        self.assertEqual(await ws.receive_output(timeout=5), closed(4004))
        await ws.disconnect()

    async def test_a_key_rotation_committed_while_connecting_is_still_seen(self):
        old_key = self.project.admin_key
        ws = await self.racing(lambda: Project.objects.get(pk=self.project.pk).rotate_admin_key())
        await asyncio.sleep(0.2)  # the reload the notice asked for
        await ws.send_json_to({"to": "system", "event": "admin", "key": old_key})
        self.assertEqual(
            await ws.receive_json_from(),
            {"from": "system", "event": "admin", "status": "failed", "error": "invalid key"},
        )
        await ws.disconnect()


class ConcurrentConnectTests(RelayTestCase):
    async def test_200_connections_at_once_all_receive_the_first_broadcast(self):
        """With a slow group_add, no connection gets its id before its process is in the
        project's group: a broadcast sent as soon as 199 ids have arrived reaches those 199."""
        layer = get_channel_layer()
        group_add = layer.group_add

        async def slow_group_add(group, channel):
            await asyncio.sleep(4)  # longer than 200 handshakes take here
            await group_add(group, channel)

        async def open_slowly():
            ws = WebsocketCommunicator(application, f"/ws/{self.project.public_id}/")
            connected, _ = await ws.connect(timeout=10)
            self.assertTrue(connected)
            return ws, (await ws.receive_json_from(timeout=10))["id"]

        with mock.patch.object(layer, "group_add", slow_group_add):
            tasks = [asyncio.ensure_future(open_slowly()) for _ in range(200)]
            # As soon as 199 have their id, one of them broadcasts: each of those 199 must
            # receive it (the last one may still be connecting, and need not).
            ready = asyncio.as_completed(tasks)
            have_ids = [await next(ready) for _ in range(199)]
            sender, sender_id = have_ids[0]
            await sender.send_json_to({"to": "all", "data": "first"})
            opened = await asyncio.gather(*tasks)
        expected = {"from": sender_id, "to": "all", "data": "first"}
        for ws, _ in have_ids:
            self.assertEqual(await ws.receive_json_from(timeout=5), expected)
        await self.disconnect(*(ws for ws, _ in opened))


class FailuresCleanUpTests(RelayTestCase):
    async def test_a_backing_service_failure_answers_unavailable_and_keeps_the_connection(self):
        admin, admin_id = await self.open_admin()
        registry = get_registry()
        entries = registry.entries
        failures = iter([RedisConnectionError("Redis is restarting")])

        async def flaky_entries(project):
            for failure in failures:
                raise failure
            return await entries(project)

        with mock.patch.object(registry, "entries", flaky_entries):
            await admin.send_json_to({"to": "system", "event": "connections"})
            self.assertEqual(await admin.receive_json_from(), error("unavailable"))
            self.assertEqual(await self.statuses(admin), {admin_id: "admin"})
        await self.disconnect(admin)

    async def test_an_unexpected_error_is_answered_and_leaving_still_cleans_up(self):
        admin, _ = await self.open_admin()
        guest, guest_id = await self.open()
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "new_id": guest_id})
        registry = get_registry()

        async def broken_promote(*args):
            raise RuntimeError("a bug")

        with mock.patch.object(registry, "promote", broken_promote):
            await admin.send_json_to({"to": "system", "event": "approved", "id": guest_id})
            self.assertEqual(await admin.receive_json_from(), error("unavailable"))
        await guest.disconnect()
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "left_id": guest_id})
        await admin.disconnect()
        counts = sync_to_async(live.counts)
        for _ in range(50):
            if (await counts(self.project.public_id))["total"] == 0:
                break
            await asyncio.sleep(0.05)
        self.assertEqual(
            await counts(self.project.public_id),
            {"pending": 0, "approved": 0, "admin": 0, "total": 0},
        )
