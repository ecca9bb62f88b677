"""Call an ASGI app in-process (one request, no server, no httpx): status, headers, body."""
from __future__ import annotations

import asyncio


def request(app, method: str, path: str, body: bytes = b"", query: str = "",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    sent = {"status": None, "headers": {}, "body": b""}
    received = False

    async def receive():
        nonlocal received
        if received:
            await asyncio.sleep(3600)  # the client never disconnects during a request
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            sent["headers"] = {k.decode("latin-1").lower(): v.decode("latin-1")
                               for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    raw_headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query.encode(), "headers": raw_headers,
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return sent["status"], sent["headers"], sent["body"]
