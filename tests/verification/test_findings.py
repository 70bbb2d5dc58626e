"""Findings and the inputs of each step, through the real path (plan -> gateway pipeline
-> SQLite store -> report): a register correction is a finding with its tonnes, its
severity against the plan's threshold and the readings behind it (by seq); gaps, meter
replacements and open quarantine items are findings too; every monitoring point shows
its bracketing readings and daily subtotals, every fixed value its source and version."""

from __future__ import annotations

import io
import math
import uuid
from datetime import date

import pytest
import yaml
from PIL import Image

from gateway.decode import Inbound
from persistence.models import Entry
from persistence.photos import add_photo
from persistence.records import change_entry_status
from tests.support.paths import PLANS
from tests.support.reporting import ProjectUnderTest, ms
from tests.verification.test_verification_path import CASE_5_PLAN, _chiller_case_3_plan
from tests.verification.test_verification_rules import (
    _chiller_option_b,
    _year_of_solar,
    eg_rows,
    mp_a,
    solar,
)
from verification.plan_check import validate_plan_text
from verification.report_model import ParameterRow, Report

D = date.fromisoformat
PERIOD = (D("2025-06-01"), D("2025-06-30"))


@pytest.fixture
def project(tmp_path):
    made: list[ProjectUnderTest] = []

    def make(plan_text: str) -> ProjectUnderTest:
        folder = tmp_path / f"p{len(made)}"
        folder.mkdir()
        made.append(ProjectUnderTest(folder, plan_text))
        return made[-1]

    yield make
    for p in made:
        p.close()


def with_materiality(plan_text: str, pct: float) -> str:
    plan = yaml.safe_load(plan_text)
    plan["project"]["materiality_pct"] = pct
    return yaml.safe_dump(plan, sort_keys=False)


RESET_READINGS = [
    ("2025-06-01T00:00:00Z", 97_000),  # seq 1
    ("2025-06-10T23:45:00Z", 99_900),  # seq 2
    ("2025-06-11T00:00:00Z", 100),  # seq 3: rolled over, +200
    ("2025-06-20T00:00:00Z", 30_000),  # seq 4
    ("2025-06-20T00:15:00Z", 10),  # seq 5: reset
    ("2025-07-01T00:00:00Z", 5_010),  # seq 6
]


def test_a_register_reset_is_a_material_finding_with_the_readings_behind_it(project) -> None:
    p = project(solar(pv_a_meter={"register_max": 100_000.0}))
    p.readings(eg_rows("pv-a-meter", RESET_READINGS))
    r = p.report(*PERIOD)
    er = r.emission_reductions_tco2.unrounded
    assert er == pytest.approx(33.0 * 0.5)  # 2,900 + 200 + 29,900 kWh at 0.5 t/MWh
    correction = next(c for c in r.corrections if c.rule == "only_new_highs_counted")
    f = next(f for f in r.findings if f.kind == "register")
    # the 5,000 kWh climb back to the old high are not counted: 2.5 t less, > 1 % of ER
    assert f.severity == "material"
    assert f.effect_tco2 == pytest.approx(correction.effect_tco2) == pytest.approx(-2.5)
    assert f.tco2 == pytest.approx(2.5)
    assert (f.symbol, f.monitoring_point) == ("EG_grid", "MP-A")
    assert f.evidence[0].kind == "correction" and f.evidence[0].key == correction.id
    readings = [(e.key, e.role, e.value) for e in f.evidence if e.kind == "reading"]
    assert readings == [
        ("pv-a-meter/energy_export/1", "at or before start", 97_000.0),
        ("pv-a-meter/energy_export/2", "before rollover", 99_900.0),
        ("pv-a-meter/energy_export/3", "rollover", 100.0),
        ("pv-a-meter/energy_export/4", "before reset", 30_000.0),
        ("pv-a-meter/energy_export/5", "reset", 10.0),
        ("pv-a-meter/energy_export/6", "at or before end", 5_010.0),
    ]
    reset = next(e for e in f.evidence if e.role == "reset")
    assert reset.time == "2025-06-20T00:15:00.000Z" and reset.unit == "kWh"
    # the headline: counts by severity and the tonnes moved
    # the register bridges MP-A's days between readings; MP-B and MP-K have no data and
    # count zero: gaps that move nothing (minor)
    others = [x for x in r.findings if x is not f]
    assert {(x.kind, x.severity, x.tco2) for x in others} == {("gap", "minor", 0.0)}
    rules = [(x.monitoring_point, x.evidence[0].role) for x in others]
    assert rules == [("MP-A", "register_bridged")] * 3 + [
        ("MP-B", "zero_fill"),
        ("MP-K", "zero_fill"),
    ]
    h = r.findings_headline
    assert (h.material, h.minor) == (1, len(others))
    assert h.net_tco2 == pytest.approx(-2.5)
    assert h.threshold_pct == 1.0 and h.threshold_tco2 == pytest.approx(0.01 * er)


