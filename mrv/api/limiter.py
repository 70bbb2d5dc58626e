"""Slowing down token guessing without locking out the tokens that work.

**Who the client is.** The direct peer's address, unless that peer is one of the trusted
proxies (``MRV_API_TRUSTED_PROXIES``, none by default): then the right-most address of
``X-Forwarded-For`` that is not a trusted proxy. Each proxy appends the peer it saw, so
what stands left of that is whatever the client wrote, and a made-up header changes
nothing. (uvicorn's own proxy-header handling, which believes any header sent from
127.0.0.1, is turned off by ``mrv api``.) An IPv6 client is its /64, the block one host is
usually given, so that walking through its own addresses does not reset its count.

**How the limiter is keyed.** By client, with two kinds of token:

- A token that has authenticated from this client before is *proven* here: it is checked
  at once, whatever the client's failures, so a working token is never locked out by
  wrong ones from the same address (a NAT, an office, a proxy without the header).
- Any other token is a possible guess. After ``max_failures`` wrong ones within
  ``window_s`` the client is throttled, and then such a token is not checked at all: it
  gets 429 with ``Retry-After``, the same answer right or wrong. Were it checked, a right
  guess would pass and a wrong one get 429, and the 429 would only say "wrong" at full
  speed. Throttled attempts are not counted (they were not tried), so guessing proceeds
  at ``max_failures`` a window, and no faster in parallel: one client's unproven tokens
  are checked one at a time.

The cost of that choice: a valid token used for the first time from an address that is
being throttled waits, like a guess, until the window lets one more attempt through
(at most ``window_s``). Tokens are 256 random bits, so the limit is not what keeps them
secret; it keeps a guesser's rate, and the noise it makes, small.

**Memory.** At most ``max_clients`` clients, the least recently seen forgotten first;
each remembers at most ``max_failures`` failure times and ``tokens_per_client`` proven
tokens (as SHA-256 digests). The state is per process: with ``--workers N`` each worker
counts on its own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from core.config import Network

MAX_FAILURES = 5  # failed authentications per client ...
FAILURE_WINDOW_S = 60.0  # ... within this many seconds, then it waits
MAX_CLIENTS = 10_000  # clients remembered at most
TOKENS_PER_CLIENT = 16  # proven tokens remembered per client
UNKNOWN = "?"  # a peer without an address (a Unix socket)

T = TypeVar("T")


class Throttled(Exception):
    """The client must wait ``wait_s`` whole seconds before its next attempt."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(f"retry in {wait_s} s")
        self.wait_s = wait_s


@dataclass
class _Client:
    failures: deque[float]
    proven: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    trying: threading.Lock = field(default_factory=threading.Lock)


class FailedAuthLimiter:
    """Failed authentications per client, and the tokens proven from it (module doc)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        max_clients: int = MAX_CLIENTS,
        tokens_per_client: int = TOKENS_PER_CLIENT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self.tokens_per_client = tokens_per_client
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()  # least recently seen first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Clients remembered."""
        return len(self._clients)

    def authenticate(self, client: str, token: str, check: Callable[[str], T | None]) -> T | None:
        """``check(token)``: what the token grants, or None for a wrong one, if ``client``
        may try it now; raises :class:`Throttled` if it may not."""
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            record = self._record(client)
            proven = digest in record.proven
        if proven:
            return self._tried(record, digest, check(token))
        with record.trying:  # one unproven token at a time: parallel guesses count in full
            with self._lock:
                wait = None if digest in record.proven else self._wait_s(record)
            if wait is not None:
                raise Throttled(wait)
            return self._tried(record, digest, check(token))

    def _tried(self, record: _Client, digest: bytes, grant: T | None) -> T | None:
        with self._lock:
            if grant is None:
                record.failures.append(self._clock())
                record.proven.pop(digest, None)  # revoked or expired since
            else:
                record.proven[digest] = None
                record.proven.move_to_end(digest)
                while len(record.proven) > self.tokens_per_client:
                    record.proven.popitem(last=False)
        return grant

    def _record(self, client: str) -> _Client:
        record = self._clients.get(client)
        if record is not None:
            self._clients.move_to_end(client)
            return record
        while len(self._clients) >= self.max_clients:
            self._clients.popitem(last=False)
        record = self._clients[client] = _Client(deque(maxlen=self.max_failures))
        return record

    def _wait_s(self, record: _Client) -> int | None:
        now = self._clock()
        recent = record.failures
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        if len(recent) < self.max_failures:
            return None
        return int(self.window_s - (now - recent[0])) + 1


def client_address(peer: str | None, forwarded: Iterable[str], trusted: Sequence[Network]) -> str:
    """Who a request comes from (module doc): ``peer``, the direct peer's address, or, if it
    is a trusted proxy, the right-most untrusted address of ``forwarded`` (the values of
    each ``X-Forwarded-For`` header, in order)."""
    if peer is None:
        return UNKNOWN
    address = _address(peer)
    if address is None or not _within(address, trusted):
        return _key(address, peer)
    hops = [hop.strip() for value in forwarded for hop in value.split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None or not _within(address, trusted):
            return _key(address, hop)  # what the last trusted proxy saw, even if not an IP
    return _key(_address(hops[0]), hops[0]) if hops else _key(_address(peer), peer)


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> IpAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: IpAddress, networks: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def _key(address: IpAddress | None, text: str) -> str:
    if address is None:
        return text[:100]
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
