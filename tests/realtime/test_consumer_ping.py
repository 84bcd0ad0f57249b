"""PROTOCOL.md §4, ping: exactly `ping` or `"ping"`, answered with exactly {"system":"pong"}."""

from tests.realtime.consumer_helpers import RelayTestCase, error


class PingTests(RelayTestCase):
    async def open(self):
        ws, _ = await super().open()  # the id is not needed here
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
