"""`mrv demo` end to end as a user runs it (two simulated days, to keep it short)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
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


def test_demo_runs_end_to_end_and_leaves_its_data(tmp_path: Path):
    env = {**os.environ, "MRV_HOME": str(tmp_path / "home"), "COLUMNS": "160"}
    run = mrv(env, "demo", "--days", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    for project in ("th-solar-rooftops", "id-mall-chillers", "mx-landfill-flare"):
        assert project in run.stdout
    assert "some messages were not acknowledged" not in run.stdout
    # each project's emission reductions, from a real report over the simulated days
    assert "emission reductions" in run.stdout and "no report" not in run.stdout
    for project in ("th-solar-rooftops", "id-mall-chillers", "mx-landfill-flare"):
        line = next(x for x in run.stdout.splitlines()[::-1] if x.startswith(f"│ {project}"))
        assert float(line.split("│")[2].replace(",", "")) > 0, line  # reference emissions
    # the data stays for the operator commands
    rows = landfill_rows(env)
    assert len(rows) > 1000
    assert {r["quantity"] for r in rows} >= {"gas_flow_normal", "ch4_fraction", "flare_temperature"}
    # a second run replaces the first one's data instead of adding to it
    again = mrv(env, "demo", "--days", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(landfill_rows(env)) == len(rows)


def test_demo_refuses_a_folder_with_other_data(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "mrv.sqlite").write_bytes(b"")
    run = mrv({**os.environ, "MRV_HOME": str(home)}, "demo", "--days", "1", timeout=60)
    assert run.returncode == 1
    assert "already holds data" in run.stdout + run.stderr
