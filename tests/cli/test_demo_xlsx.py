"""The demo's workbooks, recalculated by LibreOffice, equal their JSON reports: every
project, every period the demo leaves (its defined monitoring periods, or else the span it
simulated and reported on)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.test_demo import mrv
from tests.support.libreoffice import recalculated_values
from tests.support.workbook import assert_workbook_equals_report, calc_formulas
from verification.report_model import Report

PROJECTS = ("th-solar-rooftops", "id-mall-chillers", "mx-landfill-flare")
DAYS = 2


def _periods(env: dict[str, str], project: str) -> list[tuple[str, str]]:
    listed = mrv(env, "periods", "list", "--project", project, "--format", "jsonl", timeout=60)
    assert listed.returncode == 0, listed.stderr
    periods = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    if periods:
        return [(p["start"], p["end"]) for p in periods]
    # the demo reports on the whole UTC days it simulated, up to yesterday
    end = datetime.now(UTC).date() - timedelta(days=1)
    return [((end - timedelta(days=DAYS - 1)).isoformat(), end.isoformat())]


def test_demo_workbooks_equal_their_json_reports(tmp_path: Path):
    env = {**os.environ, "MRV_HOME": str(tmp_path / "home"), "COLUMNS": "160"}
    run = mrv(env, "demo", "--days", str(DAYS))
    assert run.returncode == 0, run.stdout + run.stderr
    checked = 0
    for project in PROJECTS:
        for start, end in _periods(env, project):
            files = {}
            for fmt in ("json", "xlsx"):
                out = tmp_path / f"{project}-{start}.{fmt}"
                args = ("--project", project, "--start", start, "--end", end)
                made = mrv(env, "report", *args, "--format", fmt, "--out", str(out))
                assert made.returncode == 0, made.stdout + made.stderr
                files[fmt] = out.read_bytes()
            report = Report.model_validate_json(files["json"])
            folder = tmp_path / f"lo-{project}-{start}"
            folder.mkdir()
            calc = recalculated_values(files["xlsx"], folder)["MRS_calc"]
            assert_workbook_equals_report(report, calc, calc_formulas(files["xlsx"]))
            checked += 1
    assert checked >= len(PROJECTS)
