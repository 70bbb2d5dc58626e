"""How ``mrv api`` serves the application: uvicorn, with one correction.

With ``--workers N`` uvicorn binds the listening socket itself without naming the TCP
protocol, so asyncio does not turn TCP_NODELAY on for the connections it accepts; every
answer's last segment then waits for the client's delayed ACK, about 40 ms a request
(uvicorn issue #3149). The protocol below sets it on each connection, whatever the
worker count.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
