"""Start a private PostgreSQL server on a free port (for tests and benchmarks).

PostgreSQL refuses to run as root, so when we are root the cluster is created and run
as the ``postgres`` system user, in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from mrv.demo.broker import free_port, wait_for_port

INSTALL_HINT = "PostgreSQL is not installed. On Debian/Ubuntu: sudo apt-get install -y postgresql"


class PostgresMissing(RuntimeError):
    pass


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresMissing(INSTALL_HINT)


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        self.bindir = _bindir()
        self.port = port or free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="mrv-pg-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._as_postgres = os.geteuid() == 0

    def _cmd(self, *args: str) -> list[str]:
        if self._as_postgres:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.datadir, "postgres", "postgres")
        subprocess.run(
            self._cmd(
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        self.launch()
        return self

    def launch(self) -> None:
        """Run the server on the existing cluster (after start(), or after halt())."""
        self.process = subprocess.Popen(
            self._cmd(
                str(self.bindir / "postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.datadir}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for_port(self.port, timeout_s=30)
        # The port answers a moment before the server accepts queries.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            time.sleep(0.1)

    def halt(self) -> None:
        """Stop the server but keep its data, as an outage; launch() brings it back."""
        self._shutdown()

    def _shutdown(self) -> None:
        # Fast shutdown through pg_ctl: a plain SIGTERM is a "smart" shutdown that waits
        # for every client (a gateway's pool) to leave, and under runuser it would reach
        # the wrapper, not the postmaster.
        if self.process is None:
            return
        if self.process.poll() is None:
            subprocess.run(
                self._cmd(
                    str(self.bindir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.datadir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                ),
                capture_output=True,
            )
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._shutdown()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
