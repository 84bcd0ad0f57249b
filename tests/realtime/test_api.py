"""PROTOCOL.md §9, the HTTP API, in one process: every status code, with live sockets."""

import json

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.test import AsyncClient, override_settings

from projects.models import Project
from tests.realtime.consumer_helpers import RelayTestCase


class ApiTestCase(RelayTestCase):
    def setUp(self):
        super().setUp()
        cache.clear()
        self.http = AsyncClient()

    def url(self, what, project=None):
        return f"/api/v1/projects/{(project or self.project).public_id}/{what}"

    def auth(self, key=None, scheme="Bearer"):
        return {"Authorization": f"{scheme} {key or self.project.admin_key}"}

    async def post(self, what, body, project=None, **kwargs):
        headers = kwargs.pop("headers", None) or self.auth()
        text = body if isinstance(body, str | bytes) else json.dumps(body)
        return await self.http.post(
            self.url(what, project), text, content_type="application/json", headers=headers
        )

    async def get(self, what, project=None, headers=None):
        return await self.http.get(self.url(what, project), headers=headers or self.auth())

    def assertError(self, response, status, code):
        self.assertEqual(response.status_code, status, response.content)
        body = response.json()
        self.assertEqual(set(body), {"code", "error"})
        self.assertEqual(body["code"], code)
        self.assertTrue(body["error"])


class MessageTests(ApiTestCase):
    async def test_broadcast_is_delivered_from_api_and_accepted(self):
        one, _ = await self.open()
        two, _ = await self.open()
        response = await self.post("messages", {"to": "all", "data": {"n": 1}})
        self.assertEqual(response.status_code, 202)
        self.assertEqual(response.json(), {"status": "accepted"})
        for ws in (one, two):
            self.assertEqual(
                await ws.receive_json_from(), {"from": "api", "to": "all", "data": {"n": 1}}
            )
            self.assertTrue(await ws.receive_nothing())
            await ws.disconnect()

    async def test_direct_message_reaches_only_its_recipient(self):
        one, one_id = await self.open()
        two, _ = await self.open()
        response = await self.post("messages", {"to": one_id, "data": None})
        self.assertEqual(response.status_code, 202)
        self.assertEqual(await one.receive_json_from(), {"from": "api", "to": one_id, "data": None})
        self.assertTrue(await two.receive_nothing())
        await one.disconnect()
        await two.disconnect()

    async def test_unknown_recipient_is_404(self):
        response = await self.post("messages", {"to": "20d2e4f5-2986-427c-bc85-3d2c10fa564b"})
        self.assertError(response, 400, "invalid_message")  # no data: the shape comes first
        response = await self.post(
            "messages", {"to": "20d2e4f5-2986-427c-bc85-3d2c10fa564b", "data": 1}
        )
        self.assertError(response, 404, "unknown_recipient")

    async def test_a_connection_of_another_project_is_an_unknown_recipient(self):
        other = await database_sync_to_async(Project.objects.create)(owner=self.alice, name="Other")
        ws, conn_id = await self.open(other)
        response = await self.post("messages", {"to": conn_id, "data": 1})
        self.assertError(response, 404, "unknown_recipient")
        self.assertTrue(await ws.receive_nothing())
        await ws.disconnect()

    async def test_bad_json_is_invalid_json(self):
        for text in ("{", '{"to":"all","data":NaN}', '{"to":"all","data":Infinity}', "1e999x"):
            with self.subTest(text=text):
                self.assertError(await self.post("messages", text), 400, "invalid_json")
        self.assertError(
            await self.post("messages", '{"to":"all","data":1e400}'), 400, "invalid_json"
        )
        self.assertError(await self.post("messages", ""), 400, "invalid_json")
        self.assertError(await self.post("messages", b"\xff\xfe"), 400, "invalid_json")

    async def test_bad_shapes_are_invalid_message(self):
        deep = {"to": "all", "data": 1}
        for _ in range(40):
            deep = {"to": "all", "data": deep}
        for body in (
            [1, 2],
            '"ping"',
            {"data": 1},
            {"to": 5, "data": 1},
            {"to": "all"},
            deep,
        ):
            with self.subTest(body=str(body)[:40]):
                self.assertError(await self.post("messages", body), 400, "invalid_message")

    async def test_body_over_the_projects_size_limit_is_413(self):
        await database_sync_to_async(Project.objects.filter(pk=self.project.pk).update)(
            max_message_bytes=100
        )
        response = await self.post("messages", {"to": "all", "data": "x" * 200})
        self.assertError(response, 413, "message_too_large")
        response = await self.post("messages", {"to": "all", "data": "x" * 50})
        self.assertEqual(response.status_code, 202)


