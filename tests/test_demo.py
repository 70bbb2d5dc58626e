"""`mrv demo` end to end as a user runs it (two simulated days, to keep it short)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end_and_leaves_its_data(tmp_path: Path):
    env = {**os.environ, "MRV_HOME": str(tmp_path / "home"), "COLUMNS": "160"}
    run = subprocess.run(
        [sys.executable, "-m", "mrv.cli", "demo", "--days", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    for project in ("th-solar-rooftops", "id-mall-chillers", "mx-landfill-flare"):
        assert project in out
    assert "some messages were not acknowledged" not in out
    # the data stays for the operator commands
    export = subprocess.run(
        [sys.executable, "-m", "mrv.cli", "readings", "export", "--project", "mx-landfill-flare"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert len(rows) > 1000
    assert {r["quantity"] for r in rows} >= {"gas_flow_normal", "ch4_fraction", "flare_temperature"}
    # a second run replaces the first one's data instead of adding to it
    again = subprocess.run(
        [sys.executable, "-m", "mrv.cli", "demo", "--days", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    export2 = subprocess.run(
        [sys.executable, "-m", "mrv.cli", "readings", "export", "--project", "mx-landfill-flare"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(list(csv.DictReader(io.StringIO(export2.stdout)))) == len(rows)


def test_demo_refuses_a_folder_with_other_data(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "mrv.sqlite").write_bytes(b"")
    run = subprocess.run(
        [sys.executable, "-m", "mrv.cli", "demo", "--days", "1"],
        env={**os.environ, "MRV_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "already holds data" in run.stdout + run.stderr
