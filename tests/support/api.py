"""A real ``mrv api`` for tests: homes with plans and readings, tokens, the server on a
free port, and a connection behind the API's back."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine
from typer.testing import CliRunner

from mrv.cli import app
from mrv.demo.broker import free_port, wait_for_port
from tests.support.paths import PLANS, SOLAR_PLAN

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
        wait_for_port(port, timeout_s=30)
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
