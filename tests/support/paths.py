"""Where the tests find the example plans and their own data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PLANS = ROOT / "examples" / "plans"
SOLAR_PLAN = PLANS / "solar-pv-rooftops.yaml"
DATA = ROOT / "tests" / "data"
TEST_PLAN = DATA / "test-plan.yaml"
#: A path that cannot exist and cannot be made, whoever runs the tests (root included):
#: its parent is this file. Unlike "/nonexistent/…", which anything run as root may create.
NOWHERE = Path(__file__).resolve() / "nowhere"
