"""Hostile frames at the application level, against a real daphne or a real uvicorn.

Each case of the corpus is one text frame from a fresh connection (the hostile one) in a
fresh project, with the reaction PROTOCOL.md names for it. Around it stand an admin and a
plain connection of the same project and an admin and a plain connection of another project.
For every case: the hostile connection gets exactly that reaction and still answers; the
bystanders get nothing but what the frame legitimately relays (and the admin its new_id and
left_id); the project's connection count returns to what it was; the server logs no traceback.

One server process per module and kind serves every case (starting one per case would take
minutes); each case still has projects and connections of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime import live
from tests.conftest import DEFAULT_SERVER, REDIS_URL
from tests.realtime.server_helpers import (
    PONG,
    WAIT,
    become_admin,
    closed_with,
    error,
    log_since,
    new_project,
    open_socket,
    pings,
    recv,
    send,
    settles_to,
    shared_server,
    silent,
)

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

MIB = 1024 * 1024
FENCE = "fence: nothing of the hostile frame may come after this"


# One server per run, as RELAY_TEST_SERVER says: .ci/run's embedded pass runs the corpus under
# daphne (`make run`), its production pass under uvicorn (the README's command).
@pytest.fixture(scope="module", params=[DEFAULT_SERVER])
def server(request, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        process = shared_server(request.param)
    yield process
    process.stop()


# --- The corpus -----------------------------------------------------------------------------
#
# Texts may hold placeholders, replaced per case: @S@ the hostile connection's id, @A@ the
# admin's, @B@ the bystander's (@BU@ upper-cased), @O@ and @OA@ the other project's plain and
# admin connections, @KEY@ the project's admin key (@KEYU@ upper-cased), @OKEY@ the other
# project's key, @OPID@ the other project's public id. Expected values hold them too.


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    expect: tuple  # see `check_reaction`
    as_admin: bool = False  # the hostile connection becomes admin first


def msg(data_json: str, to: str = "all") -> str:
    """A message frame whose `data` is the given JSON text, spelled as is."""
    return f'{{"to":{json.dumps(to)},"data":{data_json}}}'


def nested(levels: int) -> str:
    """A message whose containers nest `levels` deep, the outer object being level 1."""
    return msg("[" * (levels - 1) + "]" * (levels - 1))


def nested_value(levels: int) -> Any:
    value: list = []
    for _ in range(levels - 2):
        value = [value]
    return value


def refused(code: str, **extra) -> tuple:
    return ("error", code, extra)


def relayed(data: Any) -> tuple:
    return ("relay", data)


def direct(to: str, data: Any) -> tuple:
    return ("direct", to, data)


def reply(frame: dict) -> tuple:
    return ("reply", frame)


def admin_failed(error_text: str = "invalid key") -> tuple:
    return reply({"from": "system", "event": "admin", "status": "failed", "error": error_text})


def approval_failed(target: Any, error_text: str) -> tuple:
    return reply(
        {
            "from": "system",
            "event": "approved",
            "id": target,
            "status": "failed",
            "error": error_text,
        }
    )


INVALID_JSON = [
    Case("nan", msg("NaN"), refused("invalid_json")),
    Case("infinity", msg("Infinity"), refused("invalid_json")),
    Case("minus_infinity", msg("-Infinity"), refused("invalid_json")),
    Case("1e999", msg("1e999"), refused("invalid_json")),
    Case("minus_1e999", msg("-1e999"), refused("invalid_json")),
    Case("1e999_deep_inside_data", msg('{"a":[1,{"b":1e999}]}'), refused("invalid_json")),
    Case("nan_in_an_unknown_key", '{"to":"all","data":1,"x":NaN}', refused("invalid_json")),
    Case("nan_as_admin_key", '{"to":"system","event":"admin","key":NaN}', refused("invalid_json")),
    Case("integer_of_4301_digits", msg("9" * 4301), refused("invalid_json")),
    Case("fraction_of_4301_digits", msg("0." + "1" * 4301), refused("invalid_json")),
    Case("integer_beyond_a_double", msg("1" + "0" * 309), refused("invalid_json")),
    Case("integer_of_4300_digits_beyond_a_double", msg("9" * 4300), refused("invalid_json")),
    Case("truncated_object", '{"to":"all","data":', refused("invalid_json")),
    Case("single_quotes", "{'to':'all','data':1}", refused("invalid_json")),
    Case("trailing_comma", '{"to":"all","data":1,}', refused("invalid_json")),
    Case("comment", '{"to":"all",/*c*/"data":1}', refused("invalid_json")),
    Case("empty_frame", "", refused("invalid_json")),
    Case("whitespace_only", " \t\r\n", refused("invalid_json")),
    Case("raw_control_character_in_a_string", msg('"a\x01b"'), refused("invalid_json")),
    Case("raw_nul_in_a_string", msg('"a\x00b"'), refused("invalid_json")),
    Case("raw_newline_in_a_string", msg('"a\nb"'), refused("invalid_json")),
    Case("nul_before_the_object", '\x00{"to":"all","data":1}', refused("invalid_json")),
    Case("bad_escape", msg('"\\x41"'), refused("invalid_json")),
    Case("truncated_unicode_escape", msg('"\\ud8"'), refused("invalid_json")),
    Case("byte_order_mark", '\ufeff{"to":"all","data":1}', refused("invalid_json")),
    Case("hex_number", msg("0x10"), refused("invalid_json")),
    Case("leading_zero", msg("01"), refused("invalid_json")),
    Case("plus_sign", msg("+1"), refused("invalid_json")),
    Case("two_objects", '{"to":"all","data":1}{"to":"all","data":2}', refused("invalid_json")),
    Case("unquoted_keys", '{to:"all",data:1}', refused("invalid_json")),
    Case("undefined", msg("undefined"), refused("invalid_json")),
    Case(
        "unbalanced_5000_levels", '{"to":"all","data":' + "[" * 5000 + "}", refused("invalid_json")
    ),
    Case("closing_bracket_only", "]", refused("invalid_json")),
]

INVALID_MESSAGE = [
    Case("array_of_a_message", '[{"to":"all","data":1}]', refused("invalid_message")),
    Case("string", '"hello"', refused("invalid_message")),
    Case("string_ping_with_a_space", '" ping"', refused("invalid_message")),
    Case("ping_in_an_array", '["ping"]', refused("invalid_message")),
    Case("big_number", "1e308", refused("invalid_message")),
    Case("null", "null", refused("invalid_message")),
    Case("empty_object", "{}", refused("invalid_message")),
    Case("to_missing", '{"data":1}', refused("invalid_message")),
    Case("to_a_number", '{"to":5,"data":1}', refused("invalid_message")),
    Case("to_null", '{"to":null,"data":1}', refused("invalid_message")),
    Case("to_an_array", '{"to":["all"],"data":1}', refused("invalid_message")),
    Case("to_an_object", '{"to":{"all":true},"data":1}', refused("invalid_message")),
    Case("to_true", '{"to":true,"data":1}', refused("invalid_message")),
    Case("data_missing_on_a_broadcast", '{"to":"all"}', refused("invalid_message")),
    Case("data_missing_on_a_direct_message", '{"to":"@B@"}', refused("invalid_message")),
    Case(
        "duplicate_to_last_is_a_number", '{"to":"all","data":1,"to":7}', refused("invalid_message")
    ),
    Case("event_missing", '{"to":"system"}', refused("invalid_message")),
    Case("event_a_number", '{"to":"system","event":5}', refused("invalid_message")),
    Case("event_an_array", '{"to":"system","event":["admin"]}', refused("invalid_message")),
    Case("key_a_number", '{"to":"system","event":"admin","key":123}', refused("invalid_message")),
    Case("key_null", '{"to":"system","event":"admin","key":null}', refused("invalid_message")),
    Case(
        "key_an_array",
        '{"to":"system","event":"admin","key":["@KEY@"]}',
        refused("invalid_message"),
    ),
    Case("key_an_object", '{"to":"system","event":"admin","key":{}}', refused("invalid_message")),
    Case("key_missing", '{"to":"system","event":"admin"}', refused("invalid_message")),
    Case(
        "duplicate_key_last_is_a_number",
        '{"to":"system","event":"admin","key":"@KEY@","key":5}',
        refused("invalid_message"),
    ),
    Case("nesting_33_arrays", nested(33), refused("invalid_message")),
    Case(
        "nesting_33_objects",
        '{"to":"all","data":' + '{"a":' * 32 + "1" + "}" * 32 + "}",
        refused("invalid_message"),
    ),
    Case("nesting_5000_levels", nested(5000), refused("invalid_message")),
    Case(
        "nesting_33_in_an_unknown_key",
        '{"to":"all","data":1,"x":' + "[" * 32 + "]" * 32 + "}",
        refused("invalid_message"),
    ),
    Case(
        "nesting_33_in_a_system_request",
        '{"to":"system","event":"connections","x":' + "[" * 32 + "]" * 32 + "}",
        refused("invalid_message"),
    ),
    Case(
        "type_key_without_to", '{"type":"websocket.close","code":1000}', refused("invalid_message")
    ),
    Case(
        "type_key_of_a_hub_event_without_data",
        '{"to":"all","type":"hub.group","group":"x","text":"y"}',
        refused("invalid_message"),
    ),
    Case(
        "approval_id_a_number",
        '{"to":"system","event":"approved","id":5}',
        refused("invalid_message"),
        as_admin=True,
    ),
    Case(
        "approval_id_missing",
        '{"to":"system","event":"approved"}',
        refused("invalid_message"),
        as_admin=True,
    ),
    Case(
        "approval_duplicate_id_last_is_null",
        '{"to":"system","event":"approved","id":"@B@","id":null}',
        refused("invalid_message"),
        as_admin=True,
    ),
]

UNKNOWN_EVENT = [
    Case("event_dance", '{"to":"system","event":"dance"}', refused("unknown_event")),
    Case("event_empty", '{"to":"system","event":""}', refused("unknown_event")),
    Case("event_lone_surrogate", '{"to":"system","event":"\\ud800"}', refused("unknown_event")),
    Case("event_with_nul", '{"to":"system","event":"admin\\u0000"}', refused("unknown_event")),
    Case(
        "event_upper_case",
        '{"to":"system","event":"ADMIN","key":"@KEY@"}',
        refused("unknown_event"),
    ),
    Case(
        "event_a_hub_event_type", '{"to":"system","event":"hub.project"}', refused("unknown_event")
    ),
    Case(
        "event_websocket_close",
        '{"to":"system","event":"websocket.close","code":1000}',
        refused("unknown_event"),
    ),
    Case(
        "event_with_a_trailing_space",
        '{"to":"system","event":"approved "}',
        refused("unknown_event"),
    ),
]

UNKNOWN_RECIPIENT = [
    Case(
        "to_an_unknown_uuid",
        msg("1", to="0b8c7c8e-6f43-4a57-9a4a-5d0f1e2a3b4c"),
        refused("unknown_recipient", to="0b8c7c8e-6f43-4a57-9a4a-5d0f1e2a3b4c"),
    ),
    Case(
        "to_a_lone_surrogate",
        '{"to":"\\ud800","data":1}',
        refused("unknown_recipient", to="\ud800"),
    ),
    Case(
        "to_a_low_surrogate_then_an_id",
        '{"to":"\\udc00@B@","data":1}',
        refused("unknown_recipient", to="\udc00@B@"),
    ),
    Case(
        "to_an_id_then_a_lone_surrogate",
        '{"to":"@B@\\ud800","data":1}',
        refused("unknown_recipient", to="@B@\ud800"),
    ),
    Case("to_all_upper_case", msg("1", to="ALL"), refused("unknown_recipient", to="ALL")),
    Case("to_empty", msg("1", to=""), refused("unknown_recipient", to="")),
    Case("to_nul", '{"to":"\\u0000","data":1}', refused("unknown_recipient", to="\x00")),
    Case(
        "to_system_and_nul",
        '{"to":"system\\u0000","data":1}',
        refused("unknown_recipient", to="system\x00"),
    ),
    Case(
        "to_another_projects_connection", msg("1", to="@O@"), refused("unknown_recipient", to="@O@")
    ),
    Case("to_another_projects_admin", msg("1", to="@OA@"), refused("unknown_recipient", to="@OA@")),
    Case(
        "to_another_projects_connection_with_a_type_key",
        '{"to":"@O@","data":"x","type":"hub.direct","conn":"@O@","text":"x"}',
        refused("unknown_recipient", to="@O@"),
    ),
    Case(
        "to_another_project_qualified_id",
        msg("1", to="@OPID@/@O@"),
        refused("unknown_recipient", to="@OPID@/@O@"),
    ),
    Case("to_an_upper_case_id", msg("1", to="@BU@"), refused("unknown_recipient", to="@BU@")),
    Case("to_an_id_in_braces", msg("1", to="{@B@}"), refused("unknown_recipient", to="{@B@}")),
    Case("to_a_long_string", msg("1", to="x" * 5000), refused("unknown_recipient", to="x" * 5000)),
]

ADMIN_REQUESTS = [
    Case("key_lone_surrogate", '{"to":"system","event":"admin","key":"\\ud800"}', admin_failed()),
    Case("key_low_surrogate", '{"to":"system","event":"admin","key":"\\udfff"}', admin_failed()),
    Case(
        "key_right_then_a_lone_surrogate",
        '{"to":"system","event":"admin","key":"@KEY@\\ud800"}',
        admin_failed(),
    ),
    Case(
        "key_right_then_an_emoji",
        '{"to":"system","event":"admin","key":"@KEY@\\ud83d\\ude00"}',
        admin_failed(),
    ),
    Case("key_empty", '{"to":"system","event":"admin","key":""}', admin_failed()),
    Case(
        "key_of_another_project", '{"to":"system","event":"admin","key":"@OKEY@"}', admin_failed()
    ),
    Case(
        "key_right_then_nul", '{"to":"system","event":"admin","key":"@KEY@\\u0000"}', admin_failed()
    ),
    Case("key_upper_cased", '{"to":"system","event":"admin","key":"@KEYU@"}', admin_failed()),
    Case(
        "key_of_5000_characters",
        '{"to":"system","event":"admin","key":"' + "k" * 5000 + '"}',
        admin_failed(),
    ),
    Case(
        "duplicate_key_last_is_wrong",
        '{"to":"system","event":"admin","key":"@KEY@","key":"wrong"}',
        admin_failed(),
    ),
    Case(
        "duplicate_key_last_is_right",
        '{"to":"system","event":"admin","key":"wrong","key":"@KEY@"}',
        reply({"from": "system", "event": "admin", "status": "success"}),
    ),
    Case(
        "key_with_a_hub_approved_type",
        '{"to":"system","event":"admin","key":"x","type":"hub.approved","conn":"@S@"}',
        admin_failed(),
    ),
]

APPROVALS = [
    Case(
        "approval_of_itself_by_a_pending_connection",
        '{"to":"system","event":"approved","id":"@S@"}',
        approval_failed("@S@", "not admin"),
    ),
    Case(
        "approval_of_a_lone_surrogate_by_a_pending_connection",
        '{"to":"system","event":"approved","id":"\\ud800"}',
        approval_failed("\ud800", "not admin"),
    ),
    Case(
        "approval_of_a_number_by_a_pending_connection",
        '{"to":"system","event":"approved","id":5}',
        approval_failed(5, "not admin"),
    ),
    Case(
        "approval_of_a_lone_surrogate",
        '{"to":"system","event":"approved","id":"\\ud800"}',
        approval_failed("\ud800", "unknown id"),
        as_admin=True,
    ),
    Case(
        "approval_of_another_projects_connection",
        '{"to":"system","event":"approved","id":"@O@"}',
        approval_failed("@O@", "unknown id"),
        as_admin=True,
    ),
    Case(
        "approval_of_an_empty_id",
        '{"to":"system","event":"approved","id":""}',
        approval_failed("", "unknown id"),
        as_admin=True,
    ),
    Case(
        "approval_of_an_upper_case_id",
        '{"to":"system","event":"approved","id":"@BU@"}',
        approval_failed("@BU@", "unknown id"),
        as_admin=True,
    ),
    Case(
        "approval_of_an_id_and_nul",
        '{"to":"system","event":"approved","id":"@B@\\u0000"}',
        approval_failed("@B@\x00", "unknown id"),
        as_admin=True,
    ),
    Case(
        "approval_duplicate_id_last_wins",
        '{"to":"system","event":"approved","id":"@B@","id":"nobody"}',
        approval_failed("nobody", "unknown id"),
        as_admin=True,
    ),
    Case(
        "approval_of_all",
        '{"to":"system","event":"approved","id":"all"}',
        approval_failed("all", "unknown id"),
        as_admin=True,
    ),
]

RELAYED = [
    Case("data_lone_surrogate", msg('"\\ud800"'), relayed("\ud800")),
    Case("data_reversed_surrogate_pair", msg('"\\ude00\\ud83d"'), relayed("\ude00\ud83d")),
    Case("data_surrogate_pair", msg('"\\ud83d\\ude00"'), relayed("\U0001f600")),
    Case(
        "data_lone_surrogate_as_a_key",
        msg('{"\\ud800":["\\udc00"]}'),
        relayed({"\ud800": ["\udc00"]}),
    ),
    Case("unknown_key_lone_surrogate", '{"to":"all","data":1,"\\ud800":"\\udfff"}', relayed(1)),
    Case("from_lone_surrogate_is_ignored", '{"to":"all","data":2,"from":"\\ud800"}', relayed(2)),
    Case("from_another_projects_id_is_ignored", '{"to":"all","data":2,"from":"@O@"}', relayed(2)),
    Case(
        "data_escaped_control_characters", msg('"\\u0000\\u001f\\u007f"'), relayed("\x00\x1f\x7f")
    ),
    Case("data_raw_line_separators", msg('"\u2028\u2029"'), relayed("\u2028\u2029")),
    Case("whitespace_between_tokens", '{\n\t"to" :\r"all" ,\n"data"\t:\n3 }', relayed(3)),
    Case("to_all_spelled_with_an_escape", '{"to":"al\\u006c","data":4}', relayed(4)),
    Case("duplicate_to_last_is_all", '{"to":"nobody","data":1,"to":"all","data":5}', relayed(5)),
    Case(
        "type_key_websocket_close",
        '{"to":"all","data":6,"type":"websocket.close","code":4004}',
        relayed(6),
    ),
    Case(
        "type_key_hub_project_gone",
        '{"to":"all","data":7,"type":"hub.project","group":"x","change":"gone"}',
        relayed(7),
    ),
    Case(
        "data_shaped_like_a_layer_event",
        msg('{"type":"websocket.close","code":1000}'),
        relayed({"type": "websocket.close", "code": 1000}),
    ),
    Case(
        "keys_naming_another_project",
        '{"to":"all","data":8,"project":"@OPID@","public_id":"@OPID@","key":"@OKEY@"}',
        relayed(8),
    ),
    Case("data_largest_double", msg("1.7976931348623157e308"), relayed(1.7976931348623157e308)),
    Case("data_integer_of_309_digits", msg("1" + "0" * 308), relayed(10**308)),
    Case("data_integer_past_2_to_the_53", msg(str(2**53 + 1)), relayed(2**53 + 1)),
    Case("data_fraction_of_4300_digits", msg("0." + "1" * 4299), relayed(0.1111111111111111)),
    Case("data_negative_zero", msg("-0"), relayed(0)),
    Case("data_smallest_double", msg("5e-324"), relayed(5e-324)),
    Case("data_upper_case_exponent", msg("1E+308"), relayed(1e308)),
    Case("nesting_32_levels", nested(32), relayed(nested_value(32))),
    Case("data_the_string_ping", msg('"ping"'), relayed("ping")),
    Case("data_null", msg("null"), relayed(None)),
    Case(
        "data_proto_key",
        msg('{"__proto__":{"admin":true}}'),
        relayed({"__proto__": {"admin": True}}),
    ),
]

DIRECT = [
    Case(
        "direct_with_a_websocket_disconnect_type",
        '{"to":"@B@","data":"x","type":"websocket.disconnect","code":1000}',
        direct("@B@", "x"),
    ),
    Case("direct_lone_surrogate", '{"to":"@B@","data":"\\udbff"}', direct("@B@", "\udbff")),
    Case(
        "direct_to_admin_with_a_hub_approved_type",
        '{"to":"@A@","data":"hi","type":"hub.approved","conn":"@S@"}',
        direct("@A@", "hi"),
    ),
]

OTHERS = [
    Case("json_string_ping", '"ping"', ("pong",)),
    Case("json_string_ping_with_an_escape", '"p\\u0069ng"', ("pong",)),
    Case("json_string_ping_with_whitespace", ' "ping" ', ("pong",)),
    Case("over_the_project_limit", msg('"' + "x" * 65_536 + '"'), refused("message_too_large")),
    Case(
        "over_the_project_limit_in_escaped_surrogates",
        msg('"' + "\\ud800" * 11_000 + '"'),
        refused("message_too_large"),
    ),
    Case("over_one_mebibyte", msg('"' + "x" * MIB + '"'), ("close", 1009)),
    Case(
        "connections_with_a_hub_project_type",
        '{"to":"system","event":"connections","type":"hub.project","group":"x","change":"gone"}',
        ("listing",),
        as_admin=True,
    ),
    Case(
        "connections_by_a_pending_connection_with_a_type",
        '{"to":"system","event":"connections","type":"websocket.accept"}',
        refused("not_admin"),
    ),
]

CORPUS = [
    *INVALID_JSON,
    *INVALID_MESSAGE,
    *UNKNOWN_EVENT,
    *UNKNOWN_RECIPIENT,
    *ADMIN_REQUESTS,
    *APPROVALS,
    *RELAYED,
    *DIRECT,
    *OTHERS,
]


def substitute(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for token, real in ids.items():
            value = value.replace(token, real)
        return value
    if isinstance(value, dict):
        return {substitute(k, ids): substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(substitute(v, ids) for v in value)
    return value


# --- Running one case -------------------------------------------------------------------------


async def live_total(public_id: str) -> int:
    return (await sync_to_async(live.counts)(public_id))["total"]


async def check_reaction(case: Case, expect: tuple, hostile, ids: dict, peers: dict) -> bool:
    """Check the hostile connection's reaction (and the relayed frames); False once closed."""
    kind = expect[0]
    sender = ids["@S@"]
    if kind == "error":
        frame = await recv(hostile)
        assert frame == error(frame, expect[1], **expect[2]), frame
    elif kind == "reply":
        assert await recv(hostile) == expect[1]
    elif kind == "pong":
        assert await recv(hostile) == PONG
    elif kind == "listing":
        frame = await recv(hostile)
        assert frame["event"] == "connections", frame
        listed = {c["id"]: c["status"] for c in frame["connections"]}
        assert listed == {ids["@A@"]: "admin", ids["@B@"]: "pending", sender: "admin"}
    elif kind == "relay":
        expected = {"from": sender, "to": "all", "data": expect[1]}
        for ws in (hostile, peers["@A@"], peers["@B@"]):
            assert await recv(ws) == expected
    elif kind == "direct":
        _, to, data = expect
        assert await recv(peers[case.expect[1]]) == {"from": sender, "to": to, "data": data}
    elif kind == "close":
        assert await closed_with(hostile) == expect[1]
        return False
    else:
        raise AssertionError(f"unknown expectation {expect}")
    return True


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
async def test_hostile_frame_gets_its_reaction_and_harms_nobody(server, alice, case):
    log_start = len(server.output())
    project = await new_project(alice, name="Hostile")
    other = await new_project(alice, name="Bystanding")
    admin, admin_id = await open_socket(server, project.public_id)
    await become_admin(admin, project.admin_key)
    bystander, bystander_id = await open_socket(server, project.public_id)
    o_admin, o_admin_id = await open_socket(server, other.public_id)
    await become_admin(o_admin, other.admin_key)
    o_plain, o_plain_id = await open_socket(server, other.public_id)
    hostile, hostile_id = await open_socket(server, project.public_id)
    sockets = [admin, bystander, o_admin, o_plain, hostile]
    try:
        assert await recv(admin) == {"from": "system", "new_id": bystander_id}
        assert await recv(admin) == {"from": "system", "new_id": hostile_id}
        assert await recv(o_admin) == {"from": "system", "new_id": o_plain_id}
        ids = {
            "@S@": hostile_id,
            "@A@": admin_id,
            "@BU@": bystander_id.upper(),
            "@B@": bystander_id,
            "@OA@": o_admin_id,
            "@OKEY@": other.admin_key,
            "@OPID@": other.public_id,
            "@O@": o_plain_id,
            "@KEYU@": project.admin_key.upper(),
            "@KEY@": project.admin_key,
        }
        peers = {"@A@": admin, "@B@": bystander}
        if case.as_admin:
            await become_admin(hostile, project.admin_key)

        await hostile.send(substitute(case.text, ids))
        expect = substitute(case.expect, ids)
        # Every symptom is collected, so that one failure tells the whole story.
        problems: list[str] = []
        try:
            if await check_reaction(case, expect, hostile, ids, peers):
                # Still serving, and nothing of the frame comes after what was checked: one
                # sender's frames arrive in order (§3), so the fence closes the window.
                await pings(hostile)
                await send(hostile, {"to": "all", "data": FENCE})
                for ws in (hostile, admin, bystander):
                    assert await recv(ws) == {"from": hostile_id, "to": "all", "data": FENCE}
        except (AssertionError, ConnectionClosed, TimeoutError) as exc:
            problems.append(
                f"reaction: {type(exc).__name__} {exc} (close code {hostile.close_code})"
            )
        await hostile.close()

        # The hostile connection's slot is freed, and the admin hears it left.
        skipped: list = []
        expected = {admin_id: "admin", bystander_id: "pending"}
        seen = await settles_to(admin, expected, skipped)
        if seen != expected:
            problems.append(f"slot leaked: the admin's listing is {seen}")
        if not skipped:
            with contextlib.suppress(TimeoutError):
                skipped.append(await recv(admin, within=1.0))
        if skipped != [{"from": "system", "left_id": hostile_id}]:
            problems.append(f"the admin got {skipped} instead of one left_id")
        if REDIS_URL:
            totals = [await live_total(p.public_id) for p in (project, other)]
            if totals != [2, 2]:
                problems.append(f"live.counts totals are {totals}, not [2, 2]")

        # Bystanders, here and in the other project, got nothing else: the pong is the next
        # frame each of them reads (the hostile frame was handled long before).
        for ws in (bystander, o_admin, o_plain):
            try:
                await pings(ws)
            except (AssertionError, ConnectionClosed, TimeoutError) as exc:
                problems.append(f"bystander: {type(exc).__name__} {exc}")
    finally:
        for ws in sockets:
            await ws.close()
    log = log_since(server, log_start)
    if "Traceback" in log:
        start = max(0, log.index("Traceback") - 300)
        problems.append(f"traceback in the server log:\n{log[start : start + 4000]}")
    assert problems == [], "\n".join(problems)


