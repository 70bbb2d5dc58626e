"""Test support for verification through the real path: a plan registered in a real
relational store, readings imported through the gateway's pipeline into a real SQLite
time-series store, then the report loaded and built exactly as ``mrv report`` does."""

from __future__ import annotations

import csv
import io
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from core.entries import EntryIn
from core.plans.schema import MonitoringPlan
from gateway.importer import import_csv
from gateway.processor import BatchProcessor
from persistence.engine import Database
from persistence.records import add_entry
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from verification.engine import build_report
from verification.inputs import ReportInputs
from verification.loading import load_inputs
from verification.plan_check import validate_plan_text
from verification.report_model import Report


def ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


class ProjectUnderTest:
    """One project's stores in a temporary folder."""

    def __init__(self, folder: Path, plan_text: str, db_url: str | None = None) -> None:
        self.plan_text = textwrap.dedent(plan_text)
        plan, problems = validate_plan_text(self.plan_text)
        assert plan is not None and not problems, [p.located("plan") for p in problems]
        self.plan: MonitoringPlan = plan
        self.db = Database(db_url or f"sqlite:///{folder / 'mrv.sqlite'}")
        with self.db.session() as s, s.begin():
            load_plan(s, self.plan, self.plan_text, actor="test")
        self.store = SQLiteTimeSeriesStore(folder / "readings.sqlite")
        self.processor = BatchProcessor(self.store, self.db)
        self.seq: dict[str, int] = defaultdict(int)
        self.sites = {d.id: d.site for d in self.plan.devices}

    @property
    def id(self) -> str:
        return self.plan.project.id

    def readings(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """rows: (time ms or ISO, device, quantity, value, unit[, kind, interval_s])."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["time", "site", "device", "seq", "quantity", "value", "unit", "kind", "interval_s"]
        )
        for row in rows:
            time, device, quantity, value, unit, *rest = row
            kind = rest[0] if rest else ""
            interval = rest[1] if len(rest) > 1 else ""
            self.seq[device] += 1
            stamp = iso(time) if isinstance(time, int) else time
            writer.writerow(
                [
                    stamp,
                    self.sites[device],
                    device,
                    self.seq[device],
                    quantity,
                    value,
                    unit,
                    kind,
                    interval,
                ]
            )
        result = import_csv(self.processor, self.id, io.StringIO(out.getvalue()))
        assert sum(result.quarantined.values()) == 0, result.quarantined
        return result.stored

    def entry(self, type_: str, body: dict[str, Any], entry_id: str) -> None:
        entry = EntryIn.model_validate(
            {"id": entry_id, "type": type_, "body": body, "author": "field-test"}
        )
        with self.db.session() as s, s.begin():
            add_entry(s, self.id, entry, self.plan)

    def inputs(self, start: date, end: date) -> ReportInputs:
        with self.db.session() as s:
            return load_inputs(s, self.store, self.id, start, end)

    def report(self, start: date, end: date) -> Report:
        return build_report(self.inputs(start, end))

    def close(self) -> None:
        self.store.close()
        self.db.dispose()


def plan_with(base: Path, **edits: Any) -> str:
    """An example plan's text with top-level keys replaced (for variants of a plan)."""
    data = yaml.safe_load(base.read_text())
    data.update(edits)
    return yaml.safe_dump(data, sort_keys=False)


def with_blower_meter(plan: dict[str, Any]) -> dict[str, Any]:
    """Add an hourly electricity meter for the gas system's blower (EC_PJ, project
    emissions) to a methane plan's data, in place."""
    plan["devices"].append(
        {
            "id": "em",
            "site": "s",
            "type": "energy_meter",
            "serial": "EM1",
            "quantities": ["energy_consumed"],
            "max_permissible_error_pct": 0.5,
            "register_max": 1e9,
            "expected_interval_s": 3600,
        }
    )
    plan["monitoring_points"].append({"id": "MP-E", "device": "em", "quantity": "energy_consumed"})
    plan["parameters"] += [
        {"symbol": "EC_PJ", "unit": "MWh", "option": "C", "monitoring_points": ["MP-E"]},
        {"symbol": "EF_elec", "unit": "tCO2/MWh", "option": "A", "value": 0.5, "source": "test"},
    ]
    return plan
