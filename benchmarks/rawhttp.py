"""A lean HTTP/1.1 load generator for the benchmarks: asyncio streams on keep-alive
connections, requests encoded once as bytes, responses read by Content-Length.

Why not httpx: on this 2-core machine an httpx client spends ~1.3 ms of CPU per request, about
a quarter of everything an order costs end to end, and that CPU is taken from the server being
measured; 200 threads of httpx clients are slower still. This client spends tens of
microseconds per request, so the figures measure the server. It only speaks what uvicorn
answers here: a status line, headers, and a body of Content-Length bytes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit


def encode(method: str, path: str, host: str, token: str | None = None, body: Any = None) -> bytes:
    """The request as bytes: keep-alive, JSON body if any."""
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection; `send` then `receive`, or `request` for both."""

    def __init__(self, base: str) -> None:
        u = urlsplit(base)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.hostport = f"{self.host}:{self.port}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def send(self, request: bytes) -> None:
        assert self.writer is not None
        self.writer.write(request)

    async def receive(self) -> Response:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for h in lines[1:]:
            if h:
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(n) if n else b""
        return Response(status, headers, body)

    async def request(self, request: bytes) -> tuple[Response, float]:
        """The response and the seconds from send to the end of the body."""
        t = time.perf_counter()
        self.send(request)
        r = await self.receive()
        return r, time.perf_counter() - t

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def sleep_until(wall: float) -> None:
    """Sleep until time.time() reaches `wall` (coarse sleep, then a short spin)."""
    while (left := wall - time.time()) > 0.002:
        await asyncio.sleep(left - 0.002)
    while time.time() < wall:
        pass
