"""Where the tests find the example plans and their own data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PLANS = ROOT / "examples" / "plans"
SOLAR_PLAN = PLANS / "solar-pv-rooftops.yaml"
DATA = ROOT / "tests" / "data"
TEST_PLAN = DATA / "test-plan.yaml"
