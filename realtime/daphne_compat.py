"""What daphne needs to speak PROTOCOL.md's close codes.

1. daphne closes sockets through autobahn's `sendClose`, which accepts only 1000 and
   3000-4999: the registered codes 1009 (message too big) and 1012 (service restart) raise
   instead of closing. Those go through autobahn's lower-level `sendCloseFrame`.
2. daphne writes every outgoing frame into Twisted's transport buffer, which grows without
   bound when a client stops reading. Twisted marks the transport's producer paused
   (`producerPaused`) while that buffer is full; once more than `OUTBOUND_LIMIT_BYTES` have
   been written since it filled, the socket is closed with 4009 and dropped.

Other servers (uvicorn) send any close code and apply their own backpressure.
"""

import sys

from django.conf import settings

_AUTOBAHN_ACCEPTS = range(3000, 5000)
TOO_SLOW = 4009


def install() -> None:
    if "daphne.server" not in sys.modules:
        return
    from daphne.ws_protocol import WebSocketProtocol

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
                    # Autobahn drops the connection if the close handshake does not finish.
                    self.sendCloseFrame(code=TOO_SLOW, isReply=False)
                return None
        else:
            self._relay_backlog = 0
        return original_send(self, content, binary)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol.serverSend = server_send
    WebSocketProtocol._relay_patched = True
