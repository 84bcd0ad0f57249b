"""The admin-key failure limit (PROTOCOL.md §5) counts against the client address of
accounts/client_address.py: spoofed forwarding headers do not move a client to a fresh count."""

from django.conf import settings
from django.test import override_settings

from tests.realtime.consumer_helpers import RelayTestCase, closed

TOO_MANY = {"from": "system", "event": "admin", "status": "failed", "error": "too many attempts"}
INVALID_KEY = {"from": "system", "event": "admin", "status": "failed", "error": "invalid key"}
SUCCESS = {"from": "system", "event": "admin", "status": "success"}
WRONG_KEY = "A" * 40
PROXY = ("10.0.0.1", 40000)


def forwarded(*lines: str) -> list[tuple[bytes, bytes]]:
    """One X-Forwarded-For header line per argument, in order."""
    return [(b"x-forwarded-for", line.encode()) for line in lines]


class ClientAddressTests(RelayTestCase):
    async def ask(self, ws, key):
        await ws.send_json_to({"to": "system", "event": "admin", "key": key})
        return await ws.receive_json_from()

    async def fail_twenty_times(self, headers_for_connection):
        """20 failures on 4 connections; `headers_for_connection(n)` gives each its headers."""
        for n in range(4):
            ws, _ = await self.open(client=PROXY, headers=headers_for_connection(n))
            for _ in range(5):
                self.assertEqual(await self.ask(ws, WRONG_KEY), INVALID_KEY)
            self.assertEqual(await ws.receive_output(), closed(4003))
            await ws.disconnect()

    @override_settings(
        RELAY={
            **settings.RELAY,
            "TRUSTED_PROXY_HEADER": "X-Forwarded-For",
            "TRUSTED_PROXY_COUNT": 1,
        }
    )
    async def test_a_client_line_before_the_proxys_line_does_not_change_the_address(self):
        # The client sends its own X-Forwarded-For line, a new one each time; the proxy
        # appends a line with the address it saw.
        await self.fail_twenty_times(lambda n: forwarded(f"198.51.100.{n}", "203.0.113.5"))
        ws, _ = await self.open(client=PROXY, headers=forwarded("198.51.100.99", "203.0.113.5"))
        self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
        await ws.disconnect()
        # Another client behind the same proxy is not limited.
        ws, _ = await self.open(client=PROXY, headers=forwarded("203.0.113.6"))
        self.assertEqual(await self.ask(ws, self.project.admin_key), SUCCESS)
        await ws.disconnect()

    @override_settings(
        RELAY={
            **settings.RELAY,
            "TRUSTED_PROXY_HEADER": "X-Forwarded-For",
            "TRUSTED_PROXY_COUNT": 2,
        }
    )
    async def test_two_proxies_take_the_second_entry_from_the_right(self):
        await self.fail_twenty_times(
            lambda n: forwarded(f"198.51.100.{n}, 203.0.113.5", "10.0.0.2")
        )
        ws, _ = await self.open(client=PROXY, headers=forwarded("203.0.113.5, 10.0.0.2"))
        self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
        await ws.disconnect()

    @override_settings(RELAY={**settings.RELAY, "TRUSTED_PROXY_HEADER": ""})
    async def test_without_a_setting_forwarding_headers_are_ignored(self):
        await self.fail_twenty_times(lambda n: forwarded(f"198.51.100.{n}"))
        ws, _ = await self.open(client=PROXY, headers=forwarded("203.0.113.77"))
        self.assertEqual(await self.ask(ws, self.project.admin_key), TOO_MANY)
        await ws.disconnect()