def test_the_plan_sets_the_materiality_threshold(project) -> None:
    plan = with_materiality(solar(pv_a_meter={"register_max": 100_000.0}), 20.0)
    p = project(plan)
    p.readings(eg_rows("pv-a-meter", RESET_READINGS))
    r = p.report(*PERIOD)
    f = next(f for f in r.findings if f.kind == "register")
    # 2.5 t against 20 % of 16.5 t (3.3 t): minor
    assert f.severity == "minor" and f.tco2 == pytest.approx(2.5)
    assert r.findings_headline.material == 0
    assert r.findings_headline.threshold_tco2 == pytest.approx(3.3)


@pytest.mark.parametrize("pct", [-1, 100.5, "many"])
def test_a_materiality_outside_0_to_100_is_refused(pct) -> None:
    plan, problems = validate_plan_text(with_materiality(solar(), pct))
    assert plan is None
    assert any("materiality_pct" in p.located("plan") for p in problems), problems


def test_gaps_substitutions_and_quarantine_are_findings(project) -> None:
    p = project(CASE_5_PLAN)
    t0 = ms("2026-04-01T00:00:00Z")
    pattern = [50, 52, 48, 50, None, None, None, 46, 50, 54, 50]
    rows = []
    for h in range(25):
        volume = pattern[h] if h < len(pattern) else 50
        if volume is not None and h < 24:
            rows.append(
                (
                    t0 + (h + 1) * 3_600_000,
                    "fm",
                    "gas_volume_normal",
                    volume,
                    "Nm3",
                    "interval",
                    3600,
                )
            )
        rows.append((t0 + h * 3_600_000, "an", "ch4_fraction", 0.5, ""))
        rows.append((t0 + h * 3_600_000, "tc", "flare_temperature", 850.0, "degC"))
    p.readings(rows)
    bad = Inbound("mrv/v1/gap-case/s/fm/readings", b'{"device": "fm", "seq": ', t0 + 3_600_000)
    assert p.processor.process([bad]).quarantined
    r = p.report(D("2026-04-01"), D("2026-04-01"))
    gap = next(g for g in r.gaps if g.monitoring_point == "MP-V")
    sub = next(c for c in r.corrections if c.rule == "mean_before_after")
    f = next(f for f in r.findings if f.kind == "substitution")
    assert [(e.kind, e.key) for e in f.evidence] == [("gap", gap.id), ("correction", sub.id)]
    assert f.effect_tco2 == pytest.approx(sub.effect_tco2) and f.effect_tco2 > 0
    # 150 Nm3 of 1,300 substituted moves ER by far more than 1 %
    assert f.severity == "material"
    # the substitution is one finding, not also a correction finding
    assert [x.kind for x in r.findings].count("substitution") == 1
    assert not any(x.kind == "gap" and x.evidence[0].key == gap.id for x in r.findings)
    q = next(f for f in r.findings if f.kind == "quarantine")
    assert q.severity == "minor" and q.tco2 == 0.0
    assert [e.kind for e in q.evidence] == ["quarantine"]
    assert "fm" in q.summary and "invalid_json" in q.summary


