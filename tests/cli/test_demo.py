"""`mrv demo` end to end as a user runs it (two simulated days, to keep it short)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


def mrv(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mrv.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def landfill_rows(env: dict[str, str]) -> list[dict[str, str]]:
    export = mrv(env, "readings", "export", "--project", "mx-landfill-flare", timeout=60)
    assert export.returncode == 0, export.stderr
    return list(csv.DictReader(io.StringIO(export.stdout)))


def periods_of(env: dict[str, str], project: str) -> list[dict[str, object]]:
    listed = mrv(env, "periods", "list", "--project", project, "--format", "jsonl", timeout=60)
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def test_demo_runs_end_to_end_and_leaves_its_data(tmp_path: Path):
    env = {**os.environ, "MRV_HOME": str(tmp_path / "home"), "COLUMNS": "160"}
    run = mrv(env, "demo", "--days", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    for project in ("th-solar-rooftops", "id-mall-chillers", "mx-landfill-flare"):
        assert project in run.stdout
    assert "some messages were not acknowledged" not in run.stdout
    # the quarantine summary: a header only over reasons (it once printed nothing under it)
    lines = run.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("quarantined by reason"):
            assert re.match(r"  [a-z0-9-]+: [a-z_]+ \d+", lines[i + 1]), lines[i : i + 3]
    # each project's emission reductions, from a real report over the simulated days
    assert "emission reductions" in run.stdout and "no report" not in run.stdout
    for project in ("th-solar-rooftops", "id-mall-chillers", "mx-landfill-flare"):
        line = next(x for x in run.stdout.splitlines()[::-1] if x.startswith(f"│ {project}"))
        assert float(line.split("│")[2].replace(",", "")) > 0, line  # reference emissions
    # the data stays for the operator commands
    rows = landfill_rows(env)
    assert len(rows) > 1000
    assert {r["quantity"] for r in rows} >= {"gas_flow_normal", "ch4_fraction", "flare_temperature"}
    # each project has a monitoring period of the simulated days, after one that fills the
    # crediting period up to them, and the period's evidence bundle can be exported
    today = datetime.now(UTC).date()
    simulated = (today - timedelta(days=2), today - timedelta(days=1))
    for project, crediting_start in (
        ("th-solar-rooftops", date(2026, 1, 1)),
        ("id-mall-chillers", date(2026, 4, 1)),
    ):
        periods = periods_of(env, project)
        spans = [(p["start"], p["end"]) for p in periods]
        assert spans[-1] == tuple(d.isoformat() for d in simulated), spans
        assert spans[0][0] == crediting_start.isoformat()
        assert all(p["actor"] == "demo" for p in periods)
        assert f"{project}: 1: {crediting_start}" in run.stdout.replace("\n  ", " ")
    bundle = tmp_path / "bundle.zip"
    last = periods_of(env, "th-solar-rooftops")[-1]["number"]
    export = mrv(
        env,
        "evidence",
        "export",
        "--project",
        "th-solar-rooftops",
        "--period",
        str(last),
        "--out",
        str(bundle),
    )
    assert export.returncode == 0, export.stderr
    assert bundle.stat().st_size > 10_000
    # a second run replaces the first one's data instead of adding to it
    again = mrv(env, "demo", "--days", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(landfill_rows(env)) == len(rows)
    assert periods_of(env, "th-solar-rooftops")[-1]["start"] == simulated[0].isoformat()


def test_demo_refuses_a_folder_with_other_data(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "mrv.sqlite").write_bytes(b"")
    run = mrv({**os.environ, "MRV_HOME": str(home)}, "demo", "--days", "1", timeout=60)
    assert run.returncode == 1
    assert "already holds data" in run.stdout + run.stderr
