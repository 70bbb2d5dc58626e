"""Evidence bundles through the ``mrv`` command: a period exported, verified offline by
computing its report again from the bundle's own files; a bundle with one reading
changed fails and names the figures it moves; signatures pin the installation's key."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrv.cli.main import app
from persistence import readings_table
from persistence.records import define_period
from tests.support.paths import NOWHERE, SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest, ms

P = "th-solar-rooftops"
CALIBRATION = {
    "device": "pv-a-meter",
    "calibrated_on": "2026-04-20",
    "certificate": "TISI-CAL-2026-0420-007",
    "result": "within_tolerance",
    "error_pct": 0.12,
}
runner = CliRunner()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    home = tmp_path_factory.mktemp("home")
    project = ProjectUnderTest(home, SOLAR_PLAN.read_text())
    start = ms("2026-05-01T00:00:00Z")
    project.readings(
        (start + h * 3_600_000, meter, "energy_export", 1000.0 + step * h, "kWh")
        for meter, step in (("pv-a-meter", 50.0), ("pv-b-meter", 20.0))
        for h in range(61 * 24)
    )
    project.entry("calibration_certificate", CALIBRATION, "0c8a4e7e-1d2b-4c55-9e61-3f2a1b0c9d8e")
    with project.db.session() as s, s.begin():
        define_period(s, P, date(2026, 1, 1), date(2026, 6, 30), "test")
    project.close()
    out = home.parent / "bundle.zip"
    result = runner.invoke(
        app,
        [
            "evidence",
            "export",
            "--project",
            P,
            "--period",
            "1",
            "--out",
            str(out),
            "--home",
            str(home),
        ],
    )
    assert result.exit_code == 0, result.output
    return home, out


def check(path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["evidence", "verify", str(path), *args], terminal_width=200)
    return result.exit_code, result.stdout


def test_a_bundle_recomputes_its_report(bundle: tuple[Path, Path]) -> None:
    home, path = bundle
    code, out = check(path)
    assert code == 0, out
    assert "key in the bundle" in out  # trusted, and said so
    assert "match    emission reductions (tCO2)" in out
    assert "MISMATCH" not in out and "problem" not in out
    key = runner.invoke(app, ["audit", "key", "--home", str(home)]).stdout.strip()
    code, out = check(path, "--key", key)
    assert code == 0 and "pinned key" in out, out


def test_the_bundle_holds_what_a_verifier_needs(bundle: tuple[Path, Path]) -> None:
    home, path = bundle
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        report = json.loads(z.read("report.json"))
        readings = z.read("readings.jsonl").decode().splitlines()
    assert {
        "report.json",
        "checkpoint.json",
        "chain.jsonl",
        "readings.jsonl",
        "entries.jsonl",
        "entry_revisions.jsonl",
        "plan_revisions.jsonl",
        "quarantine.jsonl",
        "events.jsonl",
        "key.txt",
        "manifest.sig",
    } <= names
    assert set(manifest["files"]) == names - {"manifest.json", "manifest.sig"}
    assert manifest["period"] == {"number": 1, "start": "2026-01-01", "end": "2026-06-30"}
    assert report["checkpoint"]["length"] > 0
    assert len(readings) == 2 * 61 * 24
    # the readings table of ``mrv readings export``: every reading here is in the
    # period, so the two hold the same lines (the bundle orders them by series)
    assert list(json.loads(readings[0])) == list(readings_table.NAMES)
    export = runner.invoke(
        app,
        ["readings", "export", "--project", P, "--format", "jsonl", "--home", str(home)],
    )
    assert export.exit_code == 0, export.output
    assert sorted(readings) == sorted(export.stdout.splitlines())


def rewritten(path: Path, out: Path, change) -> Path:
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    change(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    out.write_bytes(buffer.getvalue())
    return out


def test_one_reading_changed_fails_naming_the_figure(bundle, tmp_path: Path) -> None:
    _, path = bundle

    def change_a_reading(files: dict[str, bytes]) -> None:
        lines = files["readings.jsonl"].decode().splitlines()
        # the register at the end of the period reads higher: more energy, more credits
        for i, line in enumerate(lines):
            row = json.loads(line)
            if row["device"] == "pv-a-meter" and row["time"] == "2026-06-30T23:00:00.000Z":
                row["value"] += 5.0  # MWh (canonical)
                lines[i] = json.dumps(row, sort_keys=True)
        files["readings.jsonl"] = ("\n".join(lines) + "\n").encode()

    code, out = check(rewritten(path, tmp_path / "b.zip", change_a_reading))
    assert code == 1
    assert "readings.jsonl: its SHA-256 is not the manifest's" in out
    assert "MISMATCH parameter EG_grid at MP-A (MWh)" in out
    assert "MISMATCH emission reductions, unrounded (tCO2)" in out
    assert "NOT verified" in out


def test_an_unlisted_file_and_a_foreign_key_are_refused(bundle, tmp_path: Path) -> None:
    _, path = bundle
    code, out = check(rewritten(path, tmp_path / "b.zip", lambda f: f.update({"x.txt": b"x"})))
    assert code == 1 and "x.txt: in the bundle, not in the manifest" in out
    other = "ed25519:" + "A" * 43 + "="
    code, out = check(path, "--key", other)
    assert code == 1 and "not signed by this key" in out and "bad signature" in out


def test_a_damaged_bundle_is_an_error_not_a_crash(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    result = runner.invoke(app, ["evidence", "verify", str(junk)])
    assert result.exit_code == 1 and "not a zip file" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_unwritable_out_is_a_one_line_error(bundle: tuple[Path, Path]) -> None:
    home, _ = bundle
    for command in (
        ["evidence", "export", "--project", P, "--period", "1"],
        ["audit", "checkpoint", "--project", P],
    ):
        result = runner.invoke(app, [*command, "--out", str(NOWHERE / "x"), "--home", str(home)])
        assert result.exit_code == 1 and "--out:" in result.output, result.output
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    unknown = runner.invoke(
        app,
        [
            "evidence",
            "export",
            "--project",
            P,
            "--period",
            "9",
            "--out",
            "/tmp/x.zip",
            "--home",
            str(home),
        ],
    )
    assert unknown.exit_code == 1 and "no period 9" in unknown.output
