"""Request body limits, enforced while the body arrives (not only from its header).

A Content-Length above the limit is refused before anything is read; a body sent without
one (chunked) is counted as it comes in and refused as soon as it passes the limit, so a
client cannot make the server buffer more than the limit either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, {"field": "body", "message": f"at most {limit:,} bytes"})


class BodyLimit:
    """ASGI middleware: at most ``limit_for(path)`` bytes of request body."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_json(
                send, 413, {"error": f"body: at most {limit:,} bytes", "field": "body"}
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the application, where the JSON error handler turns
                    # it into the same 413 answer as above.
                    raise _too_large(limit)
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