def test_corpus_has_at_least_60_cases_with_unique_names():
    assert len(CORPUS) >= 60
    assert len({case.name for case in CORPUS}) == len(CORPUS)


# --- The known bug, pinned: a lone surrogate as the admin key ----------------------------------


async def open_within(server, public_id: str, seconds: float):
    """A connection that gets in within `seconds`, retrying while the project is full (4029)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        ws = await connect(server.ws(public_id), open_timeout=WAIT)
        first = await recv(ws)
        if first.get("code") != "too_many_connections":
            assert set(first) == {"from", "id"}, first
            return ws
        await ws.close()
        assert loop.time() < deadline, "the project stays full: slots leaked"
        await asyncio.sleep(0.1)


LONE_SURROGATE_KEY = '{"to":"system","event":"admin","key":"\\ud800"}'
INVALID_KEY = {"from": "system", "event": "admin", "status": "failed", "error": "invalid key"}


async def test_lone_surrogate_keys_past_max_connections_leave_no_slot_behind(server, alice):
    log_start = len(server.output())
    project = await new_project(alice, max_connections=3)
    replies = []
    for _ in range(5):  # more than max_connections, one connection each
        ws = await open_within(server, project.public_id, 3.0)
        async with ws:
            await ws.send(LONE_SURROGATE_KEY)
            try:
                replies.append(await recv(ws))
            except ConnectionClosed:
                replies.append(f"closed with {ws.close_code}")
    # Clean-up is asynchronous: a fresh connection may briefly meet the old slots.
    fresh = [await open_within(server, project.public_id, 3.0) for _ in range(3)]
    # The project is full with the three fresh ones, not with leftovers.
    admin = fresh[0]
    await become_admin(admin, project.admin_key)
    await send(admin, {"to": "system", "event": "connections"})
    assert len((await recv(admin))["connections"]) == 3
    for ws in fresh:
        await ws.close()
    assert replies == [INVALID_KEY] * 5
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)


async def test_five_lone_surrogate_keys_count_as_five_failures_then_4003(server, alice):
    log_start = len(server.output())
    project = await new_project(alice)
    admin, _ = await open_socket(server, project.public_id)
    await become_admin(admin, project.admin_key)
    ws, ws_id = await open_socket(server, project.public_id)
    try:
        assert await recv(admin) == {"from": "system", "new_id": ws_id}
        for _ in range(5):
            await ws.send(LONE_SURROGATE_KEY)
            assert await recv(ws) == INVALID_KEY
        assert await closed_with(ws) == 4003
        assert await recv(admin) == {"from": "system", "left_id": ws_id}
        await silent(admin, 0.2)
    finally:
        await ws.close()
        await admin.close()
    assert "Traceback" not in log_since(server, log_start), log_since(server, log_start)


async def test_server_stays_up_through_the_corpus(server, alice):
    """Runs after the corpus in this module: the process is alive and serves a session."""
    assert server.process.poll() is None, server.output()
    project = await new_project(alice)
    ws, ws_id = await open_socket(server, project.public_id)
    async with ws:
        await send(ws, {"to": "all", "data": "still here"})
        assert await recv(ws, within=WAIT) == {"from": ws_id, "to": "all", "data": "still here"}
