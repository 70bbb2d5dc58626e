"""Hand-checked case 1 through the real path: plan -> readings imported through the
gateway's pipeline into the SQLite store -> period totals -> emission reductions."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from gateway.importer import import_csv
from gateway.processor import BatchProcessor
from mrv.db.engine import Database
from mrv.db.repo import load_plan
from mrv.plans import load_plan_file
from mrv.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.conftest import SOLAR_PLAN
from verification.inputs import option_a_value, option_c_total
from verification.methodologies import solar_pv
from verification.rounding import round_tco2

CSV = """time,site,device,seq,quantity,value,unit
2026-05-31T23:45:00Z,rayong-a,pv-a-meter,1,energy_export,1000,kWh
2026-06-01T00:15:00Z,rayong-a,pv-a-meter,2,energy_export,1000,kWh
2026-06-15T12:00:00Z,rayong-a,pv-a-meter,3,energy_export,60.0,MWh
2026-06-30T23:45:00Z,rayong-a,pv-a-meter,4,energy_export,121000,kWh
2026-07-01T00:15:00Z,rayong-a,pv-a-meter,5,energy_export,121000,kWh
2026-05-31T23:45:00Z,rayong-b,pv-b-meter,1,energy_export,500,kWh
2026-06-01T00:15:00Z,rayong-b,pv-b-meter,2,energy_export,500,kWh
2026-06-30T23:45:00Z,rayong-b,pv-b-meter,3,energy_export,81000,kWh
2026-07-01T00:15:00Z,rayong-b,pv-b-meter,4,energy_export,81000,kWh
"""


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_case_1_solar_grid_through_the_store(tmp_path):
    plan = load_plan_file(SOLAR_PLAN)
    db = Database(f"sqlite:///{tmp_path / 'mrv.sqlite'}")
    with db.session() as s, s.begin():
        load_plan(s, plan, SOLAR_PLAN.read_text(), actor="test")
    store = SQLiteTimeSeriesStore(tmp_path / "readings.sqlite")
    result = import_csv(BatchProcessor(store, db), plan.project.id, io.StringIO(CSV))
    assert (result.stored, sum(result.quarantined.values())) == (9, 0)

    start, end = ms("2026-06-01T00:00:00"), ms("2026-07-01T00:00:00")
    params = {p.symbol: p for p in plan.parameters}
    eg_grid = option_c_total(store, plan, params["EG_grid"], start, end)
    eg_diesel = option_c_total(store, plan, params["EG_diesel"], start, end)
    assert eg_grid.unit == "MWh"
    assert [(p.device, round(p.total, 6)) for p in eg_grid.points] == [
        ("pv-a-meter", 120.0),
        ("pv-b-meter", 80.5),
    ]
    assert eg_grid.value == pytest.approx(200.5)
    assert eg_diesel.value == 0.0 and not eg_diesel.points[0].detail.start_covered
    ef_grid = option_a_value(params["EF_grid"])
    assert "methodology default" in ef_grid.source
    re = solar_pv.reference_emissions_tco2([eg_grid.value], ef_grid.value) + (
        solar_pv.reference_emissions_tco2(
            [eg_diesel.value], option_a_value(params["EF_diesel"]).value
        )
    )
    assert re == pytest.approx(100.25)
    assert round_tco2(solar_pv.emission_reductions_tco2(re), "floor") == 100
    # the boundaries lie between the 23:45 and 00:15 readings: interpolated, and said so
    assert all(p.detail.start_interpolated and p.detail.end_interpolated for p in eg_grid.points)
    store.close()
    db.dispose()
