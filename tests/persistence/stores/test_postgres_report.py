"""A monitoring report end to end on the PostgreSQL backend: ``mrv plan load``, ``mrv
readings import`` (the gateway's pipeline), ``mrv report`` and ``mrv audit verify``, all
with ``MRV_TS_BACKEND=postgres`` and the relational store on the same real PostgreSQL.
The same data on the SQLite backend gives the same report (the same inputs hash): the
verification reads through the store protocol, whichever store answers it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from mrv.cli import app
from persistence.stores.postgres_ts import conninfo_from_url
from tests.support.paths import SOLAR_PLAN
from tests.support.services import db_counter

runner = CliRunner()
P = "th-solar-rooftops"
PERIOD = ("--project", P, "--start", "2026-06-01", "--end", "2026-06-30")


def _logger_csv(path: Path) -> Path:
    rows = ["time,site,device,seq,quantity,value,unit"]
    for i, day in enumerate(range(1, 31)):
        rows.append(
            f"2026-06-{day:02d}T00:00:00Z,rayong-a,pv-a-meter,{i + 1},energy_export,{4000 * day},kWh"
        )
    rows.append("2026-07-01T00:00:00Z,rayong-a,pv-a-meter,99,energy_export,124000,kWh")
    rows.append("2026-06-01T00:00:00Z,rayong-b,pv-b-meter,1,energy_export,100,MWh")
    rows.append("2026-07-01T00:00:00Z,rayong-b,pv-b-meter,2,energy_export,180.5,MWh")
    path.write_text("\n".join(rows) + "\n")
    return path


def _run(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _report(env: dict[str, str], logger: Path) -> dict[str, object]:
    _run(env, "plan", "load", str(SOLAR_PLAN))
    _run(env, "readings", "import", "--project", P, str(logger))
    report = json.loads(_run(env, "report", *PERIOD, "-q"))
    assert isinstance(report, dict)
    return report


def test_report_and_audit_on_the_postgres_backend(tmp_path: Path, pg_server) -> None:
    logger = _logger_csv(tmp_path / "logger.csv")
    url = pg_server.create_database(f"mrv_report_{next(db_counter)}")
    on_pg = {
        "MRV_HOME": str(tmp_path / "pg-home"),
        "MRV_DATABASE_URL": url,
        "MRV_TS_BACKEND": "postgres",  # its URL: MRV_DATABASE_URL's database
    }
    report = _report(on_pg, logger)
    assert report["emission_reductions_tco2"]["value"] == 100.0  # type: ignore[index]
    # the readings are in PostgreSQL, and nowhere else
    with psycopg.connect(conninfo_from_url(url)) as conn:
        assert conn.execute("SELECT count(*) FROM mrv_ts.readings").fetchone() == (33,)
    assert not (tmp_path / "pg-home" / "readings.sqlite").exists()
    verdict = json.loads(_run(on_pg, "audit", "verify", "--project", P, "--json"))
    assert verdict["intact"] is True

    on_sqlite = {"MRV_HOME": str(tmp_path / "sqlite-home")}
    same = _report(on_sqlite, logger)
    assert same["inputs_sha256"] == report["inputs_sha256"]
    assert same["parameters"] == report["parameters"]
    assert same["emission_reductions_tco2"] == report["emission_reductions_tco2"]


def test_postgres_backend_without_a_postgres_url_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["report", *PERIOD],
        env={"MRV_HOME": str(tmp_path), "MRV_TS_BACKEND": "postgres"},
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: MRV_TS_BACKEND=postgres needs a PostgreSQL database: set MRV_TS_POSTGRES_URL "
        "(or MRV_DATABASE_URL to a postgresql:// URL, which it then shares)"
    ]
    assert "Traceback" not in result.output
