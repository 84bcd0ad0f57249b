"""A real HTTP server on 127.0.0.1 that receives webhooks, for tests.

`answers` says what each next request gets: a status code, or "hang" (no answer for
`hang_seconds`); when it runs out, 200.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


class Receiver:
    def __init__(self, answers: list | None = None, hang_seconds: float = 3.0) -> None:
        self.answers = list(answers or [])
        self.hang_seconds = hang_seconds
        self.requests: list[tuple[dict, bytes]] = []  # every request, answered or not
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    time.sleep(receiver.hang_seconds)
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, secret: str) -> list[dict]:
        """Every request's payload, each verified with the standardwebhooks library."""
        with self.lock:
            requests = list(self.requests)
        return [Webhook(secret).verify(body, headers) for headers, body in requests]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def bodies(requests) -> list[dict]:
    return [json.loads(body) for _, body in requests]
