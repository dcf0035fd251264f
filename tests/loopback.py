"""A real HTTP/1.1 server on loopback for the adapters' tests: down until started, JSON answers from `respond`."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class LoopbackServer:
    """Listens on 127.0.0.1:`port` once started; a subclass answers each request in `respond`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stall = False  # answer only after 5 s: the "slow" case
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on the port (it may have been refused before: that is the 'service down' case)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def respond(self, request_line: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """The status and JSON answer to one request (headers with lower-case names)."""
        raise NotImplementedError

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, answer = self.respond(request_line, headers, body)
            if self.stall:
                await asyncio.sleep(5)
            data = json.dumps(answer).encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        finally:
            writer.close()