def test_a_meter_replacement_is_a_finding_with_both_meters_readings(project) -> None:
    new_meter = {
        "id": "pv-a-meter-2",
        "site": "rayong-a",
        "type": "ac_energy_meter",
        "serial": "NEW-1",
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
    r = p.report(*PERIOD)
    assert mp_a(r).value == pytest.approx(120.0)
    f = next(f for f in r.findings if f.kind == "replacement")
    assert f.monitoring_point == "MP-A" and f.tco2 == 0.0 and f.severity == "minor"
    devices = [e.key for e in f.evidence if e.kind == "device"]
    assert devices == ["pv-a-meter", "pv-a-meter-2"]
    keys = [e.key for e in f.evidence if e.kind == "reading"]
    assert keys == [
        "pv-a-meter/energy_export/1",
        "pv-a-meter/energy_export/2",
        "pv-a-meter-2/energy_export/1",
        "pv-a-meter-2/energy_export/2",
    ]


def test_daily_subtotals_add_up_to_the_measured_total(project) -> None:
    p = project(solar())
    t0 = ms("2025-03-01T00:00:00Z")
    quarter = 900_000
    rows = [
        (t0 + (k + 1) * quarter, "pv-a-meter", "energy_export", 10.0, "kWh", "interval", 900)
        for k in range(3 * 96)
    ]
    p.readings(rows)
    r = p.report(D("2025-03-01"), D("2025-03-03"))
    point = next(x for x in r.point_inputs if x.monitoring_point == "MP-A")
    assert point.series == "interval" and point.unit == "MWh"
    assert [(d.day.isoformat(), d.value, d.readings) for d in point.daily] == [
        ("2025-03-01", pytest.approx(0.96), 95),  # the reading at 00:00 closes the day before
        ("2025-03-02", pytest.approx(0.96), 96),
        ("2025-03-03", pytest.approx(0.96), 96),
    ]
    assert math.fsum(d.value or 0.0 for d in point.daily) == pytest.approx(mp_a(r).value)
    assert point.readings == []  # no register: nothing brackets the period


def test_the_chiller_report_shows_its_td_values_and_their_version(project) -> None:
    p = project(_chiller_case_3_plan())
    p.readings(
        [
            ("2026-04-01T00:00:00Z", "ch1-meter", "energy_consumed", 1000.0, "kWh"),
            ("2026-11-26T00:00:00Z", "ch1-meter", "energy_consumed", 348_200.0, "kWh"),
        ]
    )
    r = p.report(D("2026-04-01"), D("2026-11-25"))
    values = {x.symbol: x for x in r.parameter_inputs if x.status != "plan"}
    for td in ("TD_chw", "TD_cw"):
        assert values[td].value == 1.5 and values[td].unit == "delta_degC"
        assert values[td].version == "chiller-energy-saving table version 1.0"
        assert values[td].source
    daily = next(x for x in r.point_inputs if x.device == "ch1-meter").daily
    assert len(daily) == (D("2026-11-25") - D("2026-04-01")).days + 1
    assert math.fsum(d.value or 0.0 for d in daily) == pytest.approx(347.2)
    assert {d.readings for d in daily} == {0, 1}  # the first day's reading, then none


def test_the_demo_landfill_plan_validates_with_the_default_threshold() -> None:
    plan, problems = validate_plan_text((PLANS / "landfill-gas-flare.yaml").read_text())
    assert plan is not None and not problems
    assert plan.project.materiality_pct == 1.0


# -- calibration lapses, manual entries, objects not used (issue 13) ---------------------


def jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (shade, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def photo(p: ProjectUnderTest, shade: int) -> str:
    with p.db.session() as s, s.begin():
        stored, _ = add_photo(s, p.id, jpeg(shade), "image/jpeg", "field-test")
    return stored.info.sha256


def entry_id(tag: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "findings" + tag))


YEAR = (D("2025-01-01"), D("2025-12-31"))


def test_an_overdue_calibration_is_a_lapse_with_its_records_and_correction(project) -> None:
    cal = {"interval_months": 6, "last": "2024-12-01", "certificate": "CERT-A"}
    p = project(solar(pv_a_meter={"max_permissible_error_pct": 0.5, "calibration": cal}))
    _year_of_solar(p)
    r = p.report(*YEAR)
    lapse = next(f for f in r.findings if f.kind == "calibration_lapse")
    correction = next(c for c in r.corrections if c.kind == "calibration")
    assert "calibration due 2025-06-01" in lapse.summary
    assert lapse.effect_tco2 == 0.0  # the correction's finding carries the tonnes
    links = [(e.kind, e.key) for e in lapse.evidence]
    assert links == [
        ("device", "pv-a-meter"),
        ("calibration", "pv-a-meter@2024-12-01"),
        ("correction", correction.id),
    ]
    assert "CERT-A" in lapse.evidence[1].role
    # the other meters were never given a calibration interval: no lapse
    assert sum(f.kind == "calibration_lapse" for f in r.findings) == 1


def test_an_error_against_the_project_corrects_nothing_but_is_a_lapse(project) -> None:
    cal = {"interval_months": 12, "last": "2024-12-15"}
    p = project(solar(pv_a_meter={"max_permissible_error_pct": 0.5, "calibration": cal}))
    _year_of_solar(p)
    sha = photo(p, 10)
    certificate = {
        "device": "pv-a-meter",
        "calibrated_on": "2025-09-01",
        "certificate": "CERT-UNDER",
        "result": "out_of_tolerance",
        "error_pct": -3.0,  # under-read an export meter: the project lost, nothing to correct
        "photos": [sha],
    }
    p.entry("calibration_certificate", certificate, entry_id("cert"))
    r = p.report(*YEAR)
    assert not [c for c in r.corrections if c.kind == "calibration"]
    lapse = next(f for f in r.findings if f.kind == "calibration_lapse")
    assert "found -3 %, beyond tolerance" in lapse.summary
    cited = {(e.kind, e.key): e for e in lapse.evidence}
    entry = cited[("entry", f"{entry_id('cert')}@r1")]
    assert (entry.time, entry.value, entry.unit) == ("2025-09-01", -3.0, "%")
    assert "out_of_tolerance" in entry.role and "CERT-UNDER" in entry.role
    assert ("photo", sha) in cited
    assert ("calibration", "pv-a-meter@2024-12-15") in cited


def _read(p: ProjectUnderTest, tag: str, when: str, kwh: float, photos: list[str]) -> None:
    body = {
        "device": "ch1-meter",
        "quantity": "energy_consumed",
        "time": when,
        "value": kwh,
        "unit": "kWh",
        "photos": photos,
    }
    p.entry("meter_reading", body, entry_id(tag))


def _read_by_hand(project) -> ProjectUnderTest:
    plan = yaml.safe_load(_chiller_option_b())
    for x in plan["parameters"]:
        if x["symbol"] == "EC_PJ":
            x.update(entry_type="meter_reading", monitoring_points=["MP-1"])
    p = project(yaml.safe_dump(plan))
    _read(p, "a", "2026-05-01T00:00:00Z", 10_000.0, [])
    _read(p, "c", "2026-05-20T00:00:00Z", 60_000.0, [])
    _read(p, "d", "2026-06-01T00:00:00Z", 110_000.0, [])
    return p


MAY_2026 = (D("2026-05-01"), D("2026-05-31"))


def _ec(r: Report) -> ParameterRow:
    return next(x for x in r.parameters if x.symbol == "EC_PJ")


def test_a_mistyped_manual_read_is_a_finding_citing_the_entry_and_its_photo(project) -> None:
    p = _read_by_hand(project)
    sha = photo(p, 20)
    _read(p, "b", "2026-05-10T00:00:00Z", 1_100_000.0, [sha])  # an extra zero typed
    _read(p, "e", "2026-06-01T00:00:00Z", 1_100_000.0, [])  # read d again, mistyped
    r = p.report(*MAY_2026)
    assert _ec(r).value == pytest.approx(100.0)
    flagged = [f for f in r.findings if f.kind == "out_of_range_entry"]
    by_rule = {f.evidence[0].role: f for f in flagged}
    assert set(by_rule) == {"manual_reads_disagree", "manual_read_out_of_line"}
    typo = by_rule["manual_read_out_of_line"]
    assert (typo.symbol, typo.monitoring_point) == ("EC_PJ", "MP-1")
    assert [(e.kind, e.key) for e in typo.evidence] == [
        ("entry", f"{entry_id('b')}@r1"),
        ("photo", sha),
    ]
    clash = by_rule["manual_reads_disagree"]
    assert {e.key for e in clash.evidence} == {f"{entry_id(t)}@r1" for t in "de"}
    assert "disagree" in clash.summary


def test_an_entry_that_no_longer_parses_is_named_and_the_report_still_issued(project) -> None:
    p = _read_by_hand(project)
    sha = photo(p, 30)
    _read(p, "x", "2026-05-25T00:00:00Z", 70_000.0, [sha])
    with p.db.session() as s, s.begin():
        # a body as an older version of the app might have left it: no value any more
        row = s.get(Entry, entry_id("x"))
        assert row is not None
        row.body = {k: v for k, v in row.body.items() if k != "value"}
    r = p.report(*MAY_2026)
    assert _ec(r).value == pytest.approx(100.0) and _ec(r).readings == 3  # x not counted
    unusable = [f for f in r.findings if f.kind == "unusable"]
    assert len(unusable) == 1
    f = unusable[0]
    assert f.severity == "material" and f.tco2 is None  # what it would move is unknown
    assert "meter_reading entry" in f.summary and "value" in f.summary
    assert [(e.kind, e.key) for e in f.evidence] == [
        ("entry", f"{entry_id('x')}@r1"),
        ("photo", sha),
    ]
    assert r.findings_headline.material >= 1


def test_a_withdrawn_entry_gives_no_finding_and_is_not_counted(project) -> None:
    p = _read_by_hand(project)
    _read(p, "b", "2026-05-10T00:00:00Z", 1_100_000.0, [])
    with p.db.session() as s, s.begin():
        change_entry_status(s, entry_id("b"), "withdrawn", "mistyped: an extra zero", "qa")
    r = p.report(*MAY_2026)
    assert _ec(r).value == pytest.approx(100.0) and _ec(r).readings == 3
    assert not [f for f in r.findings if f.kind in ("out_of_range_entry", "unusable")]
    cited = {e.key.split("@")[0] for f in r.findings for e in f.evidence if e.kind == "entry"}
    assert entry_id("b") not in cited
    # the withdrawal changed the inputs: a different hash from the same reads with b
    with_b = _read_by_hand(project)
    _read(with_b, "b", "2026-05-10T00:00:00Z", 1_100_000.0, [])
    assert with_b.report(*MAY_2026).inputs_sha256 != r.inputs_sha256
