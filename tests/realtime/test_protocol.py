"""The rules of ../shared/PROTOCOL.md as plain calls: no socket, no layer, no database."""

import json
import uuid

import pytest

from realtime import protocol
from realtime.protocol import (
    Approve,
    BecomeAdmin,
    Code,
    ListConnections,
    Ping,
    Policy,
    Refusal,
    Send,
    Status,
)

CONN_ID = "20d2e4f5-2986-427c-bc85-3d2c10fa564b"


def nested_message(depth: int) -> str:
    """A message whose nesting is `depth` levels, the outer object being level 1."""
    return '{"to":"all","data":' + "[" * (depth - 1) + "0" + "]" * (depth - 1) + "}"


def refusal_code(text: str) -> Code:
    result = protocol.parse(text)
    assert isinstance(result, Refusal), result
    return result.code


# --- Requests parse accepts ---------------------------------------------------------------


def test_ping_text_is_ping():
    assert protocol.parse("ping") == Ping()


def test_json_string_ping_is_ping():
    assert protocol.parse('"ping"') == Ping()


def test_message_to_all():
    request = protocol.parse('{"to":"all","data":"pesan percobaan"}')
    assert request == Send("all", "pesan percobaan")
    assert request.is_broadcast


def test_direct_message():
    request = protocol.parse(json.dumps({"to": CONN_ID, "data": {"event": "join"}}))
    assert request == Send(CONN_ID, {"event": "join"})
    assert not request.is_broadcast


@pytest.mark.parametrize(
    "data",
    [None, {"a": [1, 2]}, [1, "two", None], 0, -1.5, 1e308, "", True],
    ids=["null", "object", "array", "zero", "negative float", "large float", "string", "bool"],
)
def test_data_may_be_any_json_value(data):
    assert protocol.parse(json.dumps({"to": "all", "data": data})) == Send("all", data)


def test_admin_request():
    text = '{"to":"system","event":"admin","key":"hfB2ZCr8PtlRPrv4i8fVOp0Zr9ChEWoPaCYjGFHr"}'
    assert protocol.parse(text) == BecomeAdmin("hfB2ZCr8PtlRPrv4i8fVOp0Zr9ChEWoPaCYjGFHr")


def test_approved_request():
    text = json.dumps({"to": "system", "event": "approved", "id": CONN_ID})
    assert protocol.parse(text) == Approve(CONN_ID)


@pytest.mark.parametrize("target", [None, 7, ["x"]])
def test_approved_request_leaves_id_type_for_later(target):
    # §6 checks "not admin" before the type of `id`, so parse passes it through.
    text = json.dumps({"to": "system", "event": "approved", "id": target})
    assert protocol.parse(text) == Approve(target)


def test_approved_request_without_id_parses():
    assert protocol.parse('{"to":"system","event":"approved"}') == Approve(None)


def test_connections_request():
    assert protocol.parse('{"to":"system","event":"connections"}') == ListConnections()


def test_duplicate_to_last_one_wins_for_routing():
    assert protocol.parse('{"to":"system","to":"all","data":1}') == Send("all", 1)
    assert protocol.parse('{"to":"all","data":1,"to":"system","event":"connections"}') == (
        ListConnections()
    )


def test_duplicate_data_last_one_wins():
    assert protocol.parse('{"to":"all","data":1,"data":2}') == Send("all", 2)


def test_duplicate_key_last_one_wins_for_checks():
    text = '{"to":"system","event":"admin","key":"right","key":5}'
    assert refusal_code(text) == Code.INVALID_MESSAGE


def test_unknown_keys_are_ignored():
    text = '{"to":"all","data":1,"colour":"blue","event":"nope"}'
    assert protocol.parse(text) == Send("all", 1)
    text = '{"to":"system","event":"connections","extra":[1,2]}'
    assert protocol.parse(text) == ListConnections()


def test_client_from_is_ignored():
    request = protocol.parse('{"from":"system","to":"all","data":"hi"}')
    assert request == Send("all", "hi")
    assert protocol.message_frame(CONN_ID, request.to, request.data) == {
        "from": CONN_ID,
        "to": "all",
        "data": "hi",
    }


def test_tiny_number_underflows_to_zero_and_is_accepted():
    assert protocol.parse('{"to":"all","data":1e-999}') == Send("all", 0.0)


