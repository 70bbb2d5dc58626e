"""Free TCP ports for the servers the tests start, safe when tests run in parallel.

``mrv.demo.broker.free_port`` asks the kernel for an ephemeral port and closes it; the
server binds it a moment later. Under pytest-xdist that moment is a race: another
worker's ``free_port`` or any outgoing connection (each takes an ephemeral port) can take
the port first, and ``wait_for_port`` then happily finds *someone else's* server on it.

So the tests take their ports from a block of their own, below the kernel's ephemeral
range (``/proc/sys/net/ipv4/ip_local_port_range``, 32768-60999 by default, where nothing
is handed out unasked): each xdist worker has its own slice of the block and walks it in
order from a random start, skipping ports something already holds. No two workers can
pick the same port, one worker never hands out a port twice (before wrapping around its
slice), and a port the test reserves but leaves unbound (a server that is "down") stays
unbound.
"""

from __future__ import annotations

import os
import random
import socket
import threading


def _ephemeral_start(default: int = 32_768) -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


#: The block the tests' ports come from: below the ephemeral range (if the machine leaves
#: room there), above the usual system services.
LOW = 20_000
HIGH = min(32_000, _ephemeral_start()) if _ephemeral_start() > 24_000 else 32_000


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... or unset
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (HIGH - LOW) // max(count, 1)
    start = LOW + (index % max(count, 1)) * size
    return range(start, start + size)


_lock = threading.Lock()
_ports = _slice()
# A random start, so that two test sessions on one machine rarely walk the same ports
# (from the OS, not the random module, whose state tests and plugins may seed).
_next = random.SystemRandom().randrange(len(_ports))


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing holds, this worker's alone."""
    global _next
    with _lock:
        for _ in range(len(_ports)):
            port = _ports[_next % len(_ports)]
            _next += 1
            if _bindable(port):
                return port
    raise RuntimeError(f"no free port in {_ports.start}-{_ports.stop - 1}")
