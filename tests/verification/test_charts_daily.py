"""Charts a verifier reads: daily increments per point (not cumulative registers), days
without data left empty, corrections marked on their own interval; PDF cells that never
wrap a number or an instant and never run past their column; event details that stay
objects from the store to every format."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg

from tests.support.paths import SOLAR_PLAN
from tests.support.reporting import ProjectUnderTest, ms
from tests.verification.test_render import _report
from verification.render import ChartSeries, render
from verification.render.charts import chart_figure, correction_spans, mpl_context
from verification.render.daily import DAY_MS, daily_increments
from verification.render.pdf import MIN_CELL_FONT, _cell_width, _text_width, cell_layout
from verification.render.tables import CALCULATION, DETAILS, EVENTS, PARAMETERS
from verification.report_model import Correction, EventRow, Report

D0 = ms("2026-05-01T00:00:00Z")
HOUR = 3_600_000


def _daily(times, values, *, interval=None, register_max=None, days=4):
    t = np.asarray(times, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    i = np.full(t.size, np.nan) if interval is None else np.asarray(interval, dtype=float)
    return daily_increments(
        t,
        v,
        i,
        cumulative=interval is None,
        register_max=register_max,
        start_ms=D0,
        end_ms=D0 + days * DAY_MS,
    )


def test_a_register_becomes_what_it_counted_each_day():
    # hourly reads over four days: 10 per hour, a rollover past 1,000 on day 1, a reset
    # to 0 on day 2 at 12:00, and day 4 silent
    times, values, value = [], [], 900.0
    for h in range(0, 3 * 24 + 1):
        t = D0 + h * HOUR
        if h == 24 + 12:
            value = 0.0  # reset: counts nothing, never negative
        elif h:
            value = (value + 10.0) % 1000.0
        times.append(t)
        values.append(value)
    days, per_day = _daily(times, values, register_max=1000.0)
    assert days.tolist() == [D0 + k * DAY_MS for k in range(4)]
    # 24 rises end in each day (the one ending at midnight closes the day before)
    assert per_day[0] == pytest.approx(240.0)  # the wrap at 1,000 counts its 10
    assert per_day[1] == pytest.approx(230.0)  # less the reset
    assert per_day[2] == pytest.approx(240.0)
    assert np.isnan(per_day[3])  # no data: an empty day, not a zero


def test_a_rise_across_a_silence_is_not_piled_on_one_day():
    times = [D0 + h * HOUR for h in range(0, 12)] + [D0 + 2 * DAY_MS + h * HOUR for h in range(6)]
    values = [5.0 * k for k in range(len(times))]
    days, per_day = _daily(times, values, days=3)
    assert per_day[0] == pytest.approx(55.0)
    assert np.isnan(per_day[1])  # the meter was silent: a gap where it is
    assert per_day[2] == pytest.approx(25.0)  # only the rises after it came back


def test_interval_totals_by_the_day_their_interval_ends():
    ends = [D0, D0 + HOUR, D0 + DAY_MS, D0 + 2 * DAY_MS]  # the first ends at the start
    days, per_day = _daily(ends, [7.0, 1.0, 2.0, 3.0], interval=[3600] * 4, days=2)
    assert per_day.tolist() == [3.0, 3.0]  # 00:00 of day 2 closes day 1; the end closes day 2


def _register_report(report: Report) -> Report:
    """The hand-built report with a register correction over the whole period at PV-2 and
    the meter's reset among the events."""
    register = Correction(
        id="C2",
        kind="register",
        symbol="EG_i,p",
        monitoring_point="PV-2",
        start=report.period.start_utc,
        end=report.period.end_utc,
        rule="register_reset",
        note="a reset counts nothing",
        delta=-12.5,
        unit="MWh",
        effect_tco2=-6.25,
    )
    reset = EventRow(
        time="2023-08-14T06:15:00.250Z",
        device="EM-1002",
        quantity="energy_export",
        kind="reset",
        detail={"previous_value": 812345.5, "value": 0.0, "previous_time_ms": 1692_000_000_000},
    )
    return report.model_copy(
        update={
            "corrections": [*report.corrections, register],
            "events": [*report.events, reset],
        }
    )


def test_corrections_are_marked_on_their_own_interval():
    report = _register_report(_report())
    pv2 = ChartSeries("PV-2", "EG_i,p", "MWh", np.array([0]), np.array([1.0]))
    pv1 = ChartSeries("PV-1", "EG_i,p", "MWh", np.array([0]), np.array([1.0]))
    register = report.corrections[-1]
    # the register correction spans the period, but acts at the meter's reset
    assert correction_spans(report, pv2, register) == [
        ("2023-08-14T06:15:00.250Z", "2023-08-14T06:15:00.250Z")
    ]
    calibration = report.corrections[0]
    assert correction_spans(report, pv1, calibration) == [(calibration.start, calibration.end)]
    # without the event there is nothing narrower to show than the stated interval
    bare = report.model_copy(update={"events": []})
    assert correction_spans(bare, pv2, register) == [(register.start, register.end)]


def _daily_series() -> ChartSeries:
    days = np.arange(D0, D0 + 30 * DAY_MS, DAY_MS, dtype=np.int64)
    values = np.linspace(100.0, 130.0, days.size)
    values[[5, 6, 20]] = np.nan  # three days without data
    return ChartSeries("PV-1", "EG_i,p", "MWh", days, values, daily=True)


