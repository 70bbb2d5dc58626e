"""Each aggregation, gap and calibration rule, option B, cross-checks, plausibility and
the determinism of ``inputs_sha256``, through the real path (plan -> gateway pipeline ->
SQLite store -> report)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import numpy as np
import pytest
import yaml

from gateway.decode import Inbound
from persistence.records import Conflict, change_entry_status, entry_history
from tests.support.paths import PLANS, SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest, ms, with_blower_meter
from tests.verification.test_verification_path import CASE_5_PLAN, GAS_PLAN

D = date.fromisoformat
HOUR = 3_600_000


@pytest.fixture
def project(tmp_path):
    made: list[ProjectUnderTest] = []

    def make(plan_text: str, db_url: str | None = None) -> ProjectUnderTest:
        folder = tmp_path / f"p{len(made)}"
        folder.mkdir()
        p = ProjectUnderTest(folder, plan_text, db_url)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def solar(**device_edits: dict[str, Any]) -> str:
    plan = yaml.safe_load(SOLAR_PLAN.read_text())
    plan["project"]["crediting_period"]["start"] = "2024-01-01"
    for d in plan["devices"]:
        # the readings of these tests start in 2024: so does the devices' life
        d["installed"] = "2024-01-01"
        d.update(device_edits.get(d["id"].replace("-", "_"), {}))
    extra = device_edits.get("_extra_devices")
    if extra:
        plan["devices"] += extra  # type: ignore[operator]
    points = device_edits.get("_points")
    if points:
        for mp in plan["monitoring_points"]:
            mp.update(points.get(mp["id"], {}))
    return yaml.safe_dump(plan, sort_keys=False)


def eg_rows(device: str, pairs: list[tuple[str, float]], unit: str = "kWh") -> list[tuple]:
    return [(t, device, "energy_export", v, unit) for t, v in pairs]


def mp_a(report) -> Any:
    return next(x for x in report.parameters if x.monitoring_point == "MP-A")


# -- registers -------------------------------------------------------------------------


def test_rollover_is_added_back_and_a_reset_counts_zero(project) -> None:
    p = project(solar(pv_a_meter={"register_max": 100_000.0}))
    p.readings(
        eg_rows(
            "pv-a-meter",
            [
                ("2025-06-01T00:00:00Z", 97_000),
                ("2025-06-10T23:45:00Z", 99_900),
                ("2025-06-11T00:00:00Z", 100),  # rolled over: +200
                ("2025-06-20T00:00:00Z", 30_000),
                ("2025-06-20T00:15:00Z", 10),  # reset: that quarter's energy is unknown
                ("2025-07-01T00:00:00Z", 5_010),
            ],
        )
    )
    r = p.report(D("2025-06-01"), D("2025-06-30"))
    # after the reset only new highs count: the 5,000 kWh back up to 30,000 are not
    assert mp_a(r).value == pytest.approx((2_900 + 200 + 29_900) / 1000)
    assert "1 register rollover" in mp_a(r).method
    reset = next(c for c in r.corrections if c.rule == "only_new_highs_counted")
    assert reset.id in mp_a(r).corrections and reset.delta == pytest.approx(-5.0)


def test_a_drop_across_a_gap_is_a_reset_not_a_rollover(project) -> None:
    """A day without readings, then the register is lower: it may have rolled over or
    been reset; the reference parameter counts the reset."""
    p = project(solar(pv_a_meter={"register_max": 100_000.0}))
    p.readings(
        eg_rows(
            "pv-a-meter",
            [
                ("2025-06-01T00:00:00Z", 97_000),
                ("2025-06-10T00:00:00Z", 99_000),
                ("2025-06-11T00:00:00Z", 1_000),  # a rollover (+2,000) or a reset?
                ("2025-07-01T00:00:00Z", 5_000),
            ],
        )
    )
    r = p.report(D("2025-06-01"), D("2025-06-30"))
    # as a reset, the register counts again only above its old high of 99,000
    assert mp_a(r).value == pytest.approx(2_000 / 1000)
    c = next(c for c in r.corrections if c.rule == "drop_across_gap_is_reset")
    assert c.delta == pytest.approx(-6.0) and c.effect_tco2 == pytest.approx(-3.0)


def test_meter_replacement_joins_the_old_and_new_registers(project) -> None:
    new_meter = {
        "id": "pv-a-meter-2",
        "site": "rayong-a",
        "type": "ac_energy_meter",
        "serial": "NEW-2",
        "quantities": ["energy_export"],
        "max_permissible_error_pct": 0.5,
        "register_max": 99999999.9,
        "installed": "2025-06-15",
        "replaces": "pv-a-meter",
        "expected_interval_s": 900,
    }
    p = project(
        solar(
            pv_a_meter={"installed": "2024-12-01", "removed": "2025-06-15"},
            _extra_devices=[new_meter],
            _points={"MP-A": {"device": "pv-a-meter-2"}},
        )
    )
    p.readings(
        eg_rows(
            "pv-a-meter", [("2025-06-01T00:00:00Z", 500_000), ("2025-06-15T00:00:00Z", 560_000)]
        )
        + eg_rows("pv-a-meter-2", [("2025-06-15T00:00:00Z", 0), ("2025-07-01T00:00:00Z", 60_000)])
    )
    r = p.report(D("2025-06-01"), D("2025-06-30"))
    assert mp_a(r).value == pytest.approx(120.0)
    assert "pv-a-meter, pv-a-meter-2" in mp_a(r).source
    assert {g.rule for g in r.gaps if g.monitoring_point == "MP-A"} == {"register_bridged"}
    # the old meter's readings after its removal day are not its data
    late = p.processor.process(
        [
            Inbound(
                "mrv/v1/th-solar-rooftops/rayong-a/pv-a-meter/readings",
                b'{"device":"pv-a-meter","seq":99,"time":"2025-06-16T00:00:00Z",'
                b'"readings":[{"quantity":"energy_export","value":1,"unit":"kWh"}]}',
                0,
            )
        ]
    )
    assert dict(late.quarantined) == {"after_removal": 1}


def test_interval_series_are_summed_and_missing_intervals_count_zero(project) -> None:
    p = project(solar())
    t0 = ms("2025-03-01T00:00:00Z")
    quarter = 900_000
    rows = [
        (t0 + (k + 1) * quarter, "pv-a-meter", "energy_export", 10.0, "kWh", "interval", 900)
        for k in range(96)
        if not 40 <= k < 48  # two hours missing
    ]
    p.readings(rows)
    r = p.report(D("2025-03-01"), D("2025-03-01"))
    assert mp_a(r).value == pytest.approx(88 * 10 / 1000)
    gap = next(g for g in r.gaps if g.monitoring_point == "MP-A")
    assert (gap.rule, gap.hours) == ("zero_fill", 2.0)
    assert mp_a(r).completeness == pytest.approx(22 / 24)


# -- gap rules ------------------------------------------------------------------------


def _hourly(p: ProjectUnderTest, start: str, hours: int, missing: range, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    t0 = ms(start)
    rows: list[tuple] = []
    for h in range(hours + 1):
        if h < hours and h not in missing:
            volume = float(np.round(50 + rng.normal(0, 4), 3))
            rows.append(
                (t0 + (h + 1) * HOUR, "fm", "gas_volume_normal", volume, "Nm3", "interval", 3600)
            )
        rows.append((t0 + h * HOUR, "an", "ch4_fraction", 0.5, ""))
        rows.append((t0 + h * HOUR, "tc", "flare_temperature", 850.0, "degC"))
    p.readings(rows)


@pytest.mark.parametrize(
    ("gap_hours", "rule"),
    [(12, "lower_90_confidence_72h"), (48, "lower_95_confidence_72h")],
)
def test_california_confidence_bands(project, gap_hours: int, rule: str) -> None:
    p = project(CASE_5_PLAN)
    _hourly(p, "2026-04-01T00:00:00Z", 10 * 24, range(120, 120 + gap_hours))
    r = p.report(D("2026-04-01"), D("2026-04-10"))
    gap = next(g for g in r.gaps if g.monitoring_point == "MP-V" and g.hours == gap_hours)
    assert gap.rule == rule
    sub = next(c for c in r.corrections if c.rule == rule)
    # the lower confidence limit lies below the mean of ~50 Nm3/h
    assert 0 < sub.delta < 50 * gap_hours
    assert sub.effect_tco2 > 0


def test_conservative_rules_zero_fill_reference_and_maximise_project_parameters(project) -> None:
    plan = yaml.safe_load(GAS_PLAN)
    plan["project"]["gap_rules"] = "conservative"
    with_blower_meter(plan)
    p = project(yaml.safe_dump(plan))
    t0 = ms("2026-03-10T00:00:00Z")
    rows: list[tuple] = []
    for m in range(-10, 24 * 60 + 10):
        t = t0 + m * 60_000
        if not 600 <= m < 700:  # 100 minutes without methane fraction
            rows.append((t, "an", "ch4_fraction", 0.5, ""))
        rows += [
            (t, "fm", "gas_volume", 1000.0 + 10.0 * m, "m3"),
            (t, "tt", "gas_temperature", 0.0, "degC"),
            (t, "pt", "gas_pressure", 101.325, "kPa"),
            (t, "tc", "flare_temperature", 850.0, "degC"),
        ]
    for h in range(25):
        if h not in (5, 6, 7):  # 4 h between readings: 3 interval hours missing
            rows.append(
                (t0 + h * HOUR, "em", "energy_consumed", 3.0 * h + (0.5 if h > 7 else 0), "kWh")
            )
    p.readings(rows)
    r = p.report(D("2026-03-10"), D("2026-03-10"))
    w_gap = next(g for g in r.gaps if g.symbol == "w_CH4")
    assert w_gap.rule == "zero_fill"
    assert w_gap.hours == pytest.approx(101 / 60, abs=0.02)
    calc = {c.label: c.value for c in r.calculation}
    # 10 Nm3/min ... 0.5 CH4 except the gap (and its two edge minutes, interpolated)
    assert calc["Σ TM"] < 14400 * 0.5 * 0.716 * (1 - 99 / 1440)
    assert calc["Σ TM"] > 14400 * 0.5 * 0.716 * (1 - 102 / 1440)
    # the blower meter's register bridges its silence: measured, not substituted
    assert any(g.symbol == "EC_PJ" and g.rule == "register_bridged" for g in r.gaps)


# -- calibration rules ----------------------------------------------------------------


def _year_of_solar(p: ProjectUnderTest) -> None:
    p.readings(
        eg_rows(
            "pv-a-meter",
            [(f"2025-{m:02d}-01T00:00:00Z", 100.0 * (m - 1)) for m in range(1, 13)]
            + [("2026-01-01T00:00:00Z", 1200.0)],
            unit="MWh",
        )
    )


def _certificate(p: ProjectUnderTest, day: str, result: str, error: float) -> None:
    p.entry(
        "calibration_certificate",
        {
            "device": "pv-a-meter",
            "calibrated_on": day,
            "certificate": f"CERT-{day}",
            "result": result,
            "error_pct": error,
        },
        str(uuid.uuid5(uuid.NAMESPACE_URL, day + result)),
    )


CAL = {
    "max_permissible_error_pct": 0.5,
    "calibration": {"interval_months": 12, "last": "2024-12-15"},
}


def test_calibration_overdue_applies_the_tolerance_from_the_due_date(project) -> None:
    p = project(
        solar(pv_a_meter={**CAL, "calibration": {"interval_months": 6, "last": "2024-12-01"}})
    )
    _year_of_solar(p)
    r = p.report(D("2025-01-01"), D("2025-12-31"))
    c = next(c for c in r.corrections if c.kind == "calibration")
    assert (c.rule, c.start[:10], c.end[:10]) == ("calibration_overdue", "2025-06-01", "2026-01-01")
    assert c.delta == pytest.approx(-700 * 0.005)
    assert mp_a(r).value == pytest.approx(1200 - 3.5)


def test_calibration_error_beyond_tolerance_over_reading_corrects_down(project) -> None:
    p = project(solar(pv_a_meter=CAL))
    _year_of_solar(p)
    _certificate(p, "2025-09-01", "out_of_tolerance", 3.0)
    r = p.report(D("2025-01-01"), D("2025-12-31"))
    c = next(c for c in r.corrections if c.kind == "calibration")
    # data since the last valid calibration (2024-12-15) up to the failed one
    assert (c.rule, c.start[:10], c.end[:10]) == ("calibration_error", "2025-01-01", "2025-09-01")
    assert c.delta == pytest.approx(-800 * 0.03)
    assert c.effect_tco2 == pytest.approx(-800 * 0.03 * 0.5)


def test_calibration_error_under_reading_is_kept_for_a_reference_parameter(project) -> None:
    p = project(solar(pv_a_meter=CAL))
    _year_of_solar(p)
    _certificate(p, "2025-09-01", "out_of_tolerance", -3.0)
    r = p.report(D("2025-01-01"), D("2025-12-31"))
    assert not [c for c in r.corrections if c.kind == "calibration"]
    assert mp_a(r).value == pytest.approx(1200.0)


# -- option B, cross-checks, plausibility ---------------------------------------------


def test_meter_cross_checked_against_invoices(project) -> None:
    # the published case: a 20 MW plant's export meter against its sales invoices
    p = project(solar(pv_a_meter={"nameplate": {"capacity_kw": 20_000.0}}))
    p.readings(
        eg_rows(
            "pv-a-meter",
            [("2025-01-01T00:00:00Z", 1_000_000), ("2026-01-01T00:00:00Z", 49_797_160)],
        )
    )
    p.entry(
        "fuel_invoice",
        {
            "invoice_number": "EGAT-2025",
            "period_start": "2025-01-01",
            "period_end": "2025-12-31",
            "value": 48_804_719,
            "unit": "kWh",
            "parameter": "EG_grid",
            "monitoring_point": "MP-A",
        },
        "0b7a3a8e-0000-4000-8000-00000000000b",
    )
    r = p.report(D("2025-01-01"), D("2025-12-31"))
    check = r.cross_checks[0]
    assert check.meter_value == pytest.approx(48_797.160)
    assert check.invoice_value == pytest.approx(48_804.719)
    assert check.difference_pct == pytest.approx(-0.0155, abs=1e-4)
    assert check.used.startswith("meter") and check.invoices == ["EGAT-2025"]
    assert not [f for f in r.findings if f.severity == "error"]


def _chiller_option_b() -> str:
    plan = yaml.safe_load((PLANS / "chiller-efficiency.yaml").read_text())
    plan["parameters"] = [
        x for x in plan["parameters"] if x["symbol"] not in ("T_chw_out", "T_cw_out")
    ]
    for x in plan["parameters"]:
        if x["symbol"] == "EC_PJ":
            x.pop("monitoring_points")
            x.update(option="B", entry_type="fuel_invoice")
    return yaml.safe_dump(plan, sort_keys=False)


def _invoice(
    p: ProjectUnderTest, number: str, start: str, end: str, value: float, unit: str
) -> None:
    p.entry(
        "fuel_invoice",
        {
            "invoice_number": number,
            "period_start": start,
            "period_end": end,
            "value": value,
            "unit": unit,
            "parameter": "EC_PJ",
        },
        str(uuid.uuid5(uuid.NAMESPACE_URL, number)),
    )


def test_option_b_invoices_prorated_to_the_period(project) -> None:
    p = project(_chiller_option_b())
    _invoice(p, "PLN-05", "2026-05-01", "2026-05-31", 300.0, "MWh")
    _invoice(p, "PLN-06", "2026-06-01", "2026-06-30", 94_200.0, "kWh")  # 12 of 30 days in
    r = p.report(D("2026-05-01"), D("2026-06-12"))
    ec = next(x for x in r.parameters if x.symbol == "EC_PJ")
    assert (ec.option, ec.value) == ("B", pytest.approx(300 + 94.2 * 12 / 30))
    assert "PLN-05" in ec.source and "PLN-06" in ec.source
    prorated = next(c for c in r.corrections if c.rule == "prorated_by_days")
    assert prorated.delta == pytest.approx(-94.2 * 18 / 30)


def test_invoices_entered_twice_or_overlapping_count_once(project) -> None:
    p = project(_chiller_option_b())
    _invoice(p, "PLN-05", "2026-05-01", "2026-05-31", 300.0, "MWh")
    # the same invoice number again (a re-typed copy): the last one recorded counts
    p.entry(
        "fuel_invoice",
        {
            "invoice_number": "PLN-05",
            "period_start": "2026-05-01",
            "period_end": "2026-05-31",
            "value": 301.0,
            "unit": "MWh",
            "parameter": "EC_PJ",
        },
        str(uuid.uuid5(uuid.NAMESPACE_URL, "PLN-05 again")),
    )
    # a corrected invoice under a new number beside the original
    _invoice(p, "PLN-05-R1", "2026-05-15", "2026-05-31", 150.0, "MWh")
    r = p.report(D("2026-05-01"), D("2026-05-31"))
    ec = next(x for x in r.parameters if x.symbol == "EC_PJ")
    # the re-typed copy replaces the first; the corrected invoice's 17 days count once,
    # at the lower daily rate (a reference-raising parameter)
    assert ec.value == pytest.approx(301.0 / 31 * 14 + 150.0)
    messages = [f.message for f in r.findings if f.symbol == "EC_PJ"]
    assert any("entered more than once" in m for m in messages)
    assert any("PLN-05, PLN-05-R1 both cover 17 day(s)" in m for m in messages)


def test_a_withdrawn_or_deleted_invoice_stops_counting(project) -> None:
    """A status change is a revision: the report counts active entries only, and a
    reinstated one counts again."""
    p = project(_chiller_option_b())
    _invoice(p, "PLN-05", "2026-05-01", "2026-05-31", 300.0, "MWh")
    _invoice(p, "PLN-06", "2026-06-01", "2026-06-30", 90.0, "MWh")
    june = str(uuid.uuid5(uuid.NAMESPACE_URL, "PLN-06"))

    def ec_pj() -> float:
        r = p.report(D("2026-05-01"), D("2026-06-30"))
        return next(x.value for x in r.parameters if x.symbol == "EC_PJ")

    assert ec_pj() == pytest.approx(390.0)
    with p.db.session() as s, s.begin():
        change_entry_status(s, june, "withdrawn", "billed twice", "ops")
    assert ec_pj() == pytest.approx(300.0)
    with p.db.session() as s, s.begin():
        change_entry_status(s, june, "active", "the bill stands", "ops")
    assert ec_pj() == pytest.approx(390.0)
    with p.db.session() as s, s.begin():
        change_entry_status(s, june, "deleted", "entered in the wrong project", "ops")
        with pytest.raises(Conflict):
            change_entry_status(s, june, "active", "undo", "ops")
        history = entry_history(s, june)
    assert ec_pj() == pytest.approx(300.0)
    assert [(h.revision, h.status, h.reason) for h in history] == [
        (1, "active", None),
        (2, "withdrawn", "billed twice"),
        (3, "active", "the bill stands"),
        (4, "deleted", "entered in the wrong project"),
    ]
    assert len({h.body.model_dump_json() for h in history}) == 1  # the body is kept


def test_unit_slip_is_caught_and_not_credited(project) -> None:
    """A published MRS listed a year's grid import of 42,826,880 "MWh": clearly kWh."""
    p = project(_chiller_option_b())
    _invoice(p, "PLN-2026", "2026-04-01", "2026-12-31", 42_826_880, "MWh")
    r = p.report(D("2026-04-01"), D("2026-10-31"))
    finding = next(f for f in r.findings if f.severity == "error")
    assert finding.symbol == "EC_PJ" and "unit slip" in finding.message
    ec = next(x for x in r.parameters if x.symbol == "EC_PJ")
    assert ec.value == 0
    assert r.emission_reductions_tco2.value == 0
    # a subtler slip: the chillers' 347,200 kWh for a year typed as MWh, caught by the
    # meters. rated electrical power rather than by any site-wide limit
    q = project(_chiller_option_b())
    _invoice(q, "PLN-2026-Y", "2026-04-01", "2027-03-31", 347_200, "MWh")
    r = q.report(D("2026-04-01"), D("2026-10-31"))
    finding = next(f for f in r.findings if f.severity == "error")
    assert "rated 840 kW together" in finding.message  # 3 x 1,758.4 kW cooling / COP 6.28
    assert r.emission_reductions_tco2.value == 0