# --- invalid_json -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        '{"to":"all","data":1',
        "{'to':'all','data':1}",
        '{"to":"all","data":1,}',
        '{"to":"all","data":1} trailing',
        '{"to":"all","data":"\x01"}',
    ],
    ids=["word", "unclosed", "single quotes", "trailing comma", "extra data", "control char"],
)
def test_not_json_is_invalid_json(text):
    assert refusal_code(text) == Code.INVALID_JSON


def test_empty_frame_is_invalid_json():
    assert refusal_code("") == Code.INVALID_JSON


@pytest.mark.parametrize("text", [" ", "   ", "\n", " \t\r\n "])
def test_whitespace_only_is_invalid_json(text):
    assert refusal_code(text) == Code.INVALID_JSON


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_invalid_json(constant):
    assert refusal_code(constant) == Code.INVALID_JSON
    assert refusal_code('{"to":"all","data":' + constant + "}") == Code.INVALID_JSON


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1.5E400"])
def test_float_beyond_double_range_is_invalid_json(number):
    assert refusal_code('{"to":"all","data":' + number + "}") == Code.INVALID_JSON


def test_integer_of_4301_digits_is_invalid_json():
    number = "1" * 4301
    assert refusal_code('{"to":"all","data":' + number + "}") == Code.INVALID_JSON
    assert refusal_code('{"to":"all","data":-' + number + "}") == Code.INVALID_JSON


def test_number_of_4301_digits_with_fraction_is_invalid_json():
    number = "0." + "0" * 4299 + "1"
    assert refusal_code('{"to":"all","data":' + number + "}") == Code.INVALID_JSON


def test_integer_beyond_double_range_is_invalid_json():
    number = "1" + "0" * 309  # 1e309 > the largest double, about 1.8e308
    assert refusal_code('{"to":"all","data":' + number + "}") == Code.INVALID_JSON
    assert refusal_code('{"to":"all","data":-' + number + "}") == Code.INVALID_JSON


def test_integer_within_double_range_is_accepted():
    number = int("1" + "0" * 307)
    assert protocol.parse(json.dumps({"to": "all", "data": number})) == Send("all", number)


@pytest.mark.parametrize("text", ["pong", "PING", "Ping", " ping", "ping ", "ping\n", "pingping"])
def test_other_spellings_are_not_pings(text):
    assert refusal_code(text) == Code.INVALID_JSON


def test_json_string_pong_is_not_a_ping():
    assert refusal_code('"pong"') == Code.INVALID_MESSAGE


def test_deep_frame_with_unbalanced_brackets_is_invalid_json():
    # JSON is checked before the message shape (§7), even past the decoder's own depth.
    assert refusal_code("[" * 5000) == Code.INVALID_JSON
    assert refusal_code("[" * 5000 + "]" * 4999) == Code.INVALID_JSON
    assert refusal_code('{"to":"all","data":' + "[" * 5000 + '"]]]"' + "]" * 4999 + "}") == (
        Code.INVALID_JSON
    )


def test_deep_balanced_frame_is_too_deep_without_a_full_parse():
    # Past the decoder's depth only the brackets are checked (a strict parse of such a frame
    # in Python costs tens of milliseconds on the event loop): balanced means too deep.
    assert refusal_code("[" * 5000 + "NaN" + "]" * 5000) == Code.INVALID_MESSAGE


def test_invalid_json_frame_has_no_to():
    frame = protocol.parse("nope").frame()
    assert set(frame) == {"from", "event", "code", "error"}
    assert frame["code"] == "invalid_json"


# --- invalid_message ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["[]", '[{"to":"all","data":1}]', '"hello"', '"PING"', "42", "-1.5", "null", "true"],
)
def test_not_an_object_is_invalid_message(text):
    assert refusal_code(text) == Code.INVALID_MESSAGE


@pytest.mark.parametrize(
    "text",
    [
        '{"data":1}',
        '{"to":null,"data":1}',
        '{"to":1,"data":1}',
        '{"to":["all"],"data":1}',
        '{"to":{"id":"x"},"data":1}',
        '{"to":true,"data":1}',
    ],
    ids=["missing", "null", "number", "array", "object", "bool"],
)
def test_to_missing_or_not_a_string_is_invalid_message(text):
    assert refusal_code(text) == Code.INVALID_MESSAGE


