"""Hostile input at the WebSocket level, written by hand on a raw TCP socket (RFC 6455).

Against a real daphne or uvicorn (RELAY_TEST_SERVER). For each case: the server answers as
PROTOCOL.md (or, below it, RFC 6455) says, without a traceback in its log; an admin and a
bystander of the same project get nothing but the admin's new_id/left_id; the connection's
slot is freed. Where a server departs from the RFC, the test pins what it does and says so.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import DEFAULT_SERVER
from tests.realtime.server_helpers import (
    WAIT,
    become_admin,
    log_since,
    new_project,
    open_socket,
    pings,
    recv,
    settles_to,
    shared_server,
    silent,
)

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

MIB = 1024 * 1024
TEXT, BINARY, CLOSE, PING, PONG_OPCODE, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


# One server per run, as RELAY_TEST_SERVER says: .ci/run's embedded pass runs the corpus under
# daphne (`make run`), its production pass under uvicorn (the README's command).
@pytest.fixture(scope="module", params=[DEFAULT_SERVER])
def server(request, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        process = shared_server(request.param)
    process.kind = request.param
    yield process
    process.stop()


# --- Frames by hand ---------------------------------------------------------------------------


def mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return data
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


def frame(
    payload: bytes, opcode: int = TEXT, fin: bool = True, rsv: int = 0, masked: bool = True
) -> bytes:
    """One WebSocket frame as a client sends it (masked unless told otherwise)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", first, bit | size)
    elif size < 65536:
        head = struct.pack("!BBH", first, bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, bit | 127, size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def text(value: str) -> bytes:
    return frame(value.encode())


def close_frame(code: int | None, reason: bytes = b"") -> bytes:
    return frame(b"" if code is None else struct.pack("!H", code) + reason, CLOSE)


class Raw:
    """A client on a bare TCP socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, server) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def handshake(self, server, public_id: str) -> str:
        """The upgrade, then the id frame; returns the connection id."""
        await self.send(upgrade_request(server, public_id))
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101"), head
        opcode, payload = await self.read_frame()
        assert opcode == TEXT
        return json.loads(payload)["id"]

    async def read_frame(self, within: float = WAIT) -> tuple[int, bytes]:
        async with asyncio.timeout(within):
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            assert not second & 0x80, "a server must not mask its frames"
            payload = await self.reader.readexactly(size)
        assert first & 0x80 and not first & 0x70, f"unexpected frame header {first:#x}"
        return first & 0x0F, payload

    async def closed(self, within: float = WAIT) -> tuple[list[tuple[int, bytes]], int | str]:
        """Frames read until the server's close frame, and its code ("no code" for an empty
        close payload, "dropped" when the TCP connection ends without a close frame)."""
        frames = []
        try:
            while True:
                opcode, payload = await self.read_frame(within)
                if opcode == CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if payload else "no code"
                    return frames, code
                frames.append((opcode, payload))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return frames, "dropped"

    async def dropped(self, within: float) -> bool:
        """Whether the server ends the TCP connection within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                while await self.reader.read(65536):
                    pass
            return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def abort(self) -> None:
        self.writer.transport.abort()