class ApprovalTests(ApiTestCase):
    @override_settings(RELAY={**settings.RELAY, "APPROVAL_TIMEOUT_OVERRIDE": 1})
    async def test_approval_tells_the_connection_and_cancels_its_timeout(self):
        ws, conn_id = await self.open()
        response = await self.post("approvals", {"id": conn_id})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"status": "success", "id": conn_id})
        self.assertEqual(
            await ws.receive_json_from(), {"from": "system", "event": "approved", "id": conn_id}
        )
        self.assertTrue(await ws.receive_nothing(timeout=1.6))  # past the 1 s timeout
        response = await self.get("connections")
        self.assertEqual(response.json()["connections"][0]["status"], "approved")
        await ws.disconnect()

    async def test_approving_twice_succeeds(self):
        ws, conn_id = await self.open()
        for _ in range(2):
            response = await self.post("approvals", {"id": conn_id})
            self.assertEqual(response.json(), {"status": "success", "id": conn_id})
        await ws.disconnect()

    async def test_unknown_id_is_404(self):
        response = await self.post("approvals", {"id": "20d2e4f5-2986-427c-bc85-3d2c10fa564b"})
        self.assertError(response, 404, "unknown_id")

    async def test_id_not_a_string_is_invalid_message(self):
        for body in ({"id": 5}, {}, {"id": None}):
            with self.subTest(body=body):
                self.assertError(await self.post("approvals", body), 400, "invalid_message")


class ConnectionsTests(ApiTestCase):
    async def test_lists_connections_oldest_first(self):
        self.assertEqual((await self.get("connections")).json(), {"connections": []})
        one, one_id = await self.open()
        await self.become_admin(one)
        two, two_id = await self.open()
        response = await self.get("connections")
        self.assertEqual(response.status_code, 200)
        listed = response.json()["connections"]
        self.assertEqual(
            {c["id"]: c["status"] for c in listed}, {one_id: "admin", two_id: "pending"}
        )
        self.assertEqual(listed, sorted(listed, key=lambda c: (c["connected_at"], c["id"])))
        self.assertEqual(set(listed[0]), {"id", "status", "connected_at"})
        await one.disconnect()
        await two.disconnect()


class AuthTests(ApiTestCase):
    async def test_missing_or_wrong_key_is_401(self):
        for headers in (
            {},
            {"Authorization": ""},
            {"Authorization": "Bearer"},
            self.auth("x" * 40),
            self.auth(scheme="Basic"),
            self.auth(self.project.admin_key + "x"),
        ):
            with self.subTest(headers=headers):
                response = await self.http.get(self.url("connections"), headers=headers)
                self.assertError(response, 401, "invalid_key")
                response = await self.http.post(
                    self.url("messages"), "{", content_type="application/json", headers=headers
                )
                self.assertError(response, 401, "invalid_key")

    async def test_the_scheme_is_in_any_case(self):
        for scheme in ("bearer", "BEARER", "bEaReR"):
            response = await self.get("connections", headers=self.auth(scheme=scheme))
            self.assertEqual(response.status_code, 200)

    async def test_unknown_project_looks_like_a_wrong_key(self):
        for public_id in ("nope", "A" * 22):
            response = await self.http.get(
                f"/api/v1/projects/{public_id}/connections", headers=self.auth()
            )
            self.assertError(response, 401, "invalid_key")

    async def test_another_projects_key_is_401(self):
        other = await database_sync_to_async(Project.objects.create)(owner=self.alice, name="Other")
        response = await self.get("connections", headers=self.auth(other.admin_key))
        self.assertError(response, 401, "invalid_key")

    async def test_disabled_project_with_its_key_is_404(self):
        await database_sync_to_async(Project.objects.filter(pk=self.project.pk).update)(
            is_active=False
        )
        self.assertError(await self.get("connections"), 404, "project_not_found")
        response = await self.get("connections", headers=self.auth("y" * 40))
        self.assertError(response, 401, "invalid_key")

    async def test_wrong_method_is_405_in_json(self):
        response = await self.http.get(self.url("messages"), headers=self.auth())
        self.assertError(response, 405, "method_not_allowed")
        self.assertIn("POST", response["Allow"])
        response = await self.http.delete(self.url("connections"), headers=self.auth())
        self.assertError(response, 405, "method_not_allowed")