@pytest.mark.parametrize("to", ["all", CONN_ID])
def test_message_without_data_is_invalid_message(to):
    assert refusal_code(json.dumps({"to": to})) == Code.INVALID_MESSAGE


@pytest.mark.parametrize(
    "text",
    [
        '{"to":"system"}',
        '{"to":"system","event":null}',
        '{"to":"system","event":1}',
        '{"to":"system","event":["admin"]}',
        '{"to":"system","data":"admin"}',
    ],
    ids=["missing", "null", "number", "array", "data instead"],
)
def test_system_request_without_string_event_is_invalid_message(text):
    assert refusal_code(text) == Code.INVALID_MESSAGE


@pytest.mark.parametrize("key", [None, 123, ["k"], {"k": 1}, True])
def test_admin_key_not_a_string_is_invalid_message(key):
    text = json.dumps({"to": "system", "event": "admin", "key": key})
    assert refusal_code(text) == Code.INVALID_MESSAGE


def test_admin_request_without_key_is_invalid_message():
    assert refusal_code('{"to":"system","event":"admin"}') == Code.INVALID_MESSAGE


def test_nesting_of_32_levels_is_accepted():
    request = protocol.parse(nested_message(32))
    assert isinstance(request, Send)


def test_nesting_of_33_levels_is_invalid_message():
    assert refusal_code(nested_message(33)) == Code.INVALID_MESSAGE


def test_nesting_counts_objects_and_unknown_keys():
    deep = '{"a":' * 32 + "0" + "}" * 32  # levels 2 to 33
    assert refusal_code('{"to":"all","data":1,"x":' + deep + "}") == Code.INVALID_MESSAGE
    shallow = '{"a":' * 31 + "0" + "}" * 31  # levels 2 to 32
    assert protocol.parse('{"to":"all","data":1,"x":' + shallow + "}") == Send("all", 1)


def test_nesting_of_33_levels_on_system_request_is_invalid_message():
    deep = "[" * 32 + "]" * 32  # an empty array still counts as a level
    text = '{"to":"system","event":"connections","x":' + deep + "}"
    assert refusal_code(text) == Code.INVALID_MESSAGE


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_very_deep_nesting_is_refused_without_a_crash(depth):
    assert refusal_code(nested_message(depth)) == Code.INVALID_MESSAGE
    assert refusal_code("[" * depth + "]" * depth) == Code.INVALID_MESSAGE


# --- unknown_event ------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["", "Admin", "ping", "timeout", "approve", "x" * 1000])
def test_unknown_system_event_is_unknown_event(event):
    assert refusal_code(json.dumps({"to": "system", "event": event})) == Code.UNKNOWN_EVENT


# --- Encoding -----------------------------------------------------------------------------


def test_lone_surrogate_is_relayed_escaped():
    request = protocol.parse('{"to":"all","data":"\\ud800"}')
    assert request == Send("all", "\ud800")
    text = protocol.encode(protocol.message_frame(CONN_ID, request.to, request.data))
    assert "\\ud800" in text
    assert text.isascii()
    assert json.loads(text)["data"] == "\ud800"


def test_encode_is_compact():
    assert protocol.encode({"system": "pong"}) == '{"system":"pong"}'


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_encode_refuses_nan_and_infinity(number):
    with pytest.raises(ValueError):
        protocol.encode({"data": number})


# --- Frames the server sends --------------------------------------------------------------


def test_id_frame():
    assert protocol.id_frame(CONN_ID) == {"from": "system", "id": CONN_ID}


def test_new_id_frame():
    assert protocol.new_id_frame(CONN_ID) == {"from": "system", "new_id": CONN_ID}


def test_left_id_frame():
    assert protocol.left_id_frame(CONN_ID) == {"from": "system", "left_id": CONN_ID}


def test_timeout_frame():
    assert protocol.timeout_frame() == {
        "from": "system",
        "event": "timeout",
        "error": "not approved in time",
    }


def test_error_frame_without_to():
    assert protocol.error_frame(Code.NOT_ADMIN, "only admins") == {
        "from": "system",
        "event": "error",
        "code": "not_admin",
        "error": "only admins",
    }


def test_unknown_recipient_error_frame_carries_to():
    frame = protocol.unknown_recipient(CONN_ID).frame()
    assert set(frame) == {"from", "event", "code", "error", "to"}
    assert frame["from"] == "system" and frame["event"] == "error"
    assert frame["code"] == "unknown_recipient" and frame["to"] == CONN_ID
    assert isinstance(frame["error"], str) and frame["error"]


