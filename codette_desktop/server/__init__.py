"""The local server: WebSocket and HTTP on one port (uvicorn embedded on the app's loop).

:mod:`.server` (lifecycle, connections, pushes) · :mod:`.websocket` (one ``/ws``
connection) · :mod:`.asgi` (routing, CORS, the HTTP endpoints) · :mod:`.access` (who may
talk) · :mod:`.uvicorn_host` (uvicorn, embedded).
"""
