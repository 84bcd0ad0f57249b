"""What uvicorn needs to keep serving when clients misbehave, and to report what they did.

uvicorn waits for a request's headers without a deadline: its keep-alive timer starts only
after a first response, and any byte received cancels it. A client that sends half a
handshake and stops (or trickles a byte now and then) holds its connection, and its memory,
for good; enough of them exhaust the process. `HttpToolsProtocol` (the README's
`--http realtime.uvicorn_compat:HttpToolsProtocol`) closes a connection whose request
headers have not all arrived `HEADERS_TIMEOUT` seconds after it opened, or after the previous
response. Everything else is uvicorn's own httptools protocol.

`WebSocketProtocol` (the README's `--ws realtime.uvicorn_compat:WebSocketProtocol`) is
uvicorn's `websockets-sansio` implementation, chosen over the legacy `websockets` one by the
benchmark (docs/performance.md), with three corrections: a connection that ends without a close
frame is reported to the application as 1006 (abnormal closure, RFC 6455 §7.1.5), as the other
implementations do, not as 1005 (a close frame without a code); a client's invalid UTF-8,
which uvicorn answers with 1007, is logged as a one-line warning, not as a server error with a
traceback (`log_filters.ClientInvalidText`); and `--no-access-log` silences the two lines each
handshake logs, as it does for HTTP requests (they were 4 % of a connection's CPU).

daphne needs no such thing (Twisted drops a silent connection after 60 s); `daphne_compat.py`
has what daphne needs instead.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as UvicornHttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .log_filters import ClientInvalidText

HEADERS_TIMEOUT = 20.0  # seconds
ABNORMAL_CLOSURE = 1006

# The WebSocket connections' own log (a child of uvicorn's, printed by its handler): two INFO
# lines per handshake, which `--no-access-log` silences like the HTTP access log.
WEBSOCKET_LOG = logging.getLogger("uvicorn.error.websocket")
WEBSOCKET_LOG.addFilter(ClientInvalidText())


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        level = logging.NOTSET if config.access_log else logging.WARNING
        if WEBSOCKET_LOG.level != level:
            WEBSOCKET_LOG.setLevel(level)
        self.logger = self.conn.logger = WEBSOCKET_LOG

    def connection_lost(self, exc: Exception | None) -> None:
        opened = self.handshake_complete and self.initial_response is None
        if opened and self.conn.close_rcvd is None and not self.disconnected:
            # Ahead of uvicorn's own 1005, which the application then never reads.
            self.queue.put_nowait({"type": "websocket.disconnect", "code": ABNORMAL_CLOSURE})
        super().connection_lost(exc)


class HttpToolsProtocol(UvicornHttpToolsProtocol):
    _headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_headers_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_headers_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_headers_deadline()  # the next request on this keep-alive connection

    def _arm_headers_deadline(self) -> None:
        self._disarm_headers_deadline()
        self._headers_deadline = self.loop.call_later(HEADERS_TIMEOUT, self._headers_too_slow)

    def _disarm_headers_deadline(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
            self._headers_deadline = None

    def _headers_too_slow(self) -> None:
        self._headers_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