@override_settings(RELAY={**settings.RELAY, "API_RATE_REQUESTS": 3, "API_RATE_WINDOW": 60})
class RateLimitTests(ApiTestCase):
    async def test_past_the_rate_429_with_retry_after(self):
        for _ in range(3):
            self.assertEqual((await self.get("connections")).status_code, 200)
        response = await self.get("connections")
        self.assertError(response, 429, "rate_limited")
        self.assertTrue(1 <= int(response["Retry-After"]) <= 60)

    async def test_the_rate_is_per_project(self):
        other = await database_sync_to_async(Project.objects.create)(owner=self.alice, name="Other")
        for _ in range(4):
            await self.get("connections")
        response = await self.get("connections", other, headers=self.auth(other.admin_key))
        self.assertEqual(response.status_code, 200)


class RestrictedPolicyTests(ApiTestCase):
    project_options = {"pending_policy": "restricted"}

    async def test_all_skips_pending_connections(self):
        admin, _ = await self.open()
        await self.become_admin(admin)
        pending, pending_id = await self.open()
        self.assertEqual(await admin.receive_json_from(), {"from": "system", "new_id": pending_id})
        response = await self.post("messages", {"to": "all", "data": "hi"})
        self.assertEqual(response.status_code, 202)
        self.assertEqual(
            await admin.receive_json_from(), {"from": "api", "to": "all", "data": "hi"}
        )
        self.assertTrue(await pending.receive_nothing())
        await admin.disconnect()
        await pending.disconnect()

    async def test_the_api_may_write_to_a_pending_connection(self):
        pending, pending_id = await self.open()
        response = await self.post("messages", {"to": pending_id, "data": "hi"})
        self.assertEqual(response.status_code, 202)
        self.assertEqual(
            await pending.receive_json_from(), {"from": "api", "to": pending_id, "data": "hi"}
        )
        await pending.disconnect()

    async def test_after_approval_by_the_api_broadcasts_arrive(self):
        pending, pending_id = await self.open()
        await self.post("approvals", {"id": pending_id})
        self.assertEqual(
            await pending.receive_json_from(),
            {"from": "system", "event": "approved", "id": pending_id},
        )
        await self.post("messages", {"to": "all", "data": "now"})
        self.assertEqual(
            await pending.receive_json_from(), {"from": "api", "to": "all", "data": "now"}
        )
        await pending.disconnect()


class OpenApiTests(ApiTestCase):
    async def test_schema_is_openapi_3_1_with_the_three_operations(self):
        response = await self.http.get("/api/v1/openapi.json")
        self.assertEqual(response.status_code, 200)
        schema = response.json()
        self.assertTrue(schema["openapi"].startswith("3.1"))
        operations = {(path, method) for path, item in schema["paths"].items() for method in item}
        self.assertEqual(
            operations,
            {
                ("/api/v1/projects/{public_id}/messages", "post"),
                ("/api/v1/projects/{public_id}/approvals", "post"),
                ("/api/v1/projects/{public_id}/connections", "get"),
            },
        )
