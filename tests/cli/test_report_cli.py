"""``mrv report`` end to end: plan load, readings import, a monitoring period, then the
report in every format, written by the real command; each issued report is audited."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from mrv.cli import app
from tests.support.paths import ROOT, SOLAR_PLAN
from verification.render.formats import EXTENSIONS

runner = CliRunner()


def run(*args: str, home: Path, code: int = 0) -> str:
    result = runner.invoke(app, [*args], env={"MRV_HOME": str(home), "COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    run("plan", "load", str(SOLAR_PLAN), home=home)
    logger = tmp_path / "logger.csv"
    rows = ["time,site,device,seq,quantity,value,unit"]
    for i, day in enumerate(range(1, 31)):
        rows.append(
            f"2026-06-{day:02d}T00:00:00Z,rayong-a,pv-a-meter,{i + 1},energy_export,{4000 * day},kWh"
        )
    rows.append("2026-07-01T00:00:00Z,rayong-a,pv-a-meter,99,energy_export,124000,kWh")
    rows.append("2026-06-01T00:00:00Z,rayong-b,pv-b-meter,1,energy_export,100,MWh")
    rows.append("2026-07-01T00:00:00Z,rayong-b,pv-b-meter,2,energy_export,180.5,MWh")
    logger.write_text("\n".join(rows) + "\n")
    run("readings", "import", "--project", "th-solar-rooftops", str(logger), home=home)
    return home


def test_report_in_every_format(home: Path, tmp_path: Path) -> None:
    period = ("--project", "th-solar-rooftops", "--start", "2026-06-01", "--end", "2026-06-30")
    report = json.loads(run("report", *period, "-q", home=home))
    assert report["project"]["id"] == "th-solar-rooftops"
    assert report["methodology"] == {
        "id": "PV-power-generation",
        "version": "1.0",
        "title": report["methodology"]["title"],
        "table_sha256": report["methodology"]["table_sha256"],
        "gap_rules": "conservative",
    }
    assert report["period"]["start"] == "2026-06-01" and report["period"]["end"] == "2026-06-30"
    assert report["emission_reductions_tco2"] == {
        "value": 100.0,
        "unrounded": pytest.approx(100.25),
        "rounding": "floor",
        "creditable": True,
    }
    for key in (
        "parameters",
        "gaps",
        "corrections",
        "events",
        "credit_allocation",
        "inputs_sha256",
    ):
        assert key in report
    row = next(r for r in report["parameters"] if r["monitoring_point"] == "MP-A")
    assert {"symbol", "value", "unit", "option", "source", "completeness", "corrections"} <= set(
        row
    )

    outputs = {}
    for fmt in ("json", "csv", "xlsx", "pdf", "html"):
        out = tmp_path / f"report.{EXTENSIONS[fmt]}"
        run("report", *period, "--format", fmt, "--out", str(out), home=home)
        outputs[fmt] = out.read_bytes()
    again = json.loads(outputs["json"])
    # the same report, but for the chain it was computed at: the first issue is a link more
    assert again.pop("checkpoint")["length"] == report.pop("checkpoint")["length"] + 1
    assert again == report
    with zipfile.ZipFile(io.BytesIO(outputs["csv"])) as package:
        files = {n: package.read(n).decode() for n in package.namelist()}
    assert "datapackage.json" in files
    header = next(csv.DictReader(io.StringIO(files["report.csv"])))
    assert header["inputs_sha256"] == report["inputs_sha256"]
    assert "EG_grid" in files["parameters.csv"]
    # csv is a zip: a file named .csv would be read as one CSV by every tool
    run("report", *period, "--format", "csv", "--out", str(tmp_path / "r.csv"), home=home, code=2)
    book = openpyxl.load_workbook(tmp_path / "report.xlsx")
    assert {"MRS_input", "MRS_calc"} <= set(book.sheetnames)
    assert outputs["pdf"].startswith(b"%PDF")
    assert outputs["html"].count(b"<svg") >= 2

    # the same report gives the same bytes (each issue embeds the chain's checkpoint, and
    # the chain grows by each issue, so two issues differ there and only there)
    from verification.render import render
    from verification.report_model import Report

    issued_report = Report.model_validate_json(outputs["json"])
    assert render(issued_report, "pdf") == render(issued_report, "pdf")
    # every issued report is in the audit chain
    again = tmp_path / "again.pdf"
    run("report", *period, "--format", "pdf", "--out", str(again), home=home)
    assert again.read_bytes().startswith(b"%PDF")
    from persistence.engine import Database
    from persistence.models import AuditEntry

    db = Database(f"sqlite:///{home / 'mrv.sqlite'}")
    with db.session() as s:
        issued = [a for a in s.query(AuditEntry) if a.action == "report.issued"]
    db.dispose()
    assert len(issued) == 7
    assert {a.body["inputs_sha256"] for a in issued} == {report["inputs_sha256"]}


def test_report_errors_are_clear(home: Path) -> None:
    out = run(
        "report",
        "--project",
        "nope",
        "--start",
        "2026-06-01",
        "--end",
        "2026-06-30",
        home=home,
        code=2,
    )
    assert "unknown project 'nope'" in out
    out = run(
        "report",
        "--project",
        "th-solar-rooftops",
        "--start",
        "2026-06-30",
        "--end",
        "2026-06-01",
        home=home,
        code=2,
    )
    assert "--end" in out
    out = run(
        "report",
        "--project",
        "th-solar-rooftops",
        "--start",
        "2026-06-01",
        "--end",
        "2026-06-30",
        "--format",
        "docx",
        home=home,
        code=2,
    )
    assert "--format" in out


def test_report_for_a_defined_monitoring_period_as_a_real_process(home: Path) -> None:
    run(
        "periods",
        "define",
        "--project",
        "th-solar-rooftops",
        "--start",
        "2026-01-01",
        "--end",
        "2026-05-31",
        home=home,
    )
    run(
        "periods",
        "define",
        "--project",
        "th-solar-rooftops",
        "--start",
        "2026-06-01",
        "--end",
        "2026-06-30",
        home=home,
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mrv.cli",
            "report",
            "--project",
            "th-solar-rooftops",
            "--start",
            "2026-06-01",
            "--end",
            "2026-06-30",
            "--home",
            str(home),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["period"]["number"] == 2
    assert report["emission_reductions_tco2"]["value"] == 100


def test_example_entries_feed_the_report(home: Path) -> None:
    entries = ROOT / "examples" / "entries" / "solar-calibration.yaml"
    assert "2 created" in run(
        "entries", "add", "--project", "th-solar-rooftops", str(entries), home=home
    )
    assert "2 existing" in run(
        "entries", "add", "--project", "th-solar-rooftops", str(entries), home=home
    )
    report = json.loads(
        run(
            "report",
            "--project",
            "th-solar-rooftops",
            "--start",
            "2026-06-01",
            "--end",
            "2026-06-30",
            "-q",
            home=home,
        )
    )
    check = report["cross_checks"][0]
    assert check["invoices"] == ["EGAT-PPA-2026-06"] and check["monitoring_point"] == "MP-A"
    assert check["meter_value"] == pytest.approx(120.0) and check["invoice_value"] == pytest.approx(
        120.4
    )
    row = next(r for r in report["parameters"] if r["monitoring_point"] == "MP-A")
    assert "calibrated 2026-06-20 (TISI-CAL-2026-0620-114)" in row["calibration"]
