"""Request body limits, enforced while the body arrives (not only from its header).

A Content-Length above the limit is refused before anything is read; a body sent without
one (chunked) is counted as it comes in and refused as soon as it passes the limit, so a
client cannot make the server buffer more than the limit either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.photos import MAX_PHOTO_BYTES
from mrv.api.errors import ApiError, ErrorBody

MAX_BODY_BYTES = 1_000_000  # an entry is a few kB
PHOTO_PATH = re.compile(r"^/v1/projects/[^/]+/photos/?$")


def body_limit(path: str) -> int:
    """Bytes of request body allowed on a path: photos are larger than everything else."""
    return MAX_PHOTO_BYTES + 1 if PHOTO_PATH.match(path) else MAX_BODY_BYTES


def _too_large(limit: int) -> ErrorBody:
    return ErrorBody.of(f"at most {limit:,} bytes", "body")


class BodyLimit:
    """ASGI middleware: at most ``limit_for(path)`` bytes of request body."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int] = body_limit) -> None:
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
            await _send_413(send, _too_large(limit))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the application, where the error handler turns it
                    # into the same 413 answer as above.
                    raise ApiError(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)


async def _send_413(send: Send, body: ErrorBody) -> None:
    data = body.model_dump_json(exclude={"problems"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
