"""What daphne needs to speak PROTOCOL.md's close codes.

1. daphne closes sockets through autobahn's `sendClose`, which accepts only 1000 and
   3000-4999: the registered codes 1009 (message too big) and 1012 (service restart) raise
   instead of closing. Those go through autobahn's lower-level `sendCloseFrame`.
2. daphne writes every outgoing frame into Twisted's transport buffer, which grows without
   bound when a client stops reading. Twisted marks the transport's producer paused
   (`producerPaused`) while that buffer is full; once more than `OUTBOUND_LIMIT_BYTES` have
   been written since it filled, the socket is closed with 4009 and nothing more is queued;
   the connection is dropped if the client has not read up to the close frame within
   `TOO_SLOW_CLOSE_GRACE` seconds.

3. On SIGTERM daphne cancels every application instance and waits for them to finish, so
   that the consumer can close its socket with 1012. But it reads `details["application_instance"]`
   of every connection, and a connection without one (a handshake in progress, an idle HTTP
   keep-alive, a probe that just hung up) raises KeyError: the wait is skipped and every
   socket is dropped without a close frame (1006). Connections without an instance are skipped,
   and daphne waits for every instance (its own wait ended with the first to finish, so most
   connections' admins never heard `left_id`).

Other servers (uvicorn) send any close code and apply their own backpressure.
"""

import asyncio
import logging
import sys

from django.conf import settings

logger = logging.getLogger("daphne.server")
_AUTOBAHN_ACCEPTS = range(3000, 5000)
TOO_SLOW = 4009
TOO_SLOW_CLOSE_GRACE = 30  # seconds


def install() -> None:
    if "daphne.server" not in sys.modules:
        return
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import defer

    if getattr(WebSocketProtocol, "_relay_patched", False):
        return
    original_close = WebSocketProtocol.serverClose
    original_send = WebSocketProtocol.serverSend
    limit = settings.RELAY["OUTBOUND_LIMIT_BYTES"]

    def server_close(self, code=None):
        if code is None or code == 1000 or code in _AUTOBAHN_ACCEPTS:
            return original_close(self, code)
        return self.sendCloseFrame(code=int(code), isReply=False)

    def server_send(self, content, binary=False):
        if getattr(self.transport, "producerPaused", False):
            self._relay_backlog = getattr(self, "_relay_backlog", 0) + len(content)
            if self._relay_backlog > limit:
                if self.state == self.STATE_OPEN:
                    # The close frame waits behind what the client has not read yet. Autobahn
                    # aborts (a reset, which discards it) if the close handshake does not
                    # finish in time: give a client that starts reading again the time to
                    # read up to it. Nothing more is queued meanwhile.
                    self.closeHandshakeTimeout = TOO_SLOW_CLOSE_GRACE
                    self.sendCloseFrame(code=TOO_SLOW, isReply=False)
                return None
        else:
            self._relay_backlog = 0
        return original_send(self, content, binary)

    def kill_all_applications(self):
        # daphne's own, except for `.get`: cancel every instance, wait for them all.
        instances = [d.get("application_instance") for d in self.connections.values()]
        wait_for = [i for i in instances if i is not None and not i.done()]
        for instance in wait_for:
            instance.cancel()
        logger.info("Killed %i pending application instances", len(wait_for))
        # Every instance, not just the first to end: each says goodbye (1012, left_id).
        waiting = defer.Deferred.fromFuture(asyncio.gather(*wait_for, return_exceptions=True))
        waiting.addErrback(lambda _: None)
        return waiting

    Server.kill_all_applications = kill_all_applications
    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol.serverSend = server_send
    WebSocketProtocol._relay_patched = True
