"""Let daphne send the close codes PROTOCOL.md needs.

daphne closes sockets through autobahn's `sendClose`, which accepts only 1000 and 3000-4999:
the registered codes 1009 (message too big) and 1012 (service restart) raise instead of
closing. Under daphne, route those through autobahn's lower-level `sendCloseFrame`, which
writes any code. Other servers (uvicorn) send them as they are.
"""

import sys

_AUTOBAHN_ACCEPTS = range(3000, 5000)


def install() -> None:
    if "daphne.server" not in sys.modules:
        return
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol, "_relay_close_codes", False):
        return
    original = WebSocketProtocol.serverClose

    def server_close(self, code=None):
        if code is None or code == 1000 or code in _AUTOBAHN_ACCEPTS:
            return original(self, code)
        return self.sendCloseFrame(code=int(code), isReply=False)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol._relay_close_codes = True
