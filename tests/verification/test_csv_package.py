"""The report's ``csv`` format: a zip of one CSV file per table and a ``datapackage.json``
that validates with frictionless, every file loading with pandas as its schema types it,
every table of :mod:`verification.render.tables` a file of its own."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from frictionless import Package, validate

from core.signing import Checkpoint
from tests.verification.test_render import SHA, _report
from verification.render import render, tables
from verification.render.csv_out import declared_tables
from verification.render.tables import Column, Table
from verification.report_model import Gap, Report

PANDAS_TYPES = {"string": str, "integer": "Int64", "number": float, "boolean": "boolean"}


def _unpacked(report: Report, folder: Path) -> dict:
    data = render(report, "csv")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.namelist()[0] == "datapackage.json"
        z.extractall(folder)
    return json.loads((folder / "datapackage.json").read_text())


def _frame(folder: Path, resource: dict) -> pd.DataFrame:
    """A file read by pandas as the package's schema types it."""
    fields = resource["schema"]["fields"]
    dtype = {f["name"]: PANDAS_TYPES[f["type"]] for f in fields if f["type"] in PANDAS_TYPES}
    dates = [f["name"] for f in fields if f["type"] in ("date", "datetime")]
    return pd.read_csv(folder / resource["path"], dtype=dtype, parse_dates=dates)


def _checked(report: Report, folder: Path) -> dict[str, pd.DataFrame]:
    package = _unpacked(report, folder)
    verdict = validate(str(folder / "datapackage.json"))
    assert verdict.valid, verdict.flatten(["resourcePath", "rowNumber", "fieldName", "note"])
    frames = {r["name"]: _frame(folder, r) for r in package["resources"]}
    assert list(frames) == [r.name for r in Package(str(folder / "datapackage.json")).resources]
    return frames


def test_the_package_validates_and_loads_table_by_table(tmp_path: Path) -> None:
    report = _report()
    frames = _checked(report, tmp_path)
    assert list(frames) == ["report", "totals", *(t.id for t in declared_tables())]

    head = frames["report"].iloc[0]
    assert (head["project_id"], head["inputs_sha256"], head["plan_version"]) == (
        "PW-SOLAR-001",
        SHA,
        3,
    )
    assert head["period_start"] == pd.Timestamp("2023-01-01")
    assert head["period_end_utc"] == pd.Timestamp("2024-01-01T00:00:00Z")
    assert bool(head["creditable"]) is True

    totals = frames["totals"].set_index("item")["value"]
    assert totals["emission_reductions"] == report.emission_reductions_tco2.value
    assert totals["emission_reductions_unrounded"] == report.emission_reductions_tco2.unrounded

    parameters = frames["parameters"]
    assert list(parameters["Estimated values"]) == [p.value for p in report.parameters]
    assert list(parameters["completeness"]) == [p.completeness for p in report.parameters]
    assert list(parameters["readings"]) == [p.readings for p in report.parameters]
    gap = frames["gaps"].iloc[0]
    assert gap["start"] == pd.Timestamp(report.gaps[0].start)
    assert gap["hours"] == report.gaps[0].hours
    assert list(frames["events"]["time"]) == [pd.Timestamp(e.time) for e in report.events]


def test_every_declared_table_is_a_typed_resource(tmp_path: Path) -> None:
    package = _unpacked(_report(), tmp_path)
    by_name = {r["name"]: r for r in package["resources"]}
    for table in declared_tables():
        resource = by_name[table.id]
        assert resource["path"] == f"{table.id}.csv"
        assert (resource["format"], resource["encoding"]) == ("csv", "utf-8")
        assert resource["schema"]["missingValues"] == [""]
        fields = resource["schema"]["fields"]
        assert tuple(f["name"] for f in fields) == table.headers("csv")
        assert [f["type"] for f in fields] == [c.data_type for c in table.columns("csv")]
    corrections = {f["name"]: f for f in by_name["corrections"]["schema"]["fields"]}
    assert corrections["effect_tco2"]["unit"] == "tCO2"
    assert corrections["start"]["type"] == "datetime"
    assert "column unit" in corrections["delta"]["description"]
    assert by_name["gaps"]["schema"]["fields"][6] | {"description": ""} == {
        "name": "hours",
        "type": "number",
        "title": "Hours",
        "unit": "h",
        "description": "",
    }


def test_a_table_declared_later_becomes_a_file(tmp_path: Path, monkeypatch) -> None:
    later = Table[Gap](
        id="long_gaps",
        title="Gaps of a day or more",
        sheet="Long gaps",
        empty="No gap of a day or more.",
        rows=lambda r: [g for g in r.gaps if g.hours >= 24],
        all_columns=(
            Column(key="id", title="Id", get=lambda g: g.id, width=10, share=0.5),
            Column(
                key="hours", title="Hours", kind="hours", get=lambda g: g.hours, width=8, share=0.5
            ),
        ),
    )
    monkeypatch.setattr(tables, "LONG_GAPS", later, raising=False)
    frames = _checked(_report(), tmp_path)
    assert list(frames)[-1] == "long_gaps" and frames["long_gaps"].empty
    package = json.loads((tmp_path / "datapackage.json").read_text())
    assert package["resources"][-1]["description"] == "No gap of a day or more."


def test_empty_tables_a_checkpoint_and_no_allocation_validate(tmp_path: Path) -> None:
    signed = Checkpoint(
        project="PW-SOLAR-001",
        length=42,
        head="ab" * 32,
        time=datetime(2024, 1, 15, 9, 30, tzinfo=UTC),
        key_id="0123456789abcdef",
        signature="s" * 86,
    )
    bare = _report().model_copy(
        update={
            "gaps": [],
            "corrections": [],
            "cross_checks": [],
            "findings": [],
            "events": [],
            "credit_allocation": None,
            "checkpoint": signed,
        }
    )
    frames = _checked(bare, tmp_path)
    assert all(frames[t].empty for t in ("gaps", "corrections", "cross_checks", "events"))
    head = frames["report"].iloc[0]
    assert head["checkpoint_length"] == 42
    assert head["checkpoint_time"] == pd.Timestamp("2024-01-15T09:30:00Z")
    totals = frames["totals"].set_index("item")
    assert pd.isna(totals.loc["credit_allocation", "value"])


def test_the_zip_is_the_same_bytes_for_the_same_report() -> None:
    first = render(_report(), "csv")
    assert render(_report(), "csv") == first
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("name", ["report", "totals", "parameters", "gaps"])
def test_each_file_is_tidy_one_header_then_rows(name: str) -> None:
    with zipfile.ZipFile(io.BytesIO(render(_report(), "csv"))) as z:
        text = z.read(f"{name}.csv").decode()
    assert not text.startswith("#") and "\n\n" not in text and text.endswith("\n")