def test_a_daily_chart_has_one_bar_per_day_with_data_and_a_title_that_fits():
    report = _report().model_copy(
        update={
            "parameters": [
                _report().parameters[0].model_copy(update={"description": "a very long " * 40})
            ],
            "corrections": [
                _report().corrections[0].model_copy(update={"id": f"C{i}"}) for i in range(40)
            ],
        }
    )
    with mpl_context("t"):
        fig = chart_figure(report, _daily_series())
        renderer = fig.canvas.get_renderer()
        assert isinstance(renderer, RendererAgg)
        ax = fig.axes[0]
        bars = [p for p in ax.patches if p.get_width() == pytest.approx(0.9)]
        assert len(bars) == 27
        assert "EG_i,p per day [MWh]" in [t.get_text() for t in ax.get_legend().get_texts()]
        title = ax._left_title  # set_title(loc="left") draws this one
        box = title.get_window_extent(renderer)
        assert box.x1 <= fig.bbox.x1 and box.x0 >= fig.bbox.x0
        assert len(title.get_text().splitlines()) == 2  # title and caption, neither wrapped
        assert "and 34 more" in title.get_text() and "…" in title.get_text()


# --- PDF cells -------------------------------------------------------------------------


def _long_report() -> Report:
    """The hand-built report with the widths the demo produces: six-figure corrections,
    instants with milliseconds, long point ids, a register correction and events."""
    report = _register_report(_report())
    big = report.corrections[0].model_copy(
        update={
            "id": "C12",
            "monitoring_point": "MP-FLOW-CHK",
            "start": "2026-11-07T00:00:00.000Z",
            "end": "2026-12-07T00:00:00.000Z",
            "delta": -423171.8231539949,
            "unit": "Nm3",
            "effect_tco2": -3475.552948233319,
        }
    )
    gap = report.gaps[0].model_copy(
        update={"start": "2026-12-06T23:59:00.697Z", "end": "2026-12-07T00:00:00.000Z"}
    )
    param = report.parameters[0].model_copy(update={"value": 12_345_678.123456})
    return report.model_copy(
        update={
            "corrections": [*report.corrections, big],
            "gaps": [gap],
            "parameters": [param, *report.parameters[1:]],
        }
    )


def test_pdf_numbers_and_instants_never_wrap_and_nothing_overflows():
    report = _long_report()
    checked = 0
    for table in (PARAMETERS, CALCULATION, *DETAILS):
        columns = table.columns("pdf")
        for row in [table.headers("pdf"), *table.texts(report, "pdf")]:
            header = row == table.headers("pdf")
            for text, column in zip(row, columns, strict=True):
                lines, size = cell_layout(text, column, header)
                assert size >= MIN_CELL_FONT
                for line in lines:  # nothing runs past its column
                    assert _text_width(line, size, header) <= _cell_width(column) + 1e-6
                if column.kind != "text" and not header:
                    # a number or an instant: one line per paragraph, never split
                    assert lines == (text.splitlines() or [""]), (table.id, text, lines)
                    checked += 1
                elif not header:
                    # words stay whole where they fit at the smallest font
                    words = text.split()
                    whole = [
                        w
                        for w in words
                        if _text_width(w, MIN_CELL_FONT, False) <= _cell_width(column)
                    ]
                    rendered = " ".join(lines).split()
                    assert all(w in rendered for w in whole), (table.id, text, lines)
    assert checked > 10
    # the instants the demo writes fit a time column at the table's own font
    time_column = next(c for c in DETAILS[0].columns("pdf") if c.kind == "time")
    assert cell_layout("2026-12-06 23:59:00", time_column)[1] == 7.0
    assert render(report, "pdf").startswith(b"%PDF")


# --- event details ---------------------------------------------------------------------


def test_event_details_are_objects_from_the_store_to_every_format(tmp_path):
    p = ProjectUnderTest(tmp_path, SOLAR_PLAN.read_text())
    try:
        reads = [(D0 + h * HOUR, 1000.0 + 10 * h) for h in range(-1, 13)]
        reads += [(D0 + h * HOUR, 10.0 * (h - 13)) for h in range(13, 26)]  # a reset
        p.readings([(t, "pv-a-meter", "energy_export", v, "kWh") for t, v in reads])
        report = p.report(date(2026, 5, 1), date(2026, 5, 1))
    finally:
        p.close()
    reset = next(e for e in report.events if e.kind == "reset")
    assert isinstance(reset.detail, dict) and reset.detail["previous_value"] == 1120.0
    as_json = json.loads(report.to_json())
    event = next(e for e in as_json["events"] if e["kind"] == "reset")
    assert isinstance(event["detail"], dict) and event["detail"]["value"] == 0.0
    # for people: the object's fields, epoch milliseconds with their UTC time
    text = next(row[-1] for row in EVENTS.texts(report, "pdf") if "previous_value" in row[-1])
    assert "previous_value: 1,120" in text and "previous_time_ms: " in text
    assert "(2026-05-01 12:00:00)" in text and '{"' not in text
    page = render(report, "html").decode()
    assert "previous_value: 1,120" in page and "&quot;previous_value&quot;" not in page
