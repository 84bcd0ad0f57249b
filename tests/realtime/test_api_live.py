"""The HTTP API (PROTOCOL.md §9) on real server processes: schemathesis against the OpenAPI
schema, and API messages and approvals across two processes sharing Redis."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.conftest import make_project
from tests.realtime.server_helpers import (
    closed_with,
    new_project,
    new_server,
    open_socket,
    recv,
    silent,
)

pytestmark = [pytest.mark.server]


def api_url(server, public_id: str, what: str) -> str:
    return f"http://127.0.0.1:{server.port}/api/v1/projects/{public_id}/{what}"


def bearer(project) -> dict:
    return {"Authorization": f"Bearer {project.admin_key}"}


# --- schemathesis: every operation, no 5xx, every response as the schema says --------------


@pytest.fixture
def live_api(start_server, alice):
    project = make_project(alice)
    # A rate limit the fuzzer does not reach, so that it sees the other answers.
    server = start_server(RELAY_API_RATE_REQUESTS="1000000")
    return server, project


def test_every_operation_conforms_to_the_schema(live_api):
    server, project = live_api
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{server.port}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 3
    seen = set()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters={"public_id": project.public_id}
            )

            @given(case=strategy)
            @settings(
                max_examples=40,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def conforms(case):
                response = case.call_and_validate(headers=bearer(project))
                seen.add((case.operation.method, case.operation.path, response.status_code))

            conforms()
    assert "Traceback" not in server.output()
    print(sorted(seen))


# --- Across two processes on Redis -----------------------------------------------------------


LAYERS = pytest.mark.parametrize("layer", ["core", "pubsub"])


@pytest.mark.redis
@LAYERS
async def test_api_messages_reach_sockets_on_every_process(start_server, alice, layer):
    project = await new_project(alice)
    one = await new_server(start_server, RELAY_REDIS_LAYER=layer)
    two = await new_server(start_server, RELAY_REDIS_LAYER=layer)
    left, left_id = await open_socket(one, project.public_id)
    right, right_id = await open_socket(two, project.public_id)
    async with left, right, httpx.AsyncClient(timeout=5) as http:
        # Sent through process two, to a socket on process one, in order.
        for n in range(20):
            response = await http.post(
                api_url(two, project.public_id, "messages"),
                json={"to": left_id, "data": n},
                headers=bearer(project),
            )
            assert response.status_code == 202
            assert response.json() == {"status": "accepted"}
        for n in range(20):
            assert await recv(left) == {"from": "api", "to": left_id, "data": n}
        response = await http.post(
            api_url(one, project.public_id, "messages"),
            json={"to": "all", "data": {"k": [1, None]}},
            headers=bearer(project),
        )
        assert response.status_code == 202
        for ws in (left, right):
            assert await recv(ws) == {"from": "api", "to": "all", "data": {"k": [1, None]}}
        await silent(left, 0.3)
        await silent(right, 0.3)
        response = await http.get(
            api_url(one, project.public_id, "connections"), headers=bearer(project)
        )
        assert {c["id"] for c in response.json()["connections"]} == {left_id, right_id}


@pytest.mark.redis
@LAYERS
async def test_api_approval_crosses_processes_and_cancels_the_timeout(start_server, alice, layer):
    project = await new_project(alice, pending_policy="restricted")
    env = {"RELAY_APPROVAL_TIMEOUT_OVERRIDE": "2", "RELAY_REDIS_LAYER": layer}
    one = await new_server(start_server, **env)
    two = await new_server(start_server, **env)
    pending, pending_id = await open_socket(one, project.public_id)
    other, _ = await open_socket(one, project.public_id)
    async with pending, other, httpx.AsyncClient(timeout=5) as http:
        # Restricted: a broadcast skips both pending sockets; a direct message reaches one.
        response = await http.post(
            api_url(two, project.public_id, "messages"),
            json={"to": "all", "data": "nobody"},
            headers=bearer(project),
        )
        assert response.status_code == 202
        response = await http.post(
            api_url(two, project.public_id, "messages"),
            json={"to": pending_id, "data": "psst"},
            headers=bearer(project),
        )
        assert response.status_code == 202
        assert await recv(pending) == {"from": "api", "to": pending_id, "data": "psst"}

        response = await http.post(
            api_url(two, project.public_id, "approvals"),
            json={"id": pending_id},
            headers=bearer(project),
        )
        assert response.json() == {"status": "success", "id": pending_id}
        assert await recv(pending) == {"from": "system", "event": "approved", "id": pending_id}
        # Approved: broadcasts now reach it, and it outlives the 2 s timeout.
        response = await http.post(
            api_url(two, project.public_id, "messages"),
            json={"to": "all", "data": "everyone"},
            headers=bearer(project),
        )
        assert await recv(pending) == {"from": "api", "to": "all", "data": "everyone"}
        assert await closed_with(other, within=5) == 4001
        await silent(pending, 1.5)
        await pending.send("ping")
        assert await recv(pending) == {"system": "pong"}
