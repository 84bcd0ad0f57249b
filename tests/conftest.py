"""The cast and the helpers every test shares.

alice owns a project; mallory is an outsider. `make_project(owner, **overrides)` makes more.
`start_server(...)` runs a real daphne process on a free port against the test database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from projects.models import Project

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "")
DEFAULT_SERVER = os.environ.get("RELAY_TEST_SERVER", "daphne")


def pytest_collection_modifyitems(config, items):
    """Tests marked `redis` run whenever REDIS_URL is set, and are skipped (said so) otherwise."""
    if REDIS_URL:
        return
    skip = pytest.mark.skip(reason="needs REDIS_URL (run by .ci/run on the Redis pass)")
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests make many users; the production hasher is slow by design."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(email="alice@example.com", password="pw-alice-123")


@pytest.fixture
def mallory(django_user_model):
    return django_user_model.objects.create_user(
        email="mallory@example.com", password="pw-mallory-123"
    )


def make_project(owner, **overrides) -> Project:
    overrides.setdefault("name", "Chat")
    return Project.objects.create(owner=owner, **overrides)


@pytest.fixture
def project(alice):
    return make_project(alice)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for_servers() -> str:
    """The URL of the database the tests are using, for server processes to share."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Server:
    """A server process (daphne, or uvicorn) serving config.asgi on 127.0.0.1, a free port."""

    def __init__(self, env: dict[str, str], args: list[str], kind: str = "daphne") -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.log = ROOT / f".server-{self.port}.log"
        if kind == "uvicorn":
            command = ["uvicorn", "--host", "127.0.0.1", "--port", str(self.port), *args]
        else:
            command = ["daphne", "-b", "127.0.0.1", "-p", str(self.port), *args]
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command, "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not listen: {self.output()}")

    def ws(self, public_id: str) -> str:
        return f"{self.url}/ws/{public_id}/"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)


def server_env(**overrides: str) -> dict[str, str]:
    """A server process's environment: the test database, Redis when set, DEBUG on."""
    return {
        **os.environ,
        "DATABASE_URL": database_url_for_servers(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def server_args(kind: str) -> list[str]:
    """The options a server runs with: uvicorn as the README's production command, daphne as
    `make run` (limits above the protocol's 1 MiB, so the relay itself answers 1009)."""
    if kind == "uvicorn":
        return [
            *("--ws", "realtime.uvicorn_compat:WebSocketProtocol", "--loop", "uvloop"),
            *("--http", "realtime.uvicorn_compat:HttpToolsProtocol"),
            *("--ws-max-size", "2097152", "--no-access-log"),
        ]
    return ["--websocket-max-message-size", "2097152", "--websocket-max-frame-size", "2097152"]


@pytest.fixture
def start_server(transactional_db):
    """Start real server processes on the test database (and Redis, when REDIS_URL is set).

    `server` is "daphne" or "uvicorn"; `args` are that server's options; other keyword
    arguments become environment variables of the process. Without `server`, RELAY_TEST_SERVER
    chooses (daphne unless set): .ci/run runs the end-to-end tests under daphne (`make run`)
    on the embedded default and under uvicorn (the README's production command) on
    PostgreSQL and Redis.
    """
    servers: list[Server] = []

    def start(args: tuple[str, ...] = (), server: str = "", **env_overrides: str) -> Server:
        server = server or DEFAULT_SERVER
        env = server_env(**env_overrides)
        process_args = [*server_args(server), *args]
        process = Server(env, process_args, kind=server)
        servers.append(process)
        return process

    yield start
    for server in servers:
        server.stop()
