"""The operator commands: plan validate/load, readings export/import, quarantine, events."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrv.cli import app
from tests.support.paths import PLANS, TEST_PLAN

runner = CliRunner()


def run(*args: str, home: Path) -> str:
    result = runner.invoke(app, [*args], env={"MRV_HOME": str(home), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("plan", sorted(PLANS.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_plans_validate(plan: Path, tmp_path: Path):
    assert "✓" in run("plan", "validate", str(plan), home=tmp_path)


def test_plan_validate_explains_every_problem_with_its_line(tmp_path: Path):
    broken = TEST_PLAN.read_text().replace("site: s1", "site: nowhere", 1)
    broken = broken.replace('accuracy_class: "0.5S"', 'accuracy_clas: "0.5S"')
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = runner.invoke(app, ["plan", "validate", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert (
        "broken.yaml:18:5: devices[0].accuracy_clas: unknown key 'accuracy_clas'" in result.output
    )
    # schema problems come first; once fixed, the cross-references are checked
    path.write_text(broken.replace("accuracy_clas:", "accuracy_class:"))
    result = runner.invoke(app, ["plan", "validate", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "broken.yaml:14:11: devices[0].site: unknown site 'nowhere'" in result.output


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_then_export_round_trip(tmp_path: Path):
    home = tmp_path / "a"
    run("plan", "load", str(TEST_PLAN), home=home)
    source = tmp_path / "logger.csv"
    source.write_text(
        "time,project,site,device,seq,quantity,value,unit,historical\n"
        "2026-11-01T00:00:00Z,test-proj,s1,em1,1,energy_export,1.5,MWh,false\n"
        "2026-11-01T00:00:00Z,test-proj,s1,em1,1,power,20,kW,false\n"
        "2026-11-01T00:15:00Z,test-proj,s1,em1,2,energy_export,1.6,MWh,true\n"
        "2026-11-01T00:30:00Z,test-proj,s1,em1,3,energy_export,1.7,florbs,false\n"
        "2026-11-01T00:45:00Z,test-proj,s2,fm-us,1,gas_temperature,68,degF,false\n"
    )
    out = run("readings", "import", str(source), "--project", "test-proj", home=home)
    assert "4 stored" in out and "1 quarantined" in out
    # importing the same file again stores nothing twice
    out = run("readings", "import", str(source), "--project", "test-proj", home=home)
    assert "0 stored" in out and "4 duplicates" in out

    exported = run("readings", "export", "--project", "test-proj", home=home)
    rows = _csv_rows(exported)
    assert [(r["device"], r["seq"], r["quantity"]) for r in rows] == [
        ("em1", "1", "energy_export"),
        ("em1", "1", "power"),
        ("em1", "2", "energy_export"),
        ("fm-us", "1", "gas_temperature"),
    ]
    assert rows[0]["value"] == "1500.0" and rows[0]["unit"] == "kWh"
    assert rows[0]["raw_value"] == "1.5" and rows[0]["raw_unit"] == "MWh"
    assert rows[2]["historical"] == "true"
    assert float(rows[3]["value"]) == pytest.approx(20.0)
    assert rows[3]["unit"] == "degC"

    # the export is itself importable into another data folder: same rows, same values
    other = tmp_path / "b"
    run("plan", "load", str(TEST_PLAN), home=other)
    (tmp_path / "export.csv").write_text(exported)
    out = run(
        "readings", "import", str(tmp_path / "export.csv"), "--project", "test-proj", home=other
    )
    assert "4 stored" in out
    again = run("readings", "export", "--project", "test-proj", "--format", "jsonl", home=other)
    records = [json.loads(line) for line in again.splitlines()]
    assert [r["value"] for r in records] == [float(r["value"]) for r in rows]

    # filters: device, quantity and an end-exclusive time range
    only = _csv_rows(
        run(
            "readings",
            "export",
            "--project",
            "test-proj",
            "--quantity",
            "energy_export",
            "--start",
            "2026-11-01T00:10:00Z",
            "--end",
            "2026-11-01T00:15:00.001Z",
            home=home,
        )
    )
    assert [r["seq"] for r in only] == ["2"]

    listed = run("quarantine", "list", "--format", "jsonl", home=home)
    entries = [json.loads(line) for line in listed.splitlines()]
    assert [(e["reason"], e["field"]) for e in entries] == [("unit_unknown", "readings[0].unit")]
    out = run("quarantine", "release", str(entries[0]["id"]), home=home)
    assert "0 of 1 released" in out  # still an unknown unit: kept, not dropped


def test_events_list_shows_a_reset(tmp_path: Path):
    home = tmp_path
    run("plan", "load", str(TEST_PLAN), home=home)
    source = tmp_path / "reset.csv"
    source.write_text(
        "time,site,device,seq,quantity,value,unit\n"
        "2026-11-01T00:00:00Z,s1,em1,1,energy_export,500,kWh\n"
        "2026-11-01T00:15:00Z,s1,em1,2,energy_export,510,kWh\n"
        "2026-11-01T00:30:00Z,s1,em1,3,energy_export,2,kWh\n"
    )
    run("readings", "import", str(source), "--project", "test-proj", home=home)
    out = run(
        "events",
        "list",
        "--project",
        "test-proj",
        "--kind",
        "reset",
        "--format",
        "jsonl",
        home=home,
    )
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["kind"], e["device"], e["time"]) for e in events] == [
        ("reset", "em1", "2026-11-01T00:30:00.000Z")
    ]


def test_devices_list(tmp_path: Path):
    run("plan", "load", str(TEST_PLAN), home=tmp_path)
    out = run("devices", "list", "--format", "jsonl", home=tmp_path)
    devices = [json.loads(line) for line in out.splitlines()]
    assert [(d["device"], d["site"], d["registry"], d["state"]) for d in devices] == [
        ("em1", "s1", "active", "unknown"),
        ("fm-20", "s2", "active", "unknown"),
        ("fm-us", "s2", "active", "unknown"),
    ]
