"""The field app's forms (pure, no GUI) agree with the server: what they accept, the
server accepts; what they refuse, they refuse naming the field, offline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.catalogue import catalogue
from core.entries import EntryIn, validate_against_plan
from mobile_app.forms import ENTRY_TYPES, FormContext, check, check_gps, defaults, refresh_choices
from tests.support.paths import SOLAR_PLAN
from verification.plan_check import load_plan_file

NOW = datetime(2026, 6, 20, 3, 0, tzinfo=UTC)
PLAN = load_plan_file(SOLAR_PLAN)


def context(site: str = "rayong-a") -> FormContext:
    return FormContext(PLAN.model_dump(mode="json"), catalogue(), site, now=NOW)


FILLED = {
    "meter_reading": {"device": "pv-a-meter", "quantity": "energy_export", "value": "61.2", "unit": "MWh"},
    "fuel_invoice": {
        "invoice_number": "INV-2026-0611", "supplier": "PTT", "period_start": "2026-05-01",
        "period_end": "2026-05-31", "monitoring_point": "MP-A", "value": "88.1", "unit": "MWh",
    },
    "calibration_certificate": {
        "device": "pv-a-meter", "certificate": "TISI-0611", "result": "within_tolerance",
        "error_pct": "0.2", "tolerance_pct": "0.5",
    },
    "weighbridge_ticket": {
        "ticket_number": "WB-7781", "material": "biomass residue",
        "net_mass.value": "12.4", "net_mass.unit": "tonne",
    },
    "site_visit_checklist": {"items": "seals_intact,display_readable", "notes": "panels dusty"},
}  # fmt: skip


@pytest.mark.parametrize("entry_type", ENTRY_TYPES)
def test_a_filled_form_makes_an_entry_the_server_accepts(entry_type: str) -> None:
    ctx = context()
    values = refresh_choices(entry_type, ctx, {**defaults(entry_type, ctx), **FILLED[entry_type]})
    body, errors = check(entry_type, ctx, values)
    assert errors == {} and body is not None
    entry = EntryIn.model_validate(
        {
            "id": "0b6a3e4e-3c1d-4d55-9a61-7d2f8f0e9a10",
            "type": entry_type,
            "author": "somchai.k",
            "body": body,
        }
    )
    problems = validate_against_plan(entry, PLAN, now=NOW)
    if entry_type == "weighbridge_ticket":
        # the solar plan has no weighbridge parameter: the server says so, by field
        assert [p.field for p in problems] in ([], ["body.parameter"], ["body"])
    else:
        assert problems == []


def test_choices_follow_the_plan_and_the_catalogue() -> None:
    ctx = context("koh-site")
    values = defaults("meter_reading", ctx)
    assert values["device"] == ""  # two devices at this site: the person chooses
    values = refresh_choices("meter_reading", ctx, {**values, "device": "koh-pyranometer"})
    assert values["quantity"] == "irradiance" and values["unit"] == "W/m2"
    values = refresh_choices("meter_reading", ctx, {**values, "device": "pv-koh-meter"})
    assert values["quantity"] == ""  # irradiance is not this meter's: cleared


def test_mistakes_are_named_before_anything_is_sent() -> None:
    ctx = context()
    base = refresh_choices(
        "meter_reading", ctx, {**defaults("meter_reading", ctx), **FILLED["meter_reading"]}
    )
    cases = {
        "value": {"value": "sixty"},
        "time": {"time": "2026-07-20 10:00"},  # a month ahead of NOW
    }
    for field, change in cases.items():
        _, errors = check("meter_reading", ctx, {**base, **change})
        assert list(errors) == [field], errors
    # a register cannot show more than it can hold: MWh typed as kWh the other way round
    _, errors = check("meter_reading", ctx, {**base, "value": "200000", "unit": "MWh"})
    assert "largest value" in errors["value"]
    _, errors = check("meter_reading", ctx, {**base, "value": "-5"})
    assert "plausible range" in errors["value"]
    # before the meter was installed (2025-12-20)
    _, errors = check("meter_reading", ctx, {**base, "time": "2025-11-01 10:00"})
    assert "installed" in errors["time"]
    _, errors = check("fuel_invoice", ctx, {**FILLED["fuel_invoice"], "period_end": "2026-04-01"})
    assert list(errors) == ["period_end"]
    _, errors = check(
        "calibration_certificate",
        ctx,
        {**FILLED["calibration_certificate"], "calibrated_on": "2026-06-11", "error_pct": "0.9"},
    )
    assert list(errors) == ["result"]  # 0.9 % is outside the 0.5 % tolerance
    _, errors = check("calibration_certificate", ctx, {"device": "pv-a-meter"})
    assert set(errors) == {"calibrated_on", "certificate", "result", "error_pct"}


def test_hand_entered_positions() -> None:
    assert check_gps("", "", "") == (None, {})
    assert check_gps("12.7", "101.1", "8") == ({"lat": 12.7, "lon": 101.1, "accuracy_m": 8.0}, {})
    assert set(check_gps("95", "101.1", "")[1]) == {"lat"}
    assert set(check_gps("12.7", "", "")[1]) == {"lon"}
    assert set(check_gps("12.7", "101.1", "-3")[1]) == {"accuracy_m"}


def test_the_app_imports_nothing_of_the_server(tmp_path) -> None:
    """The app packages for Android with Kivy and the standard library: none of the
    server's packages (nor their dependencies) may creep into its imports."""
    import os
    import subprocess
    import sys

    probe = (
        "import sys, mobile_app.app, mobile_app.main; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'mrv', 'gateway', 'verification',"
        " 'firmware_sim', 'pydantic', 'sqlalchemy', 'fastapi', 'pint', 'numpy', 'httpx'}); "
        "print(','.join(bad))"
    )
    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_HOME": str(tmp_path),
    }
    found = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == ""