@pytest.mark.parametrize(
    "refusal",
    [
        protocol.NOT_APPROVED_REFUSAL,
        protocol.NOT_ADMIN_REFUSAL,
        protocol.BINARY_REFUSAL,
        protocol.RATE_REFUSAL,
        protocol.too_large_refusal(65536),
    ],
)
def test_fixed_refusals_have_exactly_the_error_keys(refusal):
    frame = refusal.frame()
    assert set(frame) == {"from", "event", "code", "error"}
    assert frame["from"] == "system" and frame["event"] == "error"
    assert frame["code"] == str(refusal.code)
    assert isinstance(frame["error"], str) and frame["error"]


def test_admin_success_frame():
    assert protocol.admin_frame() == {"from": "system", "event": "admin", "status": "success"}


def test_admin_failed_frame():
    assert protocol.admin_frame("invalid key") == {
        "from": "system",
        "event": "admin",
        "status": "failed",
        "error": "invalid key",
    }
    assert protocol.admin_frame(protocol.TOO_MANY_ATTEMPTS)["error"] == "too many attempts"


def test_approved_reply_success_frame():
    assert protocol.approved_reply_frame(CONN_ID) == {
        "from": "system",
        "event": "approved",
        "id": CONN_ID,
        "status": "success",
    }


@pytest.mark.parametrize("error", ["not admin", "unknown id"])
def test_approved_reply_failed_frame(error):
    assert protocol.approved_reply_frame(CONN_ID, error) == {
        "from": "system",
        "event": "approved",
        "id": CONN_ID,
        "status": "failed",
        "error": error,
    }


def test_approved_notice_frame():
    assert protocol.approved_notice_frame(CONN_ID) == {
        "from": "system",
        "event": "approved",
        "id": CONN_ID,
    }


def test_connections_frame():
    entry = {"id": CONN_ID, "status": "pending", "connected_at": "2026-11-28T10:00:00Z"}
    assert protocol.connections_frame([entry]) == {
        "from": "system",
        "event": "connections",
        "connections": [entry],
    }
    assert protocol.connections_frame([])["connections"] == []


def test_pong_frame():
    assert protocol.PONG == {"system": "pong"}


def test_message_frame():
    assert protocol.message_frame(CONN_ID, "all", None) == {
        "from": CONN_ID,
        "to": "all",
        "data": None,
    }


# --- Size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "over"),
    [
        ("a" * 65536, False),
        ("a" * 65537, True),
        ("é" * 32768, False),  # 2 bytes each: 65 536
        ("é" * 32768 + "a", True),
        ("€" * 21845 + "a", False),  # 3 bytes each: 65 535 + 1
        ("€" * 21845 + "aa", True),
        ("€" * 21846, True),  # 65 538 bytes in 21 846 characters
        ("😀" * 16384, False),  # 4 bytes each: 65 536
        ("😀" * 16384 + "a", True),
        ("", False),
    ],
    ids=[
        "ascii at limit",
        "ascii over",
        "2-byte at limit",
        "2-byte over",
        "3-byte at limit",
        "3-byte over by one",
        "3-byte only",
        "4-byte at limit",
        "4-byte over",
        "empty",
    ],
)
def test_utf8_size_over_counts_bytes(text, over):
    assert protocol.utf8_size_over(text, 65536) is over


def test_utf8_size_over_counts_a_lone_surrogate_as_three_bytes():
    assert not protocol.utf8_size_over("\ud800" + "a" * 65533, 65536)
    assert protocol.utf8_size_over("\ud800" + "a" * 65534, 65536)


# --- Pending policy -----------------------------------------------------------------------

ALL_REQUESTS = [
    Ping(),
    Send("all", 1),
    Send(CONN_ID, 1),
    BecomeAdmin("k"),
    Approve(CONN_ID),
    ListConnections(),
]


@pytest.mark.parametrize("request_", ALL_REQUESTS)
@pytest.mark.parametrize("status", list(Status))
def test_open_policy_lets_everyone_make_every_request(request_, status):
    assert protocol.pending_may(request_, status, Policy.OPEN)