# -- determinism ----------------------------------------------------------------------


def test_same_inputs_give_the_same_report_byte_for_byte(project, tmp_path) -> None:
    rows = eg_rows(
        "pv-a-meter",
        [(f"2025-06-{d:02d}T00:00:00Z", 1000.0 * d) for d in range(1, 31)],
    ) + eg_rows("pv-b-meter", [(f"2025-06-{d:02d}T06:00:00Z", 700.0 * d) for d in range(1, 31)])
    a = project(solar())
    a.readings(rows)
    b = project(solar())
    b.readings(list(reversed(rows)))  # other arrival order, other seqs
    period = (D("2025-06-01"), D("2025-06-30"))
    first, again, other = a.report(*period), a.report(*period), b.report(*period)
    assert first.to_json() == again.to_json()
    assert len(first.inputs_sha256) == 64
    # the same readings in another order hash alike; seq is not an input of the result
    assert other.inputs_sha256 == first.inputs_sha256
    assert other.to_json() == first.to_json()
    a.readings(eg_rows("pv-a-meter", [("2025-06-15T12:00:00Z", 15_000.0)]))
    changed = a.report(*period)
    assert changed.inputs_sha256 != first.inputs_sha256


# -- methane destinations: open flare by flame, engines by output --------------------


def _gas_day(p: ProjectUnderTest, extra: Any) -> None:
    t0 = ms("2026-03-10T00:00:00Z")
    rows: list[tuple] = []
    for m in range(-2, 24 * 60 + 3):
        t = t0 + m * 60_000
        rows += [
            (t, "fm", "gas_volume", 5000.0 + 100.0 * m, "ft3"),
            (t, "tt", "gas_temperature", 20.0, "degC"),
            (t, "pt", "gas_pressure", 101.325, "kPa"),
            (t, "an", "ch4_fraction", 55.0, "%"),
        ]
        rows += extra(t, m)
    p.readings(rows)


