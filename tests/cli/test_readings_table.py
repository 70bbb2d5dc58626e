"""Readings in one table shape through ``mrv readings export`` and ``mrv readings import``:
an export imports back unchanged (byte for byte, CSV and JSON Lines), a re-import is all
duplicates, a changed value is a conflict, a file that is not a readings table is refused
naming its line and column with nothing stored, and the export is a valid Frictionless
table that pandas reads."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from frictionless import Resource, Schema
from typer.testing import CliRunner

from gateway.importer import import_table
from gateway.processor import BatchProcessor
from mrv.cli import app
from persistence import readings_table
from persistence.engine import Database
from persistence.readings_table import NAMES, TableError
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import TEST_PLAN

runner = CliRunner()
P = "test-proj"

#: A data logger's file: some of the table's columns, units that convert (MWh, scf,
#: degF, psig, %), an interval total, replays from a buffer, a float that does not stay
#: short once converted (1.1 MWh), a unit the gateway quarantines (line 12) and a
#: dimensionless quantity sent without a unit.
LOGGER = """time,site,device,seq,quantity,value,unit,kind,interval_s,historical
2026-11-01T00:00:00Z,s1,em1,1,energy_export,1.1,MWh,,,false
2026-11-01T00:00:00Z,s1,em1,1,power,20,kW,,,false
2026-11-01T00:00:00Z,s1,em1,1,energy_import,0.25,kWh,interval,900,false
2026-11-01T00:15:00Z,s1,em1,2,energy_export,1.2,MWh,,,true
2026-11-01T00:15:00Z,s1,em1,2,energy_import,0.3,kWh,interval,900,true
2026-11-01T00:00:00+09:00,s2,fm-us,1,gas_volume_normal,1000,scf,,,false
2026-11-01T00:00:00+09:00,s2,fm-us,1,gas_temperature,68.5,degF,,,false
2026-11-01T00:00:00+09:00,s2,fm-us,1,gas_pressure,2.5,psig,,,false
2026-11-01T00:00:00+09:00,s2,fm-us,1,ch4_fraction,51.3,%,,,false
2026-11-01T00:30:00.250Z,s1,em1,3,energy_export,1.3,MWh,,,false
2026-11-01T00:45:00Z,s1,em1,4,energy_export,1.4,florbs,,,false
2026-11-01T01:00:00Z,s2,fm-us,2,ch4_fraction,0.5,,,,false
"""
STORED = 11


def run(*args: str, home: Path, code: int = 0) -> str:
    result = runner.invoke(app, [*args], env={"MRV_HOME": str(home), "COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


def export(home: Path, *args: str) -> str:
    return run("readings", "export", "--project", P, *args, home=home)


def import_(path: Path, home: Path, code: int = 0) -> str:
    return run("readings", "import", str(path), "--project", P, home=home, code=code)


def fresh(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    run("plan", "load", str(TEST_PLAN), home=home)
    return home


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Path, str]:
    """A home with the logger's readings, and their CSV export."""
    home = fresh(tmp_path, "a")
    logger = tmp_path / "logger.csv"
    logger.write_text(LOGGER)
    out = import_(logger, home)
    assert f"{STORED} stored" in out and "1 quarantined" in out, out
    assert "line 12: unit_unknown (readings[0].unit)" in out  # the row, by its line
    return home, export(home)


def test_an_export_imports_back_unchanged(loaded, tmp_path: Path) -> None:
    home, exported = loaded
    lines = exported.splitlines()
    assert lines[0] == ",".join(NAMES) and len(lines) == 1 + STORED
    path = tmp_path / "export.csv"
    path.write_text(exported)

    # into its own home: nothing new, every row a duplicate
    out = import_(path, home)
    assert f"{STORED} rows" in out and "0 stored" in out and f"{STORED} duplicates" in out
    assert "0 conflicts" in out and "0 quarantined" in out
    assert export(home) == exported

    # into another home: the same rows, byte for byte (received times kept)
    other = fresh(tmp_path, "b")
    assert f"{STORED} stored" in import_(path, other)
    assert export(other) == exported

    # JSON Lines: the same table, the same round trip
    jsonl = export(home, "--format", "jsonl")
    records = [json.loads(line) for line in jsonl.splitlines()]
    assert all(list(r) == list(NAMES) for r in records)
    cells = [[readings_table.csv_cell(v) for v in r.values()] for r in records]
    assert [",".join(c) for c in cells] == lines[1:]  # no cell here needs quoting
    (tmp_path / "export.jsonl").write_text(jsonl)
    third = fresh(tmp_path, "c")
    assert f"{STORED} stored" in import_(tmp_path / "export.jsonl", third)
    assert export(third, "--format", "jsonl") == jsonl
    assert export(third) == exported


