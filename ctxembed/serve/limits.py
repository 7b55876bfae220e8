"""Request limits of the service: body size (an ASGI middleware) and bounded concurrency with a queue."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class ApiError(Exception):
    """A request the service refuses: an HTTP status and a JSON body that names the field."""

    def __init__(self, status: int, message: str, *, field: str | None = None, kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.kind = status, message, field, kind

    def body(self) -> dict[str, Any]:
        # OpenAI's error shape (message, type, param, code), with `field` as ctxembed's clients read it
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.field,
                "code": None,
                "field": self.field,
            }
        }


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or while reading a chunked body."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._refuse(send)
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        error = ApiError(413, f"request body over {self.max_bytes} bytes (the service's max_body_bytes)", field="body")
        payload = json.dumps(error.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class _TooLarge(Exception):
    pass


class Gate:
    """At most `slots` requests compute at once; up to `queue` more wait; the next is refused (429)."""

    def __init__(self, slots: int, queue: int) -> None:
        self.slots, self.queue = slots, queue
        self._semaphore: asyncio.Semaphore | None = None
        self._admitted = 0  # computing or waiting

    async def run(self, work: Any, timeout: float) -> Any:
        """Run the blocking callable `work` in a worker thread once a slot is free; 504 after `timeout` s."""
        if self._semaphore is None:  # created on the server's event loop
            self._semaphore = asyncio.Semaphore(self.slots)
        if self._admitted >= self.slots + self.queue:
            raise ApiError(429, "the service is busy (all slots and the queue are full); retry later", kind="busy")
        self._admitted += 1
        try:
            async with self._semaphore:
                return await asyncio.wait_for(asyncio.to_thread(work), timeout)
        except asyncio.TimeoutError as exc:
            raise ApiError(504, f"the request took longer than {timeout:g}s (timeout_s)", kind="timeout") from exc
        finally:
            self._admitted -= 1