def test_open_flare_counts_only_while_a_flame_is_detected(project) -> None:
    plan = yaml.safe_load(GAS_PLAN)
    plan["devices"][4].update(quantities=["flame_detected"], type="flame_scanner")
    plan["monitoring_points"][4]["quantity"] = "flame_detected"
    plan["parameters"][4] = {
        "symbol": "flame",
        "unit": "dimensionless",
        "option": "C",
        "monitoring_points": ["MP-TF"],
    }
    p = project(yaml.safe_dump(plan))
    # the flame is out from 06:00 to 12:00
    _gas_day(p, lambda t, m: [(t, "tc", "flame_detected", 0.0 if 360 <= m <= 720 else 1.0, "")])
    r = p.report(D("2026-03-10"), D("2026-03-10"))
    calc = {c.label: c.value for c in r.calculation}
    assert calc["operating share"] == pytest.approx(18 / 24, abs=2 / 1440)
    assert calc["CH4_destroyed"] == pytest.approx(1.49622 * 0.5 * 18 / 24, rel=2e-3)
    assert "open flare" in next(c.formula for c in r.calculation if c.label == "operating share")


def test_engine_destroys_methane_while_generating(project) -> None:
    plan = yaml.safe_load(GAS_PLAN)
    plan["devices"] += [
        {
            "id": "fe",
            "site": "s",
            "type": "flow_meter",
            "serial": "FE1",
            "quantities": ["gas_volume"],
            "register_max": 1e9,
            "max_permissible_error_pct": 1.0,
        },
        {
            "id": "gen",
            "site": "s",
            "type": "generator_meter",
            "serial": "G1",
            "quantities": ["power"],
            "max_permissible_error_pct": 0.5,
        },
    ]
    plan["monitoring_points"] += [
        {"id": "MP-VE", "device": "fe", "quantity": "gas_volume"},
        {"id": "MP-GEN", "device": "gen", "quantity": "power"},
    ]
    plan["parameters"] += [
        {"symbol": "LFG_engine", "unit": "m**3", "option": "C", "monitoring_points": ["MP-VE"]},
        {"symbol": "engine_on", "unit": "kW", "option": "C", "monitoring_points": ["MP-GEN"]},
    ]
    p = project(yaml.safe_dump(plan))
    # the flare burns all day; the engine gets as much gas and generates for 12 h
    _gas_day(
        p,
        lambda t, m: [
            (t, "tc", "flare_temperature", 870.0, "degC"),
            (t, "fe", "gas_volume", 100.0 * m + 1000.0, "ft3"),
            (t, "gen", "power", 800.0 if 0 <= m < 720 else 0.0, "kW"),
        ],
    )
    r = p.report(D("2026-03-10"), D("2026-03-10"))
    calc = {c.label: c.value for c in r.calculation}
    assert calc["CH4_destroyed"] == pytest.approx(1.34660, abs=1e-5)  # the flare, as case 4
    assert calc["Σ TM (engine)"] == pytest.approx(1496.22, abs=0.01)
    assert calc["CH4_destroyed (engine)"] == pytest.approx(1.49622 / 2, rel=2e-3)
    assert r.emission_reductions_tco2.unrounded == pytest.approx(25 * (1.34660 + 0.74811), rel=2e-3)