def upgrade_request(server, public_id: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws/{public_id}/ HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


# --- The cases --------------------------------------------------------------------------------
#
# `expect` is ("closes", code), ("error", code) (an error frame, the connection stays open),
# ("relayed", data) (a broadcast from the hostile connection) or ("pong", payload) (a
# WebSocket pong control frame). A dict maps a server kind to its own expectation.


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    expect: Any

    def expected(self, kind: str) -> tuple:
        if kind == "daphne" and self.expect in (("closes", 1002), ("closes", 1007)):
            # Daphne departs from RFC 6455 here: its WebSocket layer (autobahn, failByDrop)
            # ends the TCP connection without the close frame the RFC says it SHOULD send
            # (7.1.7). The connection is still failed, and its slot freed; uvicorn sends
            # 1002 or 1007 as the RFC says.
            return ("closes", "dropped")
        return self.expect


def bad_close_code(code: int) -> Case:
    # RFC 6455 7.4: 1004-1006, 1015, under 1000 and 1016-2999 (unregistered) are invalid on
    # the wire; above 4999 is out of range. The answer is a close with 1002.
    return Case(f"close_with_code_{code}", lambda: close_frame(code), ("closes", 1002))


def utf8_split_fragments() -> bytes:
    body = '{"to":"all","data":"é€😀"}'.encode()
    cut = body.index("€".encode()) + 1  # inside the three bytes of €
    return frame(body[:cut], TEXT, fin=False) + frame(body[cut:], CONTINUATION)


CASES = [
    Case("binary_frame", lambda: frame(b"\x00\x01", BINARY), ("error", "binary_not_supported")),
    Case("empty_binary_frame", lambda: frame(b"", BINARY), ("error", "binary_not_supported")),
    Case("invalid_utf8_text", lambda: frame(b'{"to":"all","data":"\xff\xfe"}'), ("closes", 1007)),
    Case(
        "utf8_encoded_lone_surrogate",
        lambda: frame(b'{"to":"all","data":"\xed\xa0\x80"}'),
        ("closes", 1007),
    ),
    Case("overlong_utf8", lambda: frame(b'"\xc0\xaf"'), ("closes", 1007)),
    Case("truncated_utf8", lambda: frame(b'"\xe2\x82"'), ("closes", 1007)),
    Case("rsv1_set", lambda: frame(b"ping", rsv=0b100), ("closes", 1002)),
    Case("rsv2_set", lambda: frame(b"ping", rsv=0b010), ("closes", 1002)),
    Case("rsv3_set", lambda: frame(b"ping", rsv=0b001), ("closes", 1002)),
    Case("reserved_data_opcode_3", lambda: frame(b"ping", 0x3), ("closes", 1002)),
    Case("reserved_control_opcode_b", lambda: frame(b"", 0xB), ("closes", 1002)),
    Case("unmasked_text_frame", lambda: frame(b"ping", masked=False), ("closes", 1002)),
    Case("ping_over_125_bytes", lambda: frame(b"x" * 126, PING), ("closes", 1002)),
    Case("fragmented_ping", lambda: frame(b"x", PING, fin=False), ("closes", 1002)),
    Case("continuation_without_a_start", lambda: frame(b"ping", CONTINUATION), ("closes", 1002)),
    Case(
        "text_inside_a_fragmented_text",
        lambda: frame(b'{"to":', TEXT, fin=False) + frame(b"ping", TEXT),
        ("closes", 1002),
    ),
    *(bad_close_code(code) for code in (999, 1004, 1005, 1006, 1015, 2999, 5000)),
    Case("close_with_a_one_byte_payload", lambda: frame(b"\x03", CLOSE), ("closes", 1002)),
    Case(
        "close_with_an_invalid_utf8_reason",
        lambda: close_frame(1000, b"\xff"),
        ("closes", 1007),
    ),
    Case("text_over_one_mebibyte", lambda: text("x" * (MIB + 1)), ("closes", 1009)),
    Case("binary_over_one_mebibyte", lambda: frame(b"\x00" * (MIB + 1), BINARY), ("closes", 1009)),
    Case(
        "fragmented_text_over_one_mebibyte",
        lambda: (
            frame(b"x" * (MIB // 2), TEXT, fin=False)
            + frame(b"x" * (MIB // 2), CONTINUATION, fin=False)
            + frame(b"x", CONTINUATION)
        ),
        ("closes", 1009),
    ),
    Case(
        "fragmented_text",
        lambda: (
            frame(b'{"to":"al', TEXT, fin=False)
            + frame(b'l","data":', CONTINUATION, fin=False)
            + frame(b'"in three"}', CONTINUATION)
        ),
        ("relayed", "in three"),
    ),
    Case(
        "fragmented_text_with_a_ping_between",
        lambda: (
            frame(b'{"to":"all",', TEXT, fin=False)
            + frame(b"between", PING)
            + frame(b'"data":"around a ping"}', CONTINUATION)
        ),
        ("relayed", "around a ping"),  # the pong control frame is checked apart
    ),
    Case("utf8_split_across_fragments", utf8_split_fragments, ("relayed", "é€😀")),
    Case("ping_control_frame", lambda: frame(b"are you there", PING), ("pong", b"are you there")),
]


async def expect_reaction(raw: Raw, expect: tuple, hostile_id: str, peers: list) -> bool:
    """Check the reaction; False when the server closed the connection."""
    kind = expect[0]
    if kind == "closes":
        frames, code = await raw.closed()
        assert frames == [], frames
        assert code == expect[1]
        return False
    if kind == "error":
        opcode, payload = await raw.read_frame()
        assert opcode == TEXT
        reply = json.loads(payload)
        assert reply["code"] == expect[1] and reply["event"] == "error", reply
        return True
    if kind == "relayed":
        expected = {"from": hostile_id, "to": "all", "data": expect[1]}
        while True:
            opcode, payload = await raw.read_frame()
            if opcode != PONG_OPCODE:
                break
        assert opcode == TEXT
        assert json.loads(payload) == expected
        for ws in peers:
            assert await recv(ws) == expected
        return True
    if kind == "pong":
        assert await raw.read_frame() == (PONG_OPCODE, expect[1])
        return True
    raise AssertionError(f"unknown expectation {expect}")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_raw_frame_gets_its_answer_and_harms_nobody(server, alice, case):
    log_start = len(server.output())
    project = await new_project(alice)
    admin, admin_id = await open_socket(server, project.public_id)
    await become_admin(admin, project.admin_key)
    bystander, bystander_id = await open_socket(server, project.public_id)
    raw = await Raw.connect(server)
    try:
        assert await recv(admin) == {"from": "system", "new_id": bystander_id}
        hostile_id = await raw.handshake(server, project.public_id)
        assert await recv(admin) == {"from": "system", "new_id": hostile_id}

        await raw.send(case.build())
        if await expect_reaction(raw, case.expected(server.kind), hostile_id, [admin, bystander]):
            # Still open and serving: a protocol ping, then a proper close.
            await raw.send(text("ping"))
            opcode, payload = await raw.read_frame()
            assert (opcode, json.loads(payload)) == (TEXT, {"system": "pong"})
            await raw.send(close_frame(1000))
            assert (await raw.closed())[1] == 1000
        raw.abort()

        skipped: list = []
        expected = {admin_id: "admin", bystander_id: "pending"}
        assert await settles_to(admin, expected, skipped) == expected, "a slot leaked"
        if not skipped:
            skipped.append(await recv(admin))
        assert skipped == [{"from": "system", "left_id": hostile_id}]
        await pings(bystander)
        await silent(bystander, 0.1)
    finally:
        raw.abort()
        await admin.close()
        await bystander.close()
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)


# --- Before the WebSocket: the handshake --------------------------------------------------------


async def serves_a_session(server, public_id: str) -> None:
    ws, ws_id = await open_socket(server, public_id)
    async with ws:
        await ws.send(json.dumps({"to": "all", "data": "served"}))
        assert await recv(ws) == {"from": ws_id, "to": "all", "data": "served"}


async def stall(server, public_id: str, count: int) -> list[Raw]:
    """`count` clients that send the first 40 bytes of an upgrade request and stop."""
    stalled = []
    for _ in range(count):
        raw = await Raw.connect(server)
        await raw.send(upgrade_request(server, public_id)[:40])
        stalled.append(raw)
    return stalled


async def test_half_sent_handshakes_hold_no_slot_and_others_are_served(server, alice):
    log_start = len(server.output())
    project = await new_project(alice)
    other = await new_project(alice)
    admin, admin_id = await open_socket(server, project.public_id)
    await become_admin(admin, project.admin_key)
    stalled = await stall(server, project.public_id, 5)
    try:
        await serves_a_session(server, other.public_id)
        await serves_a_session(server, project.public_id)
        skipped: list = []
        assert await settles_to(admin, {admin_id: "admin"}, skipped) == {admin_id: "admin"}
    finally:
        for raw in stalled:
            raw.abort()
        await admin.close()
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)


# Daphne (Twisted's HTTP factory) drops a connection idle for 60 s; measured.
DROP_WITHIN = 70.0


async def test_half_sent_handshake_is_dropped_within_a_minute(server, alice):
    # Slow (it waits for the server's own timeout): a client that never finishes its
    # request must not hold a socket and a file descriptor for ever (slowloris).
    log_start = len(server.output())
    project = await new_project(alice)
    stalled = await stall(server, project.public_id, 3)
    try:
        drops = await asyncio.gather(*(raw.dropped(DROP_WITHIN) for raw in stalled))
        assert drops == [True] * len(stalled), f"{server.kind} keeps half-sent handshakes open"
        await serves_a_session(server, project.public_id)
    finally:
        for raw in stalled:
            raw.abort()
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)


NOT_HTTP = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    b"HELLO WORLD\r\n\r\n",
    b"\x00" * 1024 + b"\r\n\r\n",
    b"GET /ws/x/ HTTP/1.1\r\n" + b"X-Long: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /ws/x/ HTTP/9.9\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("garbage", NOT_HTTP, ids=["tls", "words", "nul", "huge_header", "http9"])
async def test_garbage_instead_of_http_is_refused_and_others_are_served(server, alice, garbage):
    log_start = len(server.output())
    project = await new_project(alice)
    raw = await Raw.connect(server)
    try:
        await raw.send(garbage)
        answer = b""
        try:
            async with asyncio.timeout(2.0):
                while chunk := await raw.reader.read(65536):
                    answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        # An HTTP error status, the end of the connection, or (daphne, for input with no line
        # end) nothing yet: never an upgrade. Dropping the silent ones is checked above.
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]
        await serves_a_session(server, project.public_id)
    finally:
        raw.abort()
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)