def test_the_export_is_a_valid_table_that_pandas_reads(loaded, tmp_path: Path) -> None:
    _, exported = loaded
    path = tmp_path / "readings.csv"
    path.write_text(exported)
    schema = Schema.from_descriptor(readings_table.table_schema())
    report = Resource(path=path.name, basepath=str(tmp_path), schema=schema).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    # the schema says how to read each column: text as text (an id "007" stays "007")
    text = [f["name"] for f in readings_table.table_schema()["fields"] if f["type"] == "string"]
    frame = pd.read_csv(path, parse_dates=["time", "received"], dtype=dict.fromkeys(text, str))
    assert list(frame.columns) == list(NAMES)
    first = frame.iloc[0]
    assert (first["device"], first["quantity"], first["unit"]) == (
        "fm-us",
        "ch4_fraction",
        "dimensionless",
    )
    energy = frame[(frame["quantity"] == "energy_export") & (frame["seq"] == 1)].iloc[0]
    assert energy["value"] == 1.1 * 1000 and energy["raw_value"] == 1.1
    assert energy["raw_unit"] == "MWh" and energy["unit"] == "kWh"
    assert str(frame["time"].dt.tz) == "UTC"
    interval = frame[frame["kind"] == "interval"]
    assert list(interval["interval_s"]) == [900.0, 900.0]
    assert list(frame["historical"]) == [False] * 7 + [True, True] + [False] * 2
    last = frame.iloc[-1]
    assert (last["raw_value"], last["unit"]) == (0.5, "dimensionless")
    assert pd.isna(last["raw_unit"])  # sent without a unit: an empty cell


def _edited(exported: str, seq: str, quantity: str, **cells: str) -> str:
    """The export with the row of em1's ``seq`` and ``quantity`` given other cells."""
    lines = exported.splitlines()
    for i, line in enumerate(lines[1:], start=1):
        row = dict(zip(NAMES, line.split(","), strict=True))
        if (row["device"], row["seq"], row["quantity"]) == ("em1", seq, quantity):
            lines[i] = ",".join({**row, **cells}.values())
    return "\n".join(lines) + "\n"


def test_a_changed_value_is_a_conflict_and_the_stored_value_is_kept(loaded, tmp_path: Path) -> None:
    home, exported = loaded
    path = tmp_path / "changed.csv"
    # power is in kW, its canonical unit: value and raw value change together
    path.write_text(_edited(exported, "1", "power", value="21.0", raw_value="21.0"))
    out = import_(path, home)
    assert "0 stored" in out and f"{STORED - 1} duplicates" in out and "1 conflicts" in out
    assert "line 8: conflict (readings[2].value)" in out and "differs from the stored 20" in out
    assert export(home) == exported
    listed = run("quarantine", "list", "--format", "jsonl", home=home).splitlines()
    listed = [json.loads(x) for x in listed]
    assert [e["reason"] for e in listed] == ["unit_unknown", "conflict"]
    # each batch is a link of the project's chain, as the gateway's are; all verify
    verdict = json.loads(run("audit", "verify", "--project", P, "--json", home=home))
    assert verdict["intact"], verdict


def test_a_value_edited_without_its_raw_value_is_refused(loaded, tmp_path: Path) -> None:
    home, exported = loaded
    path = tmp_path / "edited.csv"
    line = 1 + exported.splitlines().index(
        next(x for x in exported.splitlines() if ",em1,1,energy_export," in x)
    )
    path.write_text(_edited(exported, "1", "energy_export", value="1200.0"))
    out = import_(path, home, code=1)
    assert f"line {line}, column value: 1200.0 is not raw_value 1.1 MWh in kWh" in out
    assert "nothing was imported" in out


GOOD = "2026-11-02T00:00:00Z,s1,em1,100,energy_export,1.5,MWh,false\n"
HEAD = "time,site,device,seq,quantity,value,unit,historical\n"
ROW = "2026-11-02T00:00:00Z,s1,em1,100,energy_export,1.5"