def test_option_b_manual_register_reads(project) -> None:
    """Hand-checked case 3 with the chiller's meter read by hand instead of monitored."""
    plan = yaml.safe_load(_chiller_option_b())
    for x in plan["parameters"]:
        if x["symbol"] == "EC_PJ":
            x.update(entry_type="meter_reading", monitoring_points=["MP-1"])
        if x["symbol"] == "COP_PJ":
            x["value"] = 6.20
    p = project(yaml.safe_dump(plan))
    for day, kwh in (("2026-04-01", 1000.0), ("2026-11-01", 348_200.0)):
        p.entry(
            "meter_reading",
            {
                "device": "ch1-meter",
                "quantity": "energy_consumed",
                "time": f"{day}T00:00:00+07:00",
                "value": kwh,
                "unit": "kWh",
            },
            str(uuid.uuid5(uuid.NAMESPACE_URL, "read" + day)),
        )
    r = p.report(D("2026-03-31"), D("2026-10-31"))  # reads at 17:00 UTC the day before
    ec = next(x for x in r.parameters if x.symbol == "EC_PJ")
    assert (ec.option, ec.value, ec.readings) == ("B", pytest.approx(347.2), 2)
    assert "manual reads of ch1-meter (2)" in ec.source
    assert r.emission_reductions_tco2.value == 35


