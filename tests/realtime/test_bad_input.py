"""Bad input against a real daphne: PROTOCOL.md §7, one error frame each, nobody else hurt."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from websockets.asyncio.client import ClientConnection

from tests.realtime.server_helpers import (
    PONG,
    assert_no_traceback,
    become_admin,
    closed_with,
    error,
    new_project,
    new_server,
    open_socket,
    pings,
    recv,
    send,
    silent,
)

pytestmark = pytest.mark.server

MIB = 1024 * 1024


def message(data_json: str, to: str = "all") -> str:
    """A message frame whose `data` is the given JSON text, spelled as is."""
    return f'{{"to":{json.dumps(to)},"data":{data_json}}}'


def nested(levels: int) -> str:
    """A message whose containers nest `levels` deep, the outer object being level 1."""
    return message("[" * (levels - 1) + "]" * (levels - 1))


def sized(total_bytes: int, char: str = "x") -> str:
    """A broadcast of exactly `total_bytes` bytes of UTF-8 (`char` may take several)."""
    frame = message('""')
    width = len(char.encode())
    count, rest = divmod(total_bytes - len(frame.encode()), width)
    text = message(json.dumps(char * count + "y" * rest, ensure_ascii=False))
    assert len(text.encode()) == total_bytes
    return text


INVALID_JSON = [
    "hello",
    "",
    " ",
    "PING",
    "ping ",
    "{",
    '{"to":"all","data":1} trailing',
    "{'to':'all','data':1}",
    message("NaN"),
    message("Infinity"),
    message("-Infinity"),
    message("[1, NaN]"),
    message("1e400"),
    message("-1e400"),
    message("1" + "0" * 400),
    message("1" * 4301),
    message("0." + "1" * 4300),
]

INVALID_MESSAGE = [
    "[]",
    '"hello"',
    "42",
    "null",
    "true",
    '{"data":1}',
    '{"to":5,"data":1}',
    '{"to":null,"data":1}',
    '{"to":["all"],"data":1}',
    '{"to":"all"}',
    '{"to":"all","data":1,"to":7}',  # the last key wins
    '{"to":"system"}',
    '{"to":"system","event":5}',
    '{"to":"system","event":null}',
    '{"to":"system","event":"admin"}',
    '{"to":"system","event":"admin","key":123}',
    '{"to":"system","event":"admin","key":null}',
    nested(33),
    nested(1000),
    nested(20_000),
]


async def refused(ws: ClientConnection, text: str | bytes, code: str, **extra) -> None:
    """`text` earns exactly one `code` error, and the connection still answers a ping."""
    await ws.send(text)
    frame = await recv(ws)
    assert frame == error(frame, code, **extra), f"{text[:80]!r} got {frame}"
    await pings(ws)


async def test_each_invalid_json_gets_its_error_and_the_connection_lives(start_server, alice):
    project = await new_project(alice)
    server = await new_server(start_server)
    ws, _ = await open_socket(server, project.public_id)
    bystander, _ = await open_socket(server, project.public_id)
    async with ws, bystander:
        for text in INVALID_JSON:
            await refused(ws, text, "invalid_json")
        await silent(bystander)
    assert_no_traceback(server)


async def test_each_invalid_message_gets_its_error_and_the_connection_lives(start_server, alice):
    project = await new_project(alice)
    server = await new_server(start_server)
    ws, _ = await open_socket(server, project.public_id)
    admin, _ = await open_socket(server, project.public_id)
    async with ws, admin:
        await become_admin(admin, project.admin_key)
        for text in INVALID_MESSAGE:
            await refused(ws, text, "invalid_message")
        # A key of the wrong type is no attempt: five of them do not close the connection.
        for _ in range(5):
            await refused(ws, '{"to":"system","event":"admin","key":[]}', "invalid_message")
        # An admin approving with an id that is not a string.
        for target in ("5", "null", '["x"]', "{}"):
            await refused(
                admin, f'{{"to":"system","event":"approved","id":{target}}}', "invalid_message"
            )
        await silent(admin)
    assert_no_traceback(server)


async def test_the_other_error_codes(start_server, alice):
    project = await new_project(alice)
    restricted = await new_project(alice, pending_policy="restricted")
    server = await new_server(start_server)
    ws, ws_id = await open_socket(server, project.public_id)
    pending, _ = await open_socket(server, restricted.public_id)
    async with ws, pending:
        await refused(ws, '{"to":"system","event":"dance"}', "unknown_event")
        await refused(ws, '{"to":"system","event":"Admin","key":"x"}', "unknown_event")
        nobody = str(uuid.uuid4())
        await refused(ws, message("1", to=nobody), "unknown_recipient", to=nobody)
        await refused(ws, message("1", to="system2"), "unknown_recipient", to="system2")
        await refused(ws, '{"to":"system","event":"connections"}', "not_admin")
        await refused(pending, message('"hi"'), "not_approved")
        await refused(pending, message('"hi"', to=ws_id), "not_approved")
        await refused(ws, b"\x00\x01binary", "binary_not_supported")
        await refused(ws, b"", "binary_not_supported")
        await refused(ws, sized(65_537), "message_too_large")
        await refused(ws, sized(65_537, "é"), "message_too_large")
        await refused(ws, sized(MIB), "message_too_large")
        # At the limit exactly, the message goes through.
        await ws.send(sized(65_536, "é"))
        assert len((await recv(ws))["data"].encode()) > 65_000
        # The first check that applies wins: binary, size, rate, JSON, shape, policy, ...
        await refused(ws, sized(65_538)[:-1], "message_too_large")
        await refused(pending, '{"to":"all"}', "invalid_message")
        await refused(pending, message("1", to=nobody), "not_approved")
    assert_no_traceback(server)


async def test_frame_over_one_mib_closes_with_1009(start_server, alice):
    project = await new_project(alice)
    server = await new_server(start_server)
    admin, _ = await open_socket(server, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        for too_big in (sized(MIB + 1), sized(MIB + 1, "€"), b"\x00" * (MIB + 1)):
            ws, ws_id = await open_socket(server, project.public_id)
            assert await recv(admin) == {"from": "system", "new_id": ws_id}
            await ws.send(too_big)
            assert await closed_with(ws) == 1009
            assert await recv(admin) == {"from": "system", "left_id": ws_id}
        await pings(admin)


async def test_burst_of_150_gets_100_answers_then_rate_limited_and_stays_open(start_server, alice):
    # A slow refill keeps the count exact however long the server takes over the burst.
    project = await new_project(alice, rate_per_second=1)
    server = await new_server(start_server)
    ws, _ = await open_socket(server, project.public_id)
    async with ws:
        for _ in range(150):
            await ws.send("ping")
        frames = [await recv(ws) for _ in range(150)]
        assert frames[:100] == [PONG] * 100
        assert frames[100:] == [error(frames[100], "rate_limited")] * 50
        # Binary and size are checked before the rate; JSON and shape after it.
        for frame in (b"\x00", sized(65_537), "not json", "[]"):
            await ws.send(frame)
        codes = [(await recv(ws))["code"] for _ in range(4)]
        assert codes == ["binary_not_supported", "message_too_large", *["rate_limited"] * 2]
        await silent(ws)
        await asyncio.sleep(1.1)
        await pings(ws)


async def test_burst_of_300_gets_100_answers_then_101_rate_limited_then_4008(start_server, alice):
    project = await new_project(alice, rate_per_second=1)
    server = await new_server(start_server)
    ws, _ = await open_socket(server, project.public_id)
    async with ws:
        for _ in range(300):
            await ws.send("ping")
        answers = [await recv(ws) for _ in range(201)]
        assert answers[:100] == [PONG] * 100
        # More than 100 refusals within 10 s close the connection (PROTOCOL.md §7, 4008).
        assert answers[100:] == [error(answers[100], "rate_limited")] * 101
        assert await closed_with(ws) == 4008


async def test_bucket_refills_fifty_a_second(start_server, alice):
    project = await new_project(alice)
    server = await new_server(start_server)
    opened = time.monotonic()  # the bucket fills at connect, not before this
    ws, _ = await open_socket(server, project.public_id)
    async with ws:
        for _ in range(100):
            await ws.send("ping")
        assert [await recv(ws) for _ in range(100)] == [PONG] * 100
        await asyncio.sleep(1.1)
        # More than the pause refilled (and fewer than 100 refusals, which would close).
        for _ in range(150):
            await ws.send("ping")
        replies = [await recv(ws) for _ in range(150)]
        elapsed = time.monotonic() - opened
        answered = replies.count(PONG)
        assert answered >= 50
        assert all(r == PONG or r == error(r, "rate_limited") for r in replies)
        # At most the bucket (100) and what refilled since it was full (50 a second), with a
        # margin: without the limiter all 250 pings would be answered.
        assert 100 + answered <= 100 + 50 * elapsed + 5, (answered, elapsed)


async def test_bad_client_never_disturbs_another(start_server, alice):
    project = await new_project(alice)
    server = await new_server(start_server)
    bad, bad_id = await open_socket(server, project.public_id)
    good, good_id = await open_socket(server, project.public_id)
    listener, _ = await open_socket(server, project.public_id)
    garbage = [*INVALID_JSON[:8], *INVALID_MESSAGE[:8], b"\x00binary", sized(70_000)]
    async with good, listener:
        for n, junk in enumerate(garbage):
            await bad.send(junk)
            await send(bad, {"to": "all", "data": {"bad": n}})
            await send(good, {"to": "all", "data": {"good": n}})
        # A burst past the bucket, then a frame over the hard limit.
        for _ in range(120):
            await bad.send("ping")
        await bad.send(sized(MIB + 1))
        assert await closed_with(bad) == 1009
        for n in range(len(garbage), 2 * len(garbage)):
            await send(good, {"to": "all", "data": {"good": n}})

        for ws in (listener, good):
            received = [await recv(ws) for _ in range(3 * len(garbage))]
            from_bad = [f["data"]["bad"] for f in received if f["from"] == bad_id]
            from_good = [f["data"]["good"] for f in received if f["from"] == good_id]
            assert from_bad == list(range(len(garbage)))
            assert from_good == list(range(2 * len(garbage)))
            assert all(f["to"] == "all" and set(f) == {"from", "to", "data"} for f in received)
            await silent(ws)
            await pings(ws)
    assert_no_traceback(server)


async def test_lone_surrogates_are_relayed_escaped_as_strict_json(start_server, alice):
    project = await new_project(alice)
    server = await new_server(start_server)
    sender, sender_id = await open_socket(server, project.public_id)
    async with sender:
        for data in ("\ud800", "a\udfffb", "\ude00\ud83d", {"\ud800": ["\udc00"]}, "NaN"):
            await send(sender, {"to": "all", "data": data})
            # The client decodes frames as strict UTF-8: a raw surrogate would fail it.
            text = await asyncio.wait_for(sender.recv(), 5)
            assert json.loads(text) == {"from": sender_id, "to": "all", "data": data}
            if data == "\ud800":
                assert "\\ud800" in text.lower()
        # NaN and friends are never relayed.
        await refused(sender, message("NaN"), "invalid_json")
        # Duplicate keys: the last wins, for routing and data alike.
        await sender.send('{"to":"nobody","data":1,"to":"all","data":2}')
        assert await recv(sender) == {"from": sender_id, "to": "all", "data": 2}
        # Depth 32 is the deepest allowed.
        await sender.send(nested(32))
        assert (await recv(sender))["from"] == sender_id
