"""A real ``mrv api`` for tests: homes with plans and readings, tokens, the server on a
free port, and a connection behind the API's back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine
from typer.testing import CliRunner

from mrv.cli import app
from mrv.demo.broker import wait_for_port
from tests.support.paths import PLANS, SOLAR_PLAN
from tests.support.ports import free_port

runner = CliRunner()


# Each test home's relational store (SQLite or a private PostgreSQL, see ``db_url``).
DB_URLS: dict[Path, str] = {}


def env_of(home: Path) -> dict[str, str]:
    env = {"MRV_HOME": str(home)}
    if home in DB_URLS:
        env["MRV_DATABASE_URL"] = DB_URLS[home]
    return env


def run(*args: str, home: Path, code: int = 0) -> str:
    result = runner.invoke(app, [*args], env={**env_of(home), "COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


def token(home: Path, *args: str) -> str:
    """``mrv token create ARGS`` (in-process): the token it prints."""
    result = runner.invoke(app, ["token", "create", *args], env={**env_of(home), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def prepare(home: Path, db_url: str, tmp_path: Path) -> None:
    """A home with the solar and chiller plans and two register readings."""
    DB_URLS[home] = db_url
    run("plan", "load", str(SOLAR_PLAN), home=home)
    run("plan", "load", str(PLANS / "chiller-efficiency.yaml"), home=home)
    logger = tmp_path / "logger.csv"
    logger.write_text(
        "time,site,device,seq,quantity,value,unit\n"
        "2026-06-01T00:00:00Z,rayong-a,pv-a-meter,1,energy_export,0,MWh\n"
        "2026-07-01T00:00:00Z,rayong-a,pv-a-meter,2,energy_export,120,MWh\n"
    )
    run("readings", "import", "--project", "th-solar-rooftops", str(logger), home=home)


#: How long a starting ``mrv api`` may take to listen. Idle, it takes a second or two; with
#: ``--workers N`` uvicorn binds the socket at once but listens only when a worker process
#: has imported the app, which on a busy machine (the suite in parallel) took over 30 s.
#: A server that dies is reported at once, whatever this says.
SERVER_START_S = 180.0


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"mrv api exited with {proc.returncode} before listening on {port}")
        try:
            wait_for_port(port, timeout_s=1)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"mrv api not listening on 127.0.0.1:{port} after {SERVER_START_S} s"
                ) from None


@contextmanager
def serve(
    home: Path, workers: int = 1, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``mrv api`` on ``port`` (a free one by default) over ``home``, stopped (workers
    and all) afterwards."""
    port = port or free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mrv.cli", "api", "--port", str(port)),
            *("--workers", str(workers), "--home", str(home)),
        ],
        env={**os.environ, **env_of(home)},
    )
    try:
        _wait_until_listening(proc, port)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def behind_the_api(home: Path) -> Iterator[Connection]:
    """A direct connection to the relational store, as someone with database access."""
    engine = create_engine(DB_URLS[home])
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


ENTRY = {
    "id": "5b3f0c7a-8a1e-4f5e-9d7a-1b2c3d4e5f61",
    "type": "calibration_certificate",
    "author": "somchai.k",
    "gps": {"lat": 12.7074, "lon": 101.1481, "accuracy_m": 8},
    "body": {
        "device": "pv-a-meter",
        "calibrated_on": "2026-06-20",
        "certificate": "TISI-CAL-2026-0620-114",
        "result": "within_tolerance",
        "error_pct": 0.12,
    },
}