def test_first_calibration_on_record_beyond_tolerance_corrects_from_installation(project) -> None:
    p = project(
        solar(
            pv_a_meter={
                "max_permissible_error_pct": 0.5,
                "installed": "2024-12-01",
                "calibration": {"interval_months": 12},
            }
        )
    )
    _year_of_solar(p)
    _certificate(p, "2025-09-01", "out_of_tolerance", 3.0)
    r = p.report(D("2025-01-01"), D("2025-12-31"))
    c = next(c for c in r.corrections if c.kind == "calibration")
    assert (c.rule, c.start[:10], c.end[:10]) == ("calibration_error", "2025-01-01", "2025-09-01")
    assert c.delta == pytest.approx(-800 * 0.03)


def test_never_calibrated_meter_gets_its_tolerance_against_the_project(project) -> None:
    p = project(
        solar(
            pv_a_meter={
                "max_permissible_error_pct": 0.5,
                "installed": "2024-06-01",
                "calibration": {"interval_months": 6},
            }
        )
    )
    _year_of_solar(p)
    r = p.report(D("2025-01-01"), D("2025-12-31"))
    c = next(c for c in r.corrections if c.kind == "calibration")
    assert (c.rule, c.start[:10]) == ("calibration_overdue", "2025-01-01")
    assert "no calibration on record since installation on 2024-06-01" in c.note
    assert mp_a(r).value == pytest.approx(1200 * 0.995)


