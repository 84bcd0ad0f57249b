"""PROTOCOL.md §7, errors and limits: one error per refused frame, the limits, and left_id."""

import json
from contextlib import contextmanager
from unittest import mock

from asgiref.sync import sync_to_async

from realtime import consumer
from tests.conftest import make_project
from tests.realtime.consumer_helpers import RelayTestCase, closed, error

PONG = {"system": "pong"}
SIZE_LIMIT = 65536
HARD_LIMIT = 1024 * 1024


def broadcast_of_size(size: int, char: str = "x") -> str:
    """A broadcast frame of exactly `size` bytes of UTF-8, its data padded with `char`."""
    empty = '{"to":"all","data":""}'
    padding, rest = divmod(size - len(empty), len(char.encode()))
    text = '{"to":"all","data":"' + char * padding + "x" * rest + '"}'
    assert len(text.encode()) == size
    return text


class Clock:
    """Stands in for the consumer's `time` module: time passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class ErrorTests(RelayTestCase):
    async def assert_still_open(self, ws):
        self.assertTrue(await ws.receive_nothing())
        await ws.send_to(text_data="ping")
        self.assertEqual(await ws.receive_json_from(), PONG)

    @contextmanager
    def frozen_clock(self):
        clock = Clock()
        with mock.patch.object(consumer, "time", clock):
            yield clock

    async def pings(self, ws, count, answer=PONG):
        for _ in range(count):
            await ws.send_to(text_data="ping")
        for _ in range(count):
            self.assertEqual(await ws.receive_json_from(), answer)

    # --- One error, and the connection stays open -----------------------------------------

    async def test_binary_frame_is_refused_and_the_connection_keeps_working(self):
        ws, ws_id = await self.open()
        await ws.send_to(bytes_data=b'{"to":"all","data":1}')
        self.assertEqual(await ws.receive_json_from(), error("binary_not_supported"))
        await self.assert_still_open(ws)
        await ws.send_json_to({"to": "all", "data": 1})
        self.assertEqual(await ws.receive_json_from(), {"from": ws_id, "to": "all", "data": 1})
        await ws.disconnect()

    async def test_frames_that_cannot_be_acted_on_get_one_error_each(self):
        deep = 32  # the outer object is level 1, so data may open 31 more
        cases = [
            ("", "invalid_json"),
            ("{", "invalid_json"),
            ("NaN", "invalid_json"),
            ('{"to":"all","data":Infinity}', "invalid_json"),
            ('{"to":"all","data":1e400}', "invalid_json"),
            ('{"to":"all","data":' + "1" * 4301 + "}", "invalid_json"),
            ("[]", "invalid_message"),
            ("null", "invalid_message"),
            ('{"data":1}', "invalid_message"),
            ('{"to":5,"data":1}', "invalid_message"),
            ('{"to":"all"}', "invalid_message"),
            ('{"to":"system"}', "invalid_message"),
            ('{"to":"system","event":5}', "invalid_message"),
            ('{"to":"all","data":' + "[" * deep + "]" * deep + "}", "invalid_message"),
            ('{"to":"system","event":"dance"}', "unknown_event"),
        ]
        ws, _ = await self.open()
        other, _ = await self.open()
        for text, code in cases:
            with self.subTest(text=text[:40]):
                await ws.send_input({"type": "websocket.receive", "text": text})
                self.assertEqual(await ws.receive_json_from(), error(code))
        await self.assert_still_open(ws)
        self.assertTrue(await other.receive_nothing())
        await other.disconnect()
        await ws.disconnect()

    async def test_well_formed_edge_cases_are_relayed(self):
        ws, ws_id = await self.open()
        deep = 31
        await ws.send_to(text_data='{"to":"all","data":' + "[" * deep + "]" * deep + "}")
        data = []
        for _ in range(deep - 1):
            data = [data]
        self.assertEqual(await ws.receive_json_from(), {"from": ws_id, "to": "all", "data": data})
        # Duplicate keys: the last one wins, for routing too.
        await ws.send_to(text_data='{"to":"nobody","data":0,"to":"all","data":2}')
        self.assertEqual(await ws.receive_json_from(), {"from": ws_id, "to": "all", "data": 2})
        # A lone surrogate is relayed escaped.
        await ws.send_to(text_data='{"to":"all","data":"\\ud800"}')
        self.assertEqual(
            json.loads(await ws.receive_from()), {"from": ws_id, "to": "all", "data": "\ud800"}
        )
        await ws.disconnect()

    async def test_message_over_the_size_limit_is_refused(self):
        ws, ws_id = await self.open()
        other, _ = await self.open()
        await ws.send_to(text_data=broadcast_of_size(SIZE_LIMIT))
        at_limit = await other.receive_json_from()
        self.assertEqual(at_limit["from"], ws_id)
        self.assertEqual(len(at_limit["data"]), SIZE_LIMIT - len('{"to":"all","data":""}'))
        await ws.receive_json_from()  # its own broadcast
        two_byte_chars = broadcast_of_size(SIZE_LIMIT + 2, "é")
        self.assertLess(len(two_byte_chars), SIZE_LIMIT)  # bytes of UTF-8 count, not characters
        for text in (broadcast_of_size(SIZE_LIMIT + 1), two_byte_chars):
            await ws.send_to(text_data=text)
            self.assertEqual(await ws.receive_json_from(), error("message_too_large"))
        self.assertTrue(await other.receive_nothing())
        await self.assert_still_open(ws)
        await other.disconnect()
        await ws.disconnect()

    async def test_size_limit_is_the_projects(self):
        small = await sync_to_async(make_project)(self.alice, max_message_bytes=100)
        ws, ws_id = await self.open(small)
        await ws.send_to(text_data=broadcast_of_size(100))
        self.assertEqual((await ws.receive_json_from())["from"], ws_id)
        await ws.send_to(text_data=broadcast_of_size(101))
        self.assertEqual(await ws.receive_json_from(), error("message_too_large"))
        await ws.disconnect()

    async def test_frame_over_the_hard_limit_closes_with_1009(self):
        ws, _ = await self.open()
        await ws.send_to(text_data=broadcast_of_size(HARD_LIMIT))
        self.assertEqual(await ws.receive_json_from(), error("message_too_large"))
        await ws.send_to(text_data=broadcast_of_size(HARD_LIMIT + 1))
        self.assertEqual(await ws.receive_output(), closed(1009))
        await ws.disconnect()

    # --- The rate -----------------------------------------------------------------------------

    async def test_bucket_of_100_then_rate_limited_then_50_a_second(self):
        with self.frozen_clock() as clock:
            ws, _ = await self.open()
            await self.pings(ws, 100)
            await self.pings(ws, 1, error("rate_limited"))
            clock.now += 1.0
            await self.pings(ws, 50)
            await self.pings(ws, 1, error("rate_limited"))
            clock.now += 10.0  # the bucket holds no more than 100
            await self.pings(ws, 100)
            await self.pings(ws, 1, error("rate_limited"))
            await ws.disconnect()

    async def test_every_frame_counts_and_each_refused_frame_gets_one_error(self):
        with self.frozen_clock():
            ws, _ = await self.open()
            await self.pings(ws, 97)
            for frame, code in (
                (b"\x00", "binary_not_supported"),
                (broadcast_of_size(SIZE_LIMIT + 1), "message_too_large"),
                ("not json", "invalid_json"),
            ):
                await ws.send_input({"type": "websocket.receive", frame_key(frame): frame})
                self.assertEqual(await ws.receive_json_from(), error(code))
            # 100 frames so far: the bucket is empty. Binary and size still come before rate.
            for frame, code in (
                (b"\x00", "binary_not_supported"),
                (broadcast_of_size(SIZE_LIMIT + 1), "message_too_large"),
                ("not json", "rate_limited"),
                ('{"to":"all"}', "rate_limited"),
                ("ping", "rate_limited"),
            ):
                await ws.send_input({"type": "websocket.receive", frame_key(frame): frame})
                self.assertEqual(await ws.receive_json_from(), error(code))
            self.assertTrue(await ws.receive_nothing())
            await ws.disconnect()

    async def test_more_than_100_rate_limited_within_10_seconds_closes_with_4008(self):
        with self.frozen_clock() as clock:
            ws, _ = await self.open()
            await self.pings(ws, 100)
            await self.pings(ws, 100, error("rate_limited"))
            self.assertTrue(await ws.receive_nothing())
            clock.now += 10.0  # those 100 refusals fall out of the window; the bucket refills
            await self.pings(ws, 100)
            await self.pings(ws, 100, error("rate_limited"))
            self.assertTrue(await ws.receive_nothing())
            await self.pings(ws, 1, error("rate_limited"))
            self.assertEqual(await ws.receive_output(), closed(4008))
            await ws.disconnect()

    async def test_rate_is_per_connection(self):
        with self.frozen_clock():
            ws, _ = await self.open()
            other, _ = await self.open()
            await self.pings(ws, 100)
            await self.pings(ws, 1, error("rate_limited"))
            await self.pings(other, 100)
            await other.disconnect()
            await ws.disconnect()

    # --- left_id ------------------------------------------------------------------------------

    async def test_admins_are_told_left_id_on_every_close(self):
        admin, _ = await self.open_admin()
        other_admin, other_admin_id = await self.open_admin()
        await admin.receive_json_from()  # new_id of other_admin

        async def opened():
            ws, conn_id = await self.open()
            for watcher in (admin, other_admin):
                self.assertEqual(
                    await watcher.receive_json_from(), {"from": "system", "new_id": conn_id}
                )
            return ws, conn_id

        async def assert_left(conn_id):
            for watcher in (admin, other_admin):
                self.assertEqual(
                    await watcher.receive_json_from(), {"from": "system", "left_id": conn_id}
                )

        # Closed by the client.
        ws, conn_id = await opened()
        await ws.disconnect()
        await assert_left(conn_id)
        # Closed by the server after five admin key failures (4003).
        ws, conn_id = await opened()
        for _ in range(5):
            await ws.send_json_to({"to": "system", "event": "admin", "key": "A" * 40})
            await ws.receive_json_from()
        self.assertEqual(await ws.receive_output(), closed(4003))
        await ws.disconnect()
        await assert_left(conn_id)
        # Closed by the server for a frame over the hard limit (1009).
        ws, conn_id = await opened()
        await ws.send_to(text_data=broadcast_of_size(HARD_LIMIT + 1))
        self.assertEqual(await ws.receive_output(), closed(1009))
        await ws.disconnect()
        await assert_left(conn_id)
        # An admin that leaves is announced to the other admins.
        await other_admin.disconnect()
        self.assertEqual(
            await admin.receive_json_from(), {"from": "system", "left_id": other_admin_id}
        )
        self.assertTrue(await admin.receive_nothing())
        await admin.disconnect()


def frame_key(frame: str | bytes) -> str:
    return "bytes" if isinstance(frame, bytes) else "text"
