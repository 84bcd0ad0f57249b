"""PROTOCOL.md §4, ping: exactly `ping` or `"ping"`, answered with exactly {"system":"pong"}."""

from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import TransactionTestCase

from config.asgi import application
from tests.conftest import make_project


class AnyText:
    """Equal to any non-empty string: the human-readable `error` of an error frame."""

    def __eq__(self, other):
        return isinstance(other, str) and bool(other)

    def __repr__(self):
        return "<any text>"


def error(code, **extra):
    return {"from": "system", "event": "error", "code": code, "error": AnyText(), **extra}


class PingTests(TransactionTestCase):
    def setUp(self):
        channel_layers.backends.clear()  # a fresh layer for this test's own event loop
        self.alice = get_user_model().objects.create_user(email="alice@example.com")
        self.project = make_project(self.alice)

    async def open(self):
        ws = WebsocketCommunicator(application, f"/ws/{self.project.public_id}/")
        connected, _ = await ws.connect()
        self.assertTrue(connected)
        await ws.receive_json_from()  # the id
        return ws

    async def test_ping_gets_pong(self):
        ws = await self.open()
        await ws.send_to(text_data="ping")
        self.assertEqual(await ws.receive_from(), '{"system":"pong"}')
        self.assertTrue(await ws.receive_nothing())
        await ws.disconnect()

    async def test_json_string_ping_gets_pong(self):
        ws = await self.open()
        await ws.send_to(text_data='"ping"')
        self.assertEqual(await ws.receive_json_from(), {"system": "pong"})
        self.assertTrue(await ws.receive_nothing())
        await ws.disconnect()

    async def test_pong_goes_only_to_the_sender(self):
        ws = await self.open()
        other = await self.open()
        await ws.send_to(text_data="ping")
        self.assertEqual(await ws.receive_json_from(), {"system": "pong"})
        self.assertTrue(await other.receive_nothing())
        await other.disconnect()
        await ws.disconnect()

    async def test_other_spellings_are_not_a_ping(self):
        ws = await self.open()
        for text, code in (
            ("PING", "invalid_json"),
            ("Ping", "invalid_json"),
            ("ping\n", "invalid_json"),
            (" ping", "invalid_json"),
            ("pong", "invalid_json"),
            ('"PING"', "invalid_message"),
            ('["ping"]', "invalid_message"),
            ('{"to":"system","event":"ping"}', "unknown_event"),
        ):
            with self.subTest(text=text):
                await ws.send_to(text_data=text)
                self.assertEqual(await ws.receive_json_from(), error(code))
        self.assertTrue(await ws.receive_nothing())
        await ws.disconnect()

    async def test_pings_are_answered_in_order_between_other_requests(self):
        ws = await self.open()
        await ws.send_to(text_data="ping")
        await ws.send_json_to({"to": "system", "event": "connections"})
        await ws.send_to(text_data="ping")
        self.assertEqual(await ws.receive_json_from(), {"system": "pong"})
        self.assertEqual(await ws.receive_json_from(), error("not_admin"))
        self.assertEqual(await ws.receive_json_from(), {"system": "pong"})
        await ws.disconnect()