def test_a_period_outside_the_crediting_period_is_not_creditable(project) -> None:
    # credits from 2026-01-01; the meter was installed before its readings of 2025
    p = project(SOLAR_PLAN.read_text().replace("installed: 2025-12-20", "installed: 2025-01-01"))
    p.readings(
        eg_rows(
            "pv-a-meter", [("2025-06-01T00:00:00Z", 0.0), ("2025-07-01T00:00:00Z", 50.0)], "MWh"
        )
    )
    r = p.report(D("2025-06-01"), D("2025-06-30"))
    assert r.emission_reductions_tco2.value == 25 and not r.emission_reductions_tco2.creditable
    assert r.credit_allocation is None
    assert any(f.severity == "error" and "crediting period" in f.message for f in r.findings)


def test_a_chiller_without_outlet_temperatures_gets_no_credit(project) -> None:
    plan = yaml.safe_load((PLANS / "chiller-efficiency.yaml").read_text())
    monitored = {
        "T_chw_out": ["MP-T1chw", "MP-T2chw", "MP-T3chw"],
        "T_cw_out": ["MP-T1cw", "MP-T2cw", "MP-T3cw"],
    }
    for x in plan["parameters"]:
        if x["symbol"] in monitored:
            x.pop("value"), x.pop("source")
            x.update(option="C", monitoring_points=monitored[x["symbol"]])
    p = project(yaml.safe_dump(plan))
    rows: list[tuple] = []
    for meter in ("ch1-meter", "ch2-meter", "ch3-meter"):
        rows += [
            ("2026-05-01T00:00:00Z", meter, "energy_consumed", 0.0, "kWh"),
            ("2026-05-02T00:00:00Z", meter, "energy_consumed", 3_000.0, "kWh"),
        ]
    t0 = ms("2026-05-01T00:00:00Z")
    for temps in ("ch1-temps", "ch2-temps"):  # chiller 3's controller sent nothing
        for k in range(289):
            t = t0 + k * 300_000
            rows += [
                (t, temps, "chilled_water_temperature", 7.0, "degC"),
                (t, temps, "cooling_water_temperature", 37.0, "degC"),
            ]
    p.readings(rows)
    r = p.report(D("2026-05-01"), D("2026-05-01"))
    calc = {c.label: c for c in r.calculation}
    assert calc["COP_PJ,tc (MP-3)"].value == 5.5 and "no credit" in calc["COP_PJ,tc (MP-3)"].formula
    assert calc["RE (MP-3)"].value == pytest.approx(calc["PE (MP-3)"].value)
    assert calc["COP_PJ,tc (MP-1)"].value == pytest.approx(6.28)
    assert r.to_json()  # no NaN anywhere