async def test_upgrade_without_a_key_is_refused(server, alice):
    log_start = len(server.output())
    project = await new_project(alice)
    raw = await Raw.connect(server)
    try:
        request = upgrade_request(server, project.public_id)
        request = b"\r\n".join(
            line for line in request.split(b"\r\n") if not line.startswith(b"Sec-WebSocket-Key")
        )
        await raw.send(request)
        head = await asyncio.wait_for(raw.reader.read(4096), WAIT)
        assert not head.startswith(b"HTTP/1.1 101"), head
        await serves_a_session(server, project.public_id)
    finally:
        raw.abort()
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)


HOSTILE_PATHS = {
    "invalid_utf8": "/ws/%ff%fe%fd" + "a" * 16 + "/",
    "encoded_lone_surrogate": "/ws/%ed%a0%80" + "a" * 16 + "/",
    "encoded_nul": "/ws/" + "a" * 16 + "%00/",
    "dot_segments": "/ws/../../" + "a" * 16 + "/",
    "very_long": "/ws/" + "a" * 8000 + "/",
    "non_ascii": "/ws/" + "é" * 16 + "/",
}


@pytest.mark.parametrize("path", HOSTILE_PATHS.values(), ids=HOSTILE_PATHS.keys())
async def test_hostile_path_is_refused_without_a_traceback(server, alice, path):
    # PROTOCOL.md §1: paths without the public id's shape may be refused at the handshake;
    # if the server accepts, the relay answers project_not_found and closes with 4004.
    log_start = len(server.output())
    project = await new_project(alice)
    raw = await Raw.connect(server)
    try:
        request = upgrade_request(server, "x").replace(b"/ws/x/", path.encode())
        await raw.send(request)
        head = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), WAIT)
        if head.startswith(b"HTTP/1.1 101"):
            frames, code = await raw.closed()
            assert [json.loads(payload)["code"] for _, payload in frames] == ["project_not_found"]
            assert code == 4004
        else:
            assert head[:12] in (b"HTTP/1.1 400", b"HTTP/1.1 403", b"HTTP/1.1 404"), head
        await serves_a_session(server, project.public_id)
    finally:
        raw.abort()
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)
