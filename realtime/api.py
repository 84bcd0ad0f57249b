"""The server-side HTTP API of PROTOCOL.md §9, with its OpenAPI schema at /api/v1/openapi.json.

Every request carries `Authorization: Bearer <admin key>` and acts as an admin of the project
in its path, through the same actions as the WebSocket consumer (`actions.py`). The checks
come in this order: the key (401 invalid_key; an unknown project looks like a wrong key), the
project is active (404 project_not_found), the project's request rate (429 rate_limited), the
body's size (413 message_too_large), strict JSON (400 invalid_json), the body's shape (400
invalid_message), then the recipient (404 unknown_recipient / unknown_id).
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja import Status as Reply
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security.http import HttpAuthBase
from pydantic import Field, StrictStr

from projects.keys import keys_match, new_admin_key
from projects.live_settings import PUBLIC_ID
from projects.models import Project

from . import actions, protocol
from .protocol import Code, Policy, Refusal, Status

API_SENDER = "api"
# Compared with when the project is unknown, so that both cases take the same time.
_NO_KEY = new_admin_key()


class ApiError(Exception):
    """A refusal with its HTTP status: answered as {"code": ..., "error": ...}."""

    def __init__(self, status: int, code: str, text: str, headers: dict | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.text = text
        self.headers = headers or {}


def refused(refusal: Refusal) -> ApiError:
    """A refusal of `protocol` or `actions` as §9 answers it: the body's faults are 400, the
    recipient's (unknown_recipient: the API, an admin, is never refused not_approved) 404."""
    status = {Code.INVALID_JSON: 400, Code.INVALID_MESSAGE: 400}.get(refusal.code, 404)
    return ApiError(status, str(refusal.code), refusal.text)


# --- Rate limit: a fixed window per project, in the cache (Redis when REDIS_URL is set) ---


async def check_rate(public_id: str) -> None:
    limit = settings.RELAY["API_RATE_REQUESTS"]
    window = settings.RELAY["API_RATE_WINDOW"]
    now = time.time()
    slot = int(now // window)
    key = f"api-rate:{public_id}:{slot}"
    await cache.aadd(key, 0, timeout=window + 1)
    try:
        count = await cache.aincr(key)
    except ValueError:  # expired between the two calls
        await cache.aset(key, 1, timeout=window + 1)
        count = 1
    if count > limit:
        retry_after = max(1, math.ceil((slot + 1) * window - now))
        raise ApiError(
            429,
            Code.RATE_LIMITED,
            f"more than {limit} requests in {window} seconds; retry after {retry_after} s",
            {"Retry-After": str(retry_after)},
        )


# --- Authentication: the admin key of the project in the path -----------------------------


@database_sync_to_async
def find_project(public_id: str) -> Project | None:
    # database_sync_to_async, not the async ORM: it closes the thread's connection after.
    return Project.objects.filter(public_id=public_id).first()


class AdminKey(HttpAuthBase):
    """`Authorization: Bearer <admin key>`, the scheme in any case; returns the project."""

    openapi_scheme = "bearer"

    async def __call__(self, request: HttpRequest) -> Project:
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        given = given.strip()
        public_id = request.resolver_match.kwargs.get("public_id", "")
        project = await find_project(public_id) if PUBLIC_ID.fullmatch(public_id) else None
        key_ok = keys_match(project.admin_key if project else _NO_KEY, given)
        if scheme.lower() != "bearer" or project is None or not key_ok:
            raise ApiError(
                401,
                "invalid_key",
                "missing or wrong admin key",
                {"WWW-Authenticate": 'Bearer realm="relay"'},
            )
        if not project.is_active:
            raise ApiError(404, Code.PROJECT_NOT_FOUND, "the project is disabled")
        await check_rate(project.public_id)
        check_size(request, project.max_message_bytes)
        return project


def check_size(request: HttpRequest, limit: int) -> None:
    too_large = ApiError(413, Code.MESSAGE_TOO_LARGE, protocol.too_large_refusal(limit).text)
    try:
        if int(request.headers.get("Content-Length") or 0) > limit:
            raise too_large
        if len(request.body) > limit:
            raise too_large
    except (ValueError, RequestDataTooBig):
        raise too_large from None


class StrictParser(Parser):
    """JSON bodies as §7 reads frames: NaN, Infinity, huge numbers and deep nesting refused."""

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, Code.INVALID_JSON, "the body is not UTF-8") from None
        value = protocol.decode_strict(text)
        if isinstance(value, Refusal):
            raise refused(value)
        if not isinstance(value, dict):
            raise ApiError(400, Code.INVALID_MESSAGE, "the body must be a JSON object")
        return value


api = NinjaAPI(
    title="Relay HTTP API",
    version="1",
    description=(
        "The server-side HTTP API of the relay (PROTOCOL.md §9). Every request acts as an "
        "admin of the project in its path, with `Authorization: Bearer <admin key>`."
    ),
    auth=AdminKey(),
    parser=StrictParser(),
    urls_namespace="api",
    docs_url=None,
)