def test_invoices_in_any_order_give_the_same_bytes(project) -> None:
    """The same entries handed over in another order (the store's order is not an
    input): the same report, byte for byte, with sums that do not depend on order."""
    from dataclasses import replace

    from verification.engine import build_report

    p = project(_chiller_option_b())
    for number, start, end, value in [
        ("A-1", "2026-05-01", "2026-05-10", 100.000001),
        ("A-2", "2026-05-11", "2026-05-20", 100.0000002),
        ("A-3", "2026-05-21", "2026-05-24", 0.1),
        ("A-4", "2026-05-25", "2026-06-05", 1e-7),
    ]:
        _invoice(p, number, start, end, value, "MWh")
    inputs = p.inputs(D("2026-05-01"), D("2026-05-31"))
    orders = [inputs.invoices, inputs.invoices[::-1], [*inputs.invoices[2:], *inputs.invoices[:2]]]
    texts = {build_report(replace(inputs, invoices=tuple(o))).to_json() for o in orders}
    assert len(texts) == 1


def test_a_silent_blower_meter_is_charged_its_rated_power(project) -> None:
    """Project emissions with nothing measured around the gap: the meter's rated power."""
    plan = with_blower_meter(yaml.safe_load(GAS_PLAN))
    plan["project"]["gap_rules"] = "conservative"
    next(d for d in plan["devices"] if d["id"] == "em")["nameplate"] = {"rated_kw": 45.0}
    p = project(yaml.safe_dump(plan))
    _gas_day(p, lambda t, m: [(t, "tc", "flare_temperature", 870.0, "degC")])
    r = p.report(D("2026-03-10"), D("2026-03-10"))
    ec = next(x for x in r.parameters if x.symbol == "EC_PJ")
    assert ec.value == pytest.approx(45.0 * 24 / 1000)  # MWh
    gap = next(g for g in r.gaps if g.symbol == "EC_PJ")
    assert gap.rule == "default_value" and gap.hours == 24