#: (file, line, column, what the refusal says): each after a good row, which must not
#: be stored either.
HOSTILE = [
    ("time,site,device,seq,quantity,value,unit,colour\n", 1, "colour", "not a column"),
    ("time,site,device,seq,seq,quantity,value,unit\n", 1, "seq", "appears twice"),
    (HEAD + GOOD + "2026-11-02T00:15:00Z,s1,em1,101\n", 3, None, "4 cells, but the header"),
    (HEAD + GOOD + GOOD.replace(",100,", ",-1,"), 3, "seq", "not a whole number"),
    (HEAD + GOOD + GOOD.replace(",100,", ",1.5,"), 3, "seq", "not a whole number"),
    (HEAD + GOOD + GOOD.replace(",100,", ",99999999999999999999,"), 3, "seq", "whole number"),
    (HEAD + GOOD + GOOD.replace(",1.5,", ",nan,"), 3, "value", "not a finite number"),
    (HEAD + GOOD + GOOD.replace(",1.5,", ",1e999,"), 3, "value", "not a finite number"),
    (HEAD + GOOD + GOOD.replace(",1.5,", ",lots,"), 3, "value", "not a number"),
    (HEAD + GOOD + GOOD.replace("Z,", ","), 3, "time", "no offset"),
    (HEAD + GOOD + GOOD.replace("-11-02", "-13-02"), 3, "time", "not an RFC 3339 time"),
    (HEAD + GOOD + GOOD.replace("2026-11-02", "1999-12-31"), 3, "time", "before 2000"),
    (HEAD + GOOD + GOOD.replace(",em1,", ",em1/x,"), 3, "device", "not an id"),
    (HEAD + GOOD + GOOD.replace(",em1,", ",em\x07,"), 3, "device", "control character"),
    (HEAD + GOOD + GOOD.replace(",MWh,", "," + "k" * 300 + ","), 3, "unit", "longer than"),
    (HEAD + GOOD + GOOD.replace(",false", ",maybe"), 3, "historical", "not true or false"),
    (HEAD + GOOD + GOOD.replace(",s1,", ",,"), 3, "site", "missing"),
    ("time,site,device,seq,quantity,unit\n" + ROW[:-4] + ",MWh\n", 2, "value", "missing"),
    (
        "time,project,site,device,seq,quantity,value,unit\n"
        "2026-11-02T00:00:00Z,other,s1,em1,100,energy_export,1.5,MWh\n",
        2,
        "project",
        "is not 'test-proj'",
    ),
    ("time,site,device,seq,quantity,raw_unit\n" + ROW[:-4] + ",MWh\n", 2, "raw_value", "missing"),
    (
        "time,site,device,seq,quantity,value,unit,kind\n" + ROW + ",MWh,sometimes\n",
        2,
        "kind",
        "not one of cumulative",
    ),
    (
        "time,site,device,seq,quantity,value,unit,received\n" + ROW + ",MWh,2099-01-01T00:00Z\n",
        2,
        "received",
        "in the future",
    ),
    ("", 1, None, "empty: no header"),
]


@pytest.mark.parametrize("text,line,column,why", HOSTILE, ids=[h[3] for h in HOSTILE])
def test_a_file_that_is_not_a_readings_table_is_refused_whole(
    tmp_path: Path, text: str, line: int, column: str | None, why: str
) -> None:
    home = fresh(tmp_path, "h")
    path = tmp_path / "hostile.csv"
    path.write_text(text)
    out = import_(path, home, code=1)
    where = f"line {line}" + (f", column {column}" if column else "")
    assert f"{where}: " in out and why in out, out
    assert "nothing was imported" in out
    assert export(home).splitlines() == [",".join(NAMES)]


def test_bytes_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    home = fresh(tmp_path, "u")
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEAD + GOOD).encode() + GOOD.replace("em1", "em\xe9").encode("latin-1"))
    out = import_(path, home, code=1)
    assert "not UTF-8 text" in out and "nothing was imported" in out


def test_an_import_is_bounded_in_rows(tmp_path: Path) -> None:
    home = fresh(tmp_path, "m")
    text = HEAD + "".join(GOOD.replace(",100,", f",{100 + i},") for i in range(3))
    store = SQLiteTimeSeriesStore(home / "readings.sqlite")
    db = Database(f"sqlite:///{home / 'mrv.sqlite'}")
    processor = BatchProcessor(store, db, actor="test")
    try:
        with pytest.raises(TableError, match="line 4: more than 2 rows"):
            import_table(processor, P, io.StringIO(text), max_rows=2)
        assert store.count(P) == 0
        done = import_table(processor, P, io.StringIO(text), max_rows=3)
        assert (done.rows, done.stored) == (3, 3)
    finally:
        store.close()
        db.dispose()