@pytest.mark.parametrize("request_", ALL_REQUESTS)
@pytest.mark.parametrize("status", [Status.APPROVED, Status.ADMIN])
def test_restricted_policy_does_not_limit_approved_or_admin(request_, status):
    assert protocol.pending_may(request_, status, Policy.RESTRICTED)


@pytest.mark.parametrize(
    "request_",
    [Ping(), Send(CONN_ID, 1), BecomeAdmin("k"), Approve(CONN_ID), ListConnections()],
)
def test_restricted_pending_may_ping_ask_system_and_write_directly(request_):
    # A direct message is then checked by can_address (admins only).
    assert protocol.pending_may(request_, Status.PENDING, Policy.RESTRICTED)


def test_restricted_pending_may_not_broadcast():
    assert not protocol.pending_may(Send("all", 1), Status.PENDING, Policy.RESTRICTED)


@pytest.mark.parametrize(
    ("policy", "sender", "recipient", "expected"),
    [
        # open: everyone reaches everyone who exists
        *[(Policy.OPEN, sender, recipient, None) for sender in Status for recipient in Status],
        *[(Policy.OPEN, sender, None, Code.UNKNOWN_RECIPIENT) for sender in Status],
        # restricted, pending sender: admins only, policy before recipient
        (Policy.RESTRICTED, Status.PENDING, Status.ADMIN, None),
        (Policy.RESTRICTED, Status.PENDING, Status.APPROVED, Code.NOT_APPROVED),
        (Policy.RESTRICTED, Status.PENDING, Status.PENDING, Code.NOT_APPROVED),
        (Policy.RESTRICTED, Status.PENDING, None, Code.NOT_APPROVED),
        # restricted, approved sender: a pending recipient does not exist
        (Policy.RESTRICTED, Status.APPROVED, Status.ADMIN, None),
        (Policy.RESTRICTED, Status.APPROVED, Status.APPROVED, None),
        (Policy.RESTRICTED, Status.APPROVED, Status.PENDING, Code.UNKNOWN_RECIPIENT),
        (Policy.RESTRICTED, Status.APPROVED, None, Code.UNKNOWN_RECIPIENT),
        # restricted, admin sender: reaches pending connections too
        (Policy.RESTRICTED, Status.ADMIN, Status.ADMIN, None),
        (Policy.RESTRICTED, Status.ADMIN, Status.APPROVED, None),
        (Policy.RESTRICTED, Status.ADMIN, Status.PENDING, None),
        (Policy.RESTRICTED, Status.ADMIN, None, Code.UNKNOWN_RECIPIENT),
    ],
)
def test_can_address(policy, sender, recipient, expected):
    result = protocol.can_address(CONN_ID, sender, recipient, policy)
    if expected is None:
        assert result is None
    else:
        assert isinstance(result, Refusal)
        assert result.code == expected


@pytest.mark.parametrize(
    ("policy", "sender", "recipient"),
    [
        (Policy.OPEN, Status.APPROVED, None),
        (Policy.RESTRICTED, Status.ADMIN, None),
        (Policy.RESTRICTED, Status.APPROVED, Status.PENDING),
    ],
)
def test_unknown_recipient_carries_to(policy, sender, recipient):
    frame = protocol.can_address(CONN_ID, sender, recipient, policy).frame()
    assert frame["code"] == "unknown_recipient"
    assert frame["to"] == CONN_ID


def test_not_approved_does_not_carry_to():
    refusal = protocol.can_address(CONN_ID, Status.PENDING, Status.APPROVED, Policy.RESTRICTED)
    assert "to" not in refusal.frame()


def test_connection_ids_are_canonical_lower_case_uuid4():
    assert protocol.is_connection_id("20d2e4f5-2986-427c-bc85-3d2c10fa564b")
    assert protocol.is_connection_id(str(uuid.uuid4()))


@pytest.mark.parametrize(
    "value",
    [
        "20D2E4F5-2986-427C-BC85-3D2C10FA564B",
        "20d2e4f52986427cbc853d2c10fa564b",
        "20d2e4f5-2986-127c-bc85-3d2c10fa564b",
        "20d2e4f5-2986-427c-bc85-3d2c10fa564b\n",
        "\ud800",
        "20d2e4f5-2986-427c-bc85-3d2c10fa564\ud800",
        "all",
        "",
        None,
        42,
    ],
)
def test_anything_else_names_no_connection(value):
    assert not protocol.is_connection_id(value)