def test_case_5_windows_hold_four_hourly_totals_each_side(project) -> None:
    """The hour after a gap is the total timed at its end: it belongs to the window."""
    from tests.verification.test_verification_path import CASE_5_PLAN

    p = project(CASE_5_PLAN)
    t0 = ms("2026-04-01T00:00:00Z")
    volumes = [50, 52, 48, 50, None, None, None, 46, 50, 54, 10] + [50] * 13
    rows: list[tuple] = []
    for h, volume in enumerate(volumes):
        if volume is not None:
            rows.append(
                (t0 + (h + 1) * HOUR, "fm", "gas_volume_normal", volume, "Nm3", "interval", 3600)
            )
    for h in range(25):
        rows.append((t0 + h * HOUR, "an", "ch4_fraction", 0.5, ""))
        rows.append((t0 + h * HOUR, "tc", "flare_temperature", 850.0, "degC"))
    p.readings(rows)
    r = p.report(D("2026-04-01"), D("2026-04-01"))
    sub = next(c for c in r.corrections if c.rule == "mean_before_after")
    assert sub.delta == pytest.approx(3 * (50 + 52 + 48 + 50 + 46 + 50 + 54 + 10) / 8)


def test_two_totals_for_the_same_interval_count_once(project) -> None:
    p = project(solar())
    t0 = ms("2025-03-01T00:00:00Z")
    quarter = 900_000
    rows = [
        (t0 + (k + 1) * quarter, "pv-a-meter", "energy_export", 10.0, "kWh", "interval", 900)
        for k in range(96)
    ]
    rows.append((t0 + 50 * quarter, "pv-a-meter", "energy_export", 10.0, "kWh", "interval", 900))
    p.readings(rows)  # a re-export stored the 12:15-12:30 total again under another seq
    r = p.report(D("2025-03-01"), D("2025-03-01"))
    assert mp_a(r).value == pytest.approx(0.96)
    assert "1 reading(s) of pv-a-meter set aside" in mp_a(r).method


def test_a_reset_project_meter_is_charged_the_most_it_shows(project) -> None:
    """A blower meter (project emissions) reset mid-day: the reset hour is not zero."""
    plan = with_blower_meter(yaml.safe_load(GAS_PLAN))
    plan["project"]["gap_rules"] = "conservative"
    p = project(yaml.safe_dump(plan))
    t0 = ms("2026-03-10T00:00:00Z")
    blower = [3.0 * h if h < 12 else 0.5 + 3.0 * (h - 12) for h in range(25)]
    _gas_day(
        p,
        lambda t, m: (
            [(t, "tc", "flare_temperature", 870.0, "degC")]
            + (
                [(t, "em", "energy_consumed", blower[m // 60], "kWh")]
                if m % 60 == 0 and 0 <= m <= 1440
                else []
            )
        ),
    )
    r = p.report(D("2026-03-10"), D("2026-03-10"))
    ec = next(x for x in r.parameters if x.symbol == "EC_PJ")
    c = next(c for c in r.corrections if c.rule == "reset_substituted")
    assert c.delta == pytest.approx(3.0 / 1000)  # the reset hour at the most seen, 3 kWh/h
    assert ec.value == pytest.approx((33.0 + 36.0 + 0.0) / 1000 + 3.0 / 1000)
    assert t0  # the day starts at midnight


def test_mistyped_and_clashing_manual_reads(project) -> None:
    plan = yaml.safe_load(_chiller_option_b())
    for x in plan["parameters"]:
        if x["symbol"] == "EC_PJ":
            x.update(entry_type="meter_reading", monitoring_points=["MP-1"])
    p = project(yaml.safe_dump(plan))
    reads = [
        ("2026-05-01T00:00:00Z", 10_000.0, "a"),
        ("2026-05-10T00:00:00Z", 1_100_000.0, "b"),  # an extra zero typed
        ("2026-05-20T00:00:00Z", 60_000.0, "c"),
        ("2026-06-01T00:00:00Z", 110_000.0, "d"),
        ("2026-06-01T00:00:00Z", 1_100_000.0, "e"),  # the same read, mistyped, entered too
    ]
    for when, kwh, tag in reads:
        p.entry(
            "meter_reading",
            {
                "device": "ch1-meter",
                "quantity": "energy_consumed",
                "time": when,
                "value": kwh,
                "unit": "kWh",
            },
            str(uuid.uuid5(uuid.NAMESPACE_URL, "mistyped" + tag)),
        )
    r = p.report(D("2026-05-01"), D("2026-05-31"))
    ec = next(x for x in r.parameters if x.symbol == "EC_PJ")
    assert ec.value == pytest.approx(100.0)
    messages = [f.message for f in r.findings]
    assert any("disagree" in m and "the lower counts" in m for m in messages)
    assert any("manual read(s) out of line" in m for m in messages)
