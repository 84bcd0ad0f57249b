import json

import websockets

from tests.conftest import make_project


async def test_server_sends_id_first(start_server, alice):
    from asgiref.sync import sync_to_async

    project = await sync_to_async(make_project)(alice)
    server = await sync_to_async(start_server)()
    async with websockets.connect(server.ws(project.public_id)) as ws:
        frame = json.loads(await ws.recv())
    assert frame["from"] == "system" and len(frame["id"]) == 36
