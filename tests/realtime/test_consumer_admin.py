"""PROTOCOL.md §5, becoming admin: the key, the failure limits and key rotation."""

import time
from unittest import mock

from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import override_settings

from realtime import admin_limit
from tests.conftest import make_project
from tests.realtime.consumer_helpers import RelayTestCase, closed, error

SUCCESS = {"from": "system", "event": "admin", "status": "success"}
INVALID_KEY = {"from": "system", "event": "admin", "status": "failed", "error": "invalid key"}
TOO_MANY = {"from": "system", "event": "admin", "status": "failed", "error": "too many attempts"}
WRONG_KEY = "A" * 40


def admin_request(key):
    return {"to": "system", "event": "admin", "key": key}


class Clock:
    """Stands in for the admin limit's `time` module: its clocks move only when a test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def __getattr__(self, name):
        return getattr(time, name)


PEER_ADDRESS = {**settings.RELAY, "TRUSTED_PROXY_HEADER": ""}
FORWARDED_FOR = {**settings.RELAY, "TRUSTED_PROXY_HEADER": "X-Forwarded-For"}


@override_settings(RELAY=PEER_ADDRESS)
class BecomeAdminTests(RelayTestCase):
    async def open(self, project=None, client=("192.0.2.1", 40000), headers=None):
        """Connect from `client` (the socket's peer address and port)."""
        return await super().open(project, headers=headers, client=client)

    async def ask(self, ws, key):
        await ws.send_json_to(admin_request(key))
        return await ws.receive_json_from()

    async def assert_admin(self, ws, is_admin=True):
        await ws.send_json_to({"to": "system", "event": "connections"})
        frame = await ws.receive_json_from()
        if is_admin:
            self.assertEqual(frame["event"], "connections")
        else:
            self.assertEqual(frame, error("not_admin"))

    async def test_right_key_makes_admin(self):
        ws, _ = await self.open()
        await self.assert_admin(ws, False)
        self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
        await self.assert_admin(ws)
        await ws.disconnect()

    async def test_wrong_key_is_refused(self):
        ws, _ = await self.open()
        for key in (WRONG_KEY, "", self.project.admin_key[:-1], self.project.admin_key + "x"):
            with self.subTest(key=key):
                self.assertEqual(await self.ask(ws, key), INVALID_KEY)
        await self.assert_admin(ws, False)
        await ws.disconnect()

    async def test_key_of_another_project_is_refused(self):
        other = await sync_to_async(make_project)(self.alice)
        ws, _ = await self.open()
        self.assertEqual(await self.ask(ws, other.admin_key), INVALID_KEY)
        await self.assert_admin(ws, False)
        await ws.disconnect()

    async def test_non_string_key_is_invalid_message_and_no_attempt(self):
        ws, _ = await self.open()
        for _ in range(4):
            self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
        for bad in (123, None, ["x"], {"key": "x"}):
            with self.subTest(key=bad):
                self.assertEqual(await self.ask(ws, bad), error("invalid_message"))
        await ws.send_json_to({"to": "system", "event": "admin"})
        self.assertEqual(await ws.receive_json_from(), error("invalid_message"))
        self.assertTrue(await ws.receive_nothing())
        # Still only four attempts: the right key works.
        self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
        await ws.disconnect()

    async def test_fifth_failure_gets_its_frame_then_4003(self):
        ws, _ = await self.open()
        for _ in range(4):
            self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
        self.assertTrue(await ws.receive_nothing())
        self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
        self.assertEqual(await ws.receive_output(), closed(4003))
        await ws.disconnect()

    async def exhaust(self, client, headers=None):
        """Make 20 failed attempts from `client`, on 4 connections closed after 5 each."""
        for _ in range(4):
            ws, _ = await self.open(client=client, headers=headers)
            for _ in range(5):
                self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
            self.assertEqual(await ws.receive_output(), closed(4003))
            await ws.disconnect()

    async def test_failures_are_limited_per_address_across_connections(self):
        address = ("198.51.100.7", 40000)
        await self.exhaust(address)

        # Another port of the same address is the same client: refused, the right key included,
        # and a forwarding header is not trusted unless one is configured.
        ws, _ = await self.open(
            client=(address[0], 40001), headers=[(b"x-forwarded-for", b"203.0.113.9")]
        )
        self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
        self.assertEqual(await self.ask(ws, WRONG_KEY), TOO_MANY)
        await self.assert_admin(ws, False)
        await ws.disconnect()

        # Other addresses, and the same address on another project, are not limited.
        other = await sync_to_async(make_project)(self.alice)
        for project, client in ((self.project, ("198.51.100.8", 40000)), (other, address)):
            ws, _ = await self.open(project, client=client)
            self.assertEqual(await self.ask(ws, project.admin_key), SUCCESS)
            await ws.disconnect()

    async def test_admin_asking_again_stays_admin(self):
        ws, _ = await self.open()
        self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
        self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
        await self.assert_admin(ws)
        self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
        await self.assert_admin(ws)
        newcomer, newcomer_id = await self.open()
        self.assertEqual(await ws.receive_json_from(), {"from": "system", "new_id": newcomer_id})
        await newcomer.disconnect()
        await ws.disconnect()

    async def test_rotating_the_key_closes_its_admins_with_4003_and_others_stay(self):
        admin, admin_id = await self.open()
        self.assertEqual(await self.ask(admin, self.project.admin_key), SUCCESS)
        other_admin, other_admin_id = await self.open()
        self.assertEqual(
            await admin.receive_json_from(), {"from": "system", "new_id": other_admin_id}
        )
        self.assertEqual(await self.ask(other_admin, self.project.admin_key), SUCCESS)
        plain, _ = await self.open()
        for ws in (admin, other_admin):
            await ws.receive_json_from()  # new_id of plain

        old_key = self.project.admin_key
        new_key = await sync_to_async(self.project.rotate_admin_key)()

        for ws in (admin, other_admin):
            self.assertEqual(await ws.receive_output(), closed(4003))
        self.assertTrue(await plain.receive_nothing())
        await plain.send_to(text_data="ping")
        self.assertEqual(await plain.receive_json_from(), {"system": "pong"})
        self.assertEqual(await self.ask(plain, old_key), INVALID_KEY)
        self.assertEqual(await self.ask(plain, new_key), SUCCESS)
        await admin.disconnect()
        self.assertEqual(await plain.receive_json_from(), {"from": "system", "left_id": admin_id})
        await other_admin.disconnect()
        await plain.disconnect()

    @override_settings(RELAY=FORWARDED_FOR)
    async def test_trusted_proxy_header_gives_the_address(self):
        proxy = ("10.0.0.1", 40000)
        await self.exhaust(proxy, [(b"x-forwarded-for", b"198.51.100.7, 203.0.113.5")])
        ws, _ = await self.open(client=proxy, headers=[(b"x-forwarded-for", b"203.0.113.5")])
        self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
        await ws.disconnect()
        ws, _ = await self.open(client=proxy, headers=[(b"x-forwarded-for", b"203.0.113.6")])
        self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
        await ws.disconnect()

    async def test_too_many_attempts_are_failed_attempts_of_the_connection(self):
        address = ("198.51.100.7", 40000)
        await self.exhaust(address)
        ws, _ = await self.open(client=address)
        for _ in range(4):
            self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
        self.assertTrue(await ws.receive_nothing())
        self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
        self.assertEqual(await ws.receive_output(), closed(4003))
        await ws.disconnect()

    async def test_address_limit_lifts_when_the_minute_has_passed(self):
        address = ("198.51.100.7", 40000)
        clock = Clock()
        with mock.patch.object(admin_limit, "time", clock):
            await self.exhaust(address)
            clock.now += 59
            ws, _ = await self.open(client=address)
            self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
            clock.now += 1.5
            self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
            await ws.disconnect()

    async def test_an_admins_failures_count(self):
        ws, _ = await self.open()
        self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
        for _ in range(4):
            self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
        await self.assert_admin(ws)
        self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
        self.assertEqual(await ws.receive_output(), closed(4003))
        await ws.disconnect()
