"""The Hoop ASGI app wrapped in a middleware that reports the server's own time per request in a
`Server-Timing: app;dur=<ms>` header (from the request's arrival in the ASGI app to the start
of its response: routing, auth, the endpoint and JSON encoding), so a benchmark
can split a round trip into server work and transport + client overhead.

Serve with: uvicorn timed_asgi:app (PYTHONPATH including benchmarks/ and src/)."""

from __future__ import annotations

import time
from typing import Any

from hoop.bootstrap import build_app

inner = build_app()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await inner(scope, receive, send)
        return
    t0 = time.perf_counter()

    async def timed_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            ms = (time.perf_counter() - t0) * 1000
            headers = list(message.get("headers", []))
            headers.append((b"server-timing", f"app;dur={ms:.3f}".encode()))
            message = {**message, "headers": headers}
        await send(message)

    await inner(scope, receive, timed_send)