# --- Schemas ---------------------------------------------------------------------------------


class ErrorOut(Schema):
    code: str = Field(examples=["unknown_recipient"])
    error: str = Field(examples=["no such connection in this project"])


class MessageIn(Schema):
    to: StrictStr = Field(
        description='"all", or the id of one connection of the project',
        examples=["all", "20d2e4f5-2986-427c-bc85-3d2c10fa564b"],
    )
    data: Any = Field(description="any JSON value, null included", examples=["hello"])


class AcceptedOut(Schema):
    status: Literal["accepted"]


class ApprovalIn(Schema):
    id: StrictStr = Field(description="the connection to approve")


class ApprovalOut(Schema):
    status: Literal["success"]
    id: str


class ConnectionOut(Schema):
    id: str
    status: Literal["pending", "approved", "admin"]
    connected_at: str = Field(
        description="ISO 8601 in UTC with Z", examples=["2026-11-28T10:00:00Z"]
    )


class ConnectionsOut(Schema):
    connections: list[ConnectionOut]


COMMON_ERRORS = {
    401: ErrorOut,
    404: ErrorOut,
    405: ErrorOut,
    413: ErrorOut,
    429: ErrorOut,
}
BODY_ERRORS = {400: ErrorOut, **COMMON_ERRORS}


# --- Operations -------------------------------------------------------------------------------


@api.post(
    "/projects/{public_id}/messages",
    response={202: AcceptedOut, **BODY_ERRORS},
    summary="Send a message",
    description=(
        'Delivered as `{"from":"api","to":...,"data":...}`. `"all"` reaches every connection '
        "the pending policy lets a broadcast reach; an id reaches that connection, pending "
        "ones included. 404 `unknown_recipient` when no such connection is in the project."
    ),
    operation_id="send_message",
)
async def send_message(request: HttpRequest, public_id: str, body: MessageIn):
    project: Project = request.auth
    refusal = await actions.send_message(
        project.public_id,
        Policy(project.pending_policy),
        API_SENDER,
        Status.ADMIN,
        body.to,
        body.data,
    )
    if refusal is not None:
        raise refused(refusal)
    return Reply(202, {"status": "accepted"})


@api.post(
    "/projects/{public_id}/approvals",
    response={200: ApprovalOut, **BODY_ERRORS},
    summary="Approve a connection",
    description=(
        "As an admin's `approved` request: the connection is told and its approval timeout "
        "cancelled. Approving twice, or an admin, succeeds and changes nothing. 404 "
        "`unknown_id` when no such connection is in the project."
    ),
    operation_id="approve_connection",
)
async def approve(request: HttpRequest, public_id: str, body: ApprovalIn):
    project: Project = request.auth
    entry = await actions.approve(project.public_id, Policy(project.pending_policy), body.id)
    if entry is None:
        raise ApiError(404, "unknown_id", "no such connection in this project")
    return Reply(200, {"status": "success", "id": body.id})


@api.get(
    "/projects/{public_id}/connections",
    response={200: ConnectionsOut, **COMMON_ERRORS},
    summary="List live connections",
    description="The project's live connections, oldest first, as the `connections` request.",
    operation_id="list_connections",
)
async def connections(request: HttpRequest, public_id: str):
    project: Project = request.auth
    return Reply(200, {"connections": await actions.list_connections(project.public_id)})


# --- Errors as {"code", "error"} ---------------------------------------------------------------


def error_response(request: HttpRequest, error: ApiError) -> HttpResponse:
    response = api.create_response(
        request, {"code": str(error.code), "error": error.text}, status=error.status
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(request, exc)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # Ninja wraps what the parser raises.
    if isinstance(exc.__cause__, ApiError):
        return error_response(request, exc.__cause__)
    return error_response(request, ApiError(exc.status_code, "invalid_message", str(exc)))


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    if not request.body:
        return error_response(request, ApiError(400, Code.INVALID_JSON, "empty body"))
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}"
        for e in exc.errors
    )
    return error_response(request, ApiError(400, Code.INVALID_MESSAGE, problems[:500]))


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, ApiError(401, "invalid_key", "missing or wrong admin key"))


def _json_405(view):
    """Ninja answers a wrong method with plain text; §9 wants {"code", "error"}."""

    def to_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code != 405:
            return response
        error = ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        fixed = error_response(request, error)
        fixed["Allow"] = response["Allow"]
        return fixed

    if getattr(view, "_is_coroutine", None) or _is_async(view):

        async def wrapped(request, *args, **kwargs):
            return to_json(request, await view(request, *args, **kwargs))

    else:

        def wrapped(request, *args, **kwargs):
            return to_json(request, view(request, *args, **kwargs))

    wrapped.csrf_exempt = getattr(view, "csrf_exempt", False)
    return wrapped


def _is_async(view) -> bool:
    from asgiref.sync import iscoroutinefunction

    return iscoroutinefunction(view)


def urls():
    """The API's URL patterns for config/urls.py, wrong methods answered in JSON."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = _json_405(pattern.callback)
    return patterns, app_name, namespace
