"""WebSocket URLs: /ws/<public id>/ reaches the relay; any other path is refused."""

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from .consumer import RelayConsumer


class NoSuchPath(AsyncWebsocketConsumer):
    """Any other path: the handshake is refused (HTTP 403), as PROTOCOL.md §1 allows."""

    async def connect(self) -> None:
        await self.close()


websocket_urlpatterns = [
    # Any single path segment reaches the relay, which answers a malformed or unknown id
    # with project_not_found and 4004 rather than an HTTP error at the handshake.
    re_path(r"^ws/(?P<public_id>[^/]*)/?$", RelayConsumer.as_asgi()),
    re_path(r"", NoSuchPath.as_asgi()),
]
