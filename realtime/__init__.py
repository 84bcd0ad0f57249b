"""Sockets and groups: the WebSocket relay, its HTTP API and its metrics."""
