"""The issue's Must show, as a user sees it: after the default demo (30 simulated days,
with its injected faults), the landfill report of the demo's period shows the register
correction as a material finding, with its tonnes and the readings behind it (the one
before the reset, the reset itself, and those that bracket the period)."""

from __future__ import annotations

import json
import os
from itertools import pairwise
from pathlib import Path

from tests.cli.test_demo import mrv, periods_of

LANDFILL = "mx-landfill-flare"


def test_the_demo_landfill_correction_is_a_material_finding(tmp_path: Path) -> None:
    env = {**os.environ, "MRV_HOME": str(tmp_path / "home"), "COLUMNS": "160"}
    run = mrv(env, "demo", timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    period = periods_of(env, LANDFILL)[-1]
    out = tmp_path / "landfill.json"
    made = mrv(env, "report", "--project", LANDFILL, "--start", str(period["start"]),
               "--end", str(period["end"]), "-q", "--out", str(out), timeout=300)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "material" in made.stderr  # the headline on the command's own line
    report = json.loads(out.read_text())
    headline = report["findings_headline"]
    register = [f for f in report["findings"] if f["kind"] == "register"]
    assert register, report["findings"]
    finding = max(register, key=lambda f: f["tco2"])
    assert finding["severity"] == "material"
    assert finding["tco2"] > headline["threshold_tco2"] > 0
    assert finding["effect_tco2"] == -finding["tco2"]  # the correction lowers ER
    readings = [e for e in finding["evidence"] if e["kind"] == "reading"]
    corrections = {e["key"] for e in finding["evidence"] if e["kind"] == "correction"}
    assert corrections and corrections <= {c["id"] for c in report["corrections"]}
    # the readings behind it, by device/quantity/seq, each with its time and value: the
    # reset is a reading lower than the one before it
    assert len(readings) >= 3
    assert all(e["key"].count("/") == 2 and e["time"] and e["value"] is not None for e in readings)
    values = [e["value"] for e in sorted(readings, key=lambda e: int(e["key"].rsplit("/", 1)[1]))]
    assert any(later < earlier for earlier, later in pairwise(values))
    assert headline["material"] >= 1
