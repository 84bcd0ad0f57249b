"""ASGI entry point: HTTP through Django, WebSockets through the relay."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime import daphne_compat, metrics  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

daphne_compat.install()

# No AllowedHostsOriginValidator: customers' pages live on their own domains, and each
# project checks origins against its own list (PROTOCOL.md §1).
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
        # Startup and shutdown (uvicorn): the metrics of a stopping process (realtime/metrics.py).
        "lifespan": metrics.lifespan,
    }
)
