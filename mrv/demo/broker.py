"""Start a private Mosquitto broker on a free port (for the demo, tests and benchmarks).

See shared/machine-notes.md: as root Mosquitto needs ``user root``; a non-default port
needs a ``listener`` line; ``max_queued_messages`` must be raised or an offline
gateway's queue is cut at 1000 messages; persistence keeps sessions across restarts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

INSTALL_HINT = (
    "Mosquitto is not installed. On Debian/Ubuntu: sudo apt-get install -y mosquitto "
    "(the README's set-up command does this for you)."
)


class BrokerMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s} s")


class MosquittoBroker:
    """A Mosquitto process of our own; ``with MosquittoBroker(dir) as b: b.url``."""

    def __init__(
        self,
        workdir: str | Path,
        *,
        port: int | None = None,
        persistence: bool = True,
        max_queued_messages: int = 1_000_000,
        max_inflight_messages: int = 1000,
        password_file: Path | None = None,
        acl_file: Path | None = None,
    ) -> None:
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if binary is None:
            raise BrokerMissing(INSTALL_HINT)
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.persistence = persistence
        self.max_queued_messages = max_queued_messages
        self.max_inflight_messages = max_inflight_messages
        self.password_file = password_file
        self.acl_file = acl_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        """Write the broker's mosquitto.conf into the work folder; returns its path."""
        lines = []
        if os.geteuid() == 0:
            lines.append("user root")
        lines += [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if self.password_file else 'true'}",
            f"max_queued_messages {self.max_queued_messages}",
            "max_queued_bytes 0",
            f"max_inflight_messages {self.max_inflight_messages}",
            "persistent_client_expiration 7d",
            # Nagle's algorithm holds small QoS 1 packets back ~8 ms each way.
            "set_tcp_nodelay true",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
        ]
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
            ]
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> MosquittoBroker:
        config = self.write_config()
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            log = (self.workdir / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mosquitto did not start on port {self.port}: {log}") from None
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop (gracefully, so persistence is saved) and start again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
