"""The wire protocol of ../shared/PROTOCOL.md as plain functions and values.

Nothing here touches a socket, the channel layer or the database, so every rule can be tested
with plain calls. The consumer feeds raw frames in and sends what comes out.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

# Named in projects/ (the dashboard shows them too); the relay takes them from here.
from projects.statuses import Policy, Status

HARD_LIMIT_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NUMBER_DIGITS = 4300
RATE_LIMITED_CLOSE_AFTER = 100  # refusals as rate_limited ...
RATE_LIMITED_WINDOW = 10.0  # ... within this many seconds close the connection
ADMIN_FAILURES_PER_CONNECTION = 5
ADMIN_FAILURES_PER_ADDRESS = 20
ADMIN_FAILURE_WINDOW = 60.0


class Close(IntEnum):
    MESSAGE_TOO_BIG = 1009
    SERVER_RESTARTING = 1012
    NOT_APPROVED_IN_TIME = 4001
    ADMIN_KEY_REFUSED = 4003
    PROJECT_NOT_FOUND = 4004
    RATE_LIMITED = 4008
    TOO_SLOW = 4009
    TOO_MANY_CONNECTIONS = 4029
    ORIGIN_NOT_ALLOWED = 4403


class Code(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_EVENT = "unknown_event"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    NOT_ADMIN = "not_admin"
    NOT_APPROVED = "not_approved"
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    MESSAGE_TOO_LARGE = "message_too_large"
    RATE_LIMITED = "rate_limited"
    PROJECT_NOT_FOUND = "project_not_found"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    UNAVAILABLE = "unavailable"


# Texts of failed admin and approval requests, as the seed writes them.
INVALID_KEY = "invalid key"
TOO_MANY_ATTEMPTS = "too many attempts"
NOT_ADMIN = "not admin"
UNKNOWN_ID = "unknown id"
NOT_APPROVED_IN_TIME = "not approved in time"

PONG = {"system": "pong"}


# --- Frames the server sends --------------------------------------------------------------


def id_frame(conn_id: str) -> dict:
    return {"from": "system", "id": conn_id}


def new_id_frame(conn_id: str) -> dict:
    return {"from": "system", "new_id": conn_id}


def left_id_frame(conn_id: str) -> dict:
    return {"from": "system", "left_id": conn_id}


def timeout_frame() -> dict:
    return {"from": "system", "event": "timeout", "error": NOT_APPROVED_IN_TIME}


def error_frame(code: Code, text: str, **extra: Any) -> dict:
    return {"from": "system", "event": "error", "code": str(code), "error": text, **extra}


def admin_frame(error: str | None = None) -> dict:
    if error is None:
        return {"from": "system", "event": "admin", "status": "success"}
    return {"from": "system", "event": "admin", "status": "failed", "error": error}


def approved_reply_frame(target: Any, error: str | None = None) -> dict:
    frame = {"from": "system", "event": "approved", "id": target, "status": "success"}
    if error is not None:
        frame["status"] = "failed"
        frame["error"] = error
    return frame


def approved_notice_frame(conn_id: str) -> dict:
    return {"from": "system", "event": "approved", "id": conn_id}


def connections_frame(connections: list[dict]) -> dict:
    return {"from": "system", "event": "connections", "connections": connections}


def message_frame(sender: str, to: str, data: Any) -> dict:
    return {"from": sender, "to": to, "data": data}


def encode(frame: Any) -> str:
    """Compact JSON. ASCII escapes keep lone surrogates valid on the wire."""
    return json.dumps(frame, separators=(",", ":"), allow_nan=False)


# --- Requests a client sends --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Send:
    to: str  # "all" or a connection id
    data: Any

    @property
    def is_broadcast(self) -> bool:
        return self.to == "all"


@dataclass(frozen=True, slots=True)
class BecomeAdmin:
    key: str


@dataclass(frozen=True, slots=True)
class Approve:
    target: Any  # checked after the sender is known to be an admin (§6)


@dataclass(frozen=True, slots=True)
class ListConnections:
    pass


Request = Ping | Send | BecomeAdmin | Approve | ListConnections


@dataclass(frozen=True, slots=True)
class Refusal:
    """A frame the server cannot act on: one error frame, and the connection stays open."""

    code: Code
    text: str
    extra: tuple[tuple[str, Any], ...] = ()

    def frame(self) -> dict:
        return error_frame(self.code, self.text, **dict(self.extra))


def refusal(code: Code, text: str, **extra: Any) -> Refusal:
    return Refusal(code, text, tuple(extra.items()))


def unknown_recipient(to: str) -> Refusal:
    return refusal(Code.UNKNOWN_RECIPIENT, "no such connection in this project", to=to)


NOT_APPROVED_REFUSAL = refusal(
    Code.NOT_APPROVED, "pending connections may only ping, ask the system or write to admins"
)
NOT_ADMIN_REFUSAL = refusal(Code.NOT_ADMIN, "only admins may ask for this")
BINARY_REFUSAL = refusal(Code.BINARY_NOT_SUPPORTED, "binary frames are not supported; send text")
RATE_REFUSAL = refusal(Code.RATE_LIMITED, "too many frames; slow down")
UNAVAILABLE_REFUSAL = refusal(
    Code.UNAVAILABLE, "the relay cannot deliver right now; nothing was relayed, send again later"
)

_CONNECTION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def is_connection_id(value: object) -> bool:
    """Whether `value` could name a connection: a canonical lower-case UUID4.

    Anything else (lone surrogates included) names no connection, and is answered without
    asking the registry.
    """
    return isinstance(value, str) and _CONNECTION_ID.fullmatch(value) is not None


class _NotStrictJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotStrictJson(f"{name} is not JSON")


def _digits(token: str) -> int:
    return sum(c.isdigit() for c in token) if len(token) > MAX_NUMBER_DIGITS else 0


def _parse_int(token: str) -> int | float:
    if _digits(token) > MAX_NUMBER_DIGITS:
        raise _NotStrictJson("number has too many digits")
    value = int(token)
    if abs(value) > sys.float_info.max:
        raise _NotStrictJson("number outside a double's range")
    return value


def _parse_float(token: str) -> float:
    if _digits(token) > MAX_NUMBER_DIGITS:
        raise _NotStrictJson("number has too many digits")
    value = float(token)
    if math.isinf(value):
        raise _NotStrictJson("number outside a double's range")
    return value


_decoder = json.JSONDecoder(
    parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float
)


def _too_deep(value: Any) -> bool:
    """True when containers nest deeper than MAX_DEPTH (the outer one is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _brackets_balanced(text: str) -> bool:
    """Whether as many brackets close as open outside strings, in C-speed passes.

    Only for frames too deep for the decoder: balanced ones are taken as JSON nested too
    deep (invalid_message), others as not JSON. A full strict parse of such frames in Python
    would cost tens of milliseconds each on the event loop, for any client to ask for.
    """
    outside = _STRING.sub("", text)
    opened = outside.count("[") + outside.count("{")
    return opened == outside.count("]") + outside.count("}")


def _decode(text: str, what: str) -> Any | Refusal:
    """The JSON value of `text`, or the refusal strict JSON earns (`what`: frame or body)."""
    try:
        return _decoder.decode(text)
    except RecursionError:
        # JSON is checked before the message shape (§7), as far as it can be cheaply.
        if not _brackets_balanced(text):
            return refusal(Code.INVALID_JSON, "not valid JSON")
        return refusal(Code.INVALID_MESSAGE, f"nesting deeper than {MAX_DEPTH} levels")
    except ValueError as exc:
        detail = str(exc) if isinstance(exc, _NotStrictJson) else "not valid JSON"
        return refusal(Code.INVALID_JSON, detail if text.strip() else f"empty {what}")


def decode_strict(text: str) -> Any | Refusal:
    """Any JSON text as §7 reads a frame: the value, or invalid_json / invalid_message (too
    deep). For bodies that are not frames (the HTTP API's)."""
    value = _decode(text, "body")
    if not isinstance(value, Refusal) and _too_deep(value):
        return refusal(Code.INVALID_MESSAGE, f"nesting deeper than {MAX_DEPTH} levels")
    return value


def parse(text: str) -> Request | Refusal:
    """Turn one text frame into a request, or the refusal it earns (JSON, then shape)."""
    if text == "ping":
        return Ping()
    value = _decode(text, "frame")
    if isinstance(value, Refusal):
        return value
    if value == "ping":
        return Ping()
    if not isinstance(value, dict):
        return refusal(Code.INVALID_MESSAGE, "a frame must be a JSON object")
    if _too_deep(value):
        return refusal(Code.INVALID_MESSAGE, f"nesting deeper than {MAX_DEPTH} levels")
    to = value.get("to")
    if not isinstance(to, str):
        return refusal(Code.INVALID_MESSAGE, '"to" must be a string: "all", "system" or an id')
    if to == "system":
        return _system_request(value)
    if "data" not in value:
        return refusal(Code.INVALID_MESSAGE, 'a message needs "data"')
    return Send(to, value["data"])


def _system_request(value: dict) -> Request | Refusal:
    event = value.get("event")
    if not isinstance(event, str):
        return refusal(Code.INVALID_MESSAGE, 'a system request needs "event" as a string')
    if event == "admin":
        key = value.get("key")
        if not isinstance(key, str):
            return refusal(Code.INVALID_MESSAGE, '"key" must be a string')
        return BecomeAdmin(key)
    if event == "approved":
        return Approve(value.get("id"))
    if event == "connections":
        return ListConnections()
    return refusal(Code.UNKNOWN_EVENT, f"unknown event {event[:64]!r}")


# --- Checks before parsing ----------------------------------------------------------------


def utf8_size_over(text: str, limit: int) -> bool:
    """Whether `text` takes more than `limit` bytes of UTF-8, encoding only when it must."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def too_large_refusal(limit: int) -> Refusal:
    return refusal(Code.MESSAGE_TOO_LARGE, f"messages are limited to {limit} bytes")


# --- Rules that need only statuses ---------------------------------------------------------


def pending_may(request: Request, status: Status, policy: Policy) -> bool:
    """Whether the policy lets a connection make this request (recipients checked apart)."""
    if status != Status.PENDING or policy == Policy.OPEN:
        return True
    return not (isinstance(request, Send) and request.is_broadcast)


def can_address(
    to: str, sender: Status, recipient: Status | None, policy: Policy
) -> Refusal | None:
    """The refusal for a direct message from `sender` to `to`, whose status is `recipient`.

    `recipient` is None when no such connection is in the project. Under the restricted
    policy a pending sender may write only to admins, and a pending recipient exists only
    for admins.
    """
    if policy == Policy.RESTRICTED:
        if sender == Status.PENDING and recipient != Status.ADMIN:
            return NOT_APPROVED_REFUSAL
        if recipient == Status.PENDING and sender != Status.ADMIN:
            return unknown_recipient(to)
    return unknown_recipient(to) if recipient is None else None
