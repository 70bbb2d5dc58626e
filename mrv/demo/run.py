"""``mrv demo``: broker, gateway and simulated devices end to end, on the embedded defaults.

Starts a private Mosquitto on a free port, registers the example plans, runs ``mrv gateway``
as a real process, simulates a month of every plan's devices at full speed with a few
faults, waits until the gateway has durably acknowledged everything, stops what it
started and prints what was stored, duplicated and quarantined per project. Each project
gets a monitoring period of the simulated days, so that ``mrv periods list``, the verifier
portal and the evidence bundles have a period with data at once. The data stays in
MRV_HOME for ``mrv readings export``, ``mrv report`` and ``mrv api``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.config import MqttEndpoint, Settings
from core.plans.schema import MonitoringPlan
from firmware_sim.faults import FaultConfig
from firmware_sim.runner import SimProgress, SimulationResult, run_simulation
from mrv.demo.broker import MosquittoBroker, free_port, wait_for_port
from persistence.engine import Database
from persistence.records import PeriodRow, RecordError, define_period, list_periods
from persistence.repo import load_plan, quarantine_counts
from persistence.stores import open_timeseries
from persistence.stores.timeseries import TimeSeriesStore
from verification.plan_check import load_plan_file
from verification.reporting import issue_report

DEMO_MARKER = "demo.json"
# Files a demo writes in MRV_HOME; a re-run removes them so nothing is counted twice.
DEMO_FILES = ("readings.sqlite", "mrv.sqlite", "demo-broker", "demo-sim", "gateway.log")


def default_plans_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "plans"  # the source tree's


class DemoError(RuntimeError):
    pass


@dataclass
class DemoSummary:
    elapsed_s: float
    projects: dict[str, dict[str, object]] = field(default_factory=dict)
    gateway_metrics: dict[str, float] = field(default_factory=dict)
    reports: dict[str, dict[str, object]] = field(default_factory=dict)
    periods: dict[str, list[PeriodRow]] = field(default_factory=dict)


def _prepare_home(settings: Settings) -> None:
    home = settings.ensure_home()
    marker = home / DEMO_MARKER
    has_data = any((home / name).exists() for name in ("readings.sqlite", "mrv.sqlite"))
    if has_data and not marker.exists():
        raise DemoError(
            f"{home} already holds data that the demo did not write. Run the demo with "
            "another data folder, e.g. MRV_HOME=/tmp/mrv-demo mrv demo"
        )
    for name in DEMO_FILES:
        path = home / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    for spool in home.glob("spool-*.sqlite*"):
        spool.unlink()


def _scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("mrv_gateway_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def run_demo(
    settings: Settings,
    *,
    plans_dir: Path | None = None,
    days: float = 30.0,
    seed: int = 2026,
    console: Console | None = None,
) -> DemoSummary:
    """Register the plans, run broker, gateway and simulated devices, then report."""
    console = console or Console(emoji=False)
    started = time.monotonic()
    _prepare_home(settings)
    home = settings.home
    (home / DEMO_MARKER).write_text(json.dumps({"started": datetime.now(UTC).isoformat()}))
    db = Database(settings.effective_database_url)
    plans = _register_plans(db, plans_dir or default_plans_dir())
    console.print(f"registered {len(plans)} plans: {', '.join(p.project.id for p in plans)}")
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    summary = DemoSummary(elapsed_s=0.0)
    with MosquittoBroker(home / "demo-broker") as broker, _Gateway(home, broker) as gateway:
        console.print(f"broker: mosquitto on {broker.url}")
        console.print(gateway.describe())
        result = _simulate(plans, broker, start, days, seed, home, console)
        summary.gateway_metrics = _scrape(gateway.metrics_port)
    store = open_timeseries(settings)
    with db.session() as session:
        quarantined = quarantine_counts(session)
    for plan in plans:
        pid = plan.project.id
        counts = result.projects.get(pid)
        summary.projects[pid] = {
            "devices": len(plan.devices),
            "messages_sent": counts.messages if counts else 0,
            "stored_readings": store.count(pid),
            "duplicates_sent": counts.duplicates if counts else 0,
            "quarantined": {r: n for (p, r), n in quarantined.items() if p == pid},
        }
    last_day = (end - timedelta(days=1)).date()
    summary.periods = _define_periods(db, plans, start.date(), last_day, console)
    summary.reports = _reports(db, store, plans, start.date(), last_day)
    store.close()
    db.dispose()
    summary.elapsed_s = time.monotonic() - started
    _print_summary(console, summary, start, end)
    return summary


def _register_plans(db: Database, plans_dir: Path) -> list[MonitoringPlan]:
    """Validate and load every plan file in ``plans_dir``."""
    plan_files = sorted(plans_dir.glob("*.yaml"))
    if not plan_files:
        raise DemoError(f"no plan files in {plans_dir}")
    plans = [load_plan_file(path) for path in plan_files]
    with db.session() as session, session.begin():
        for path, plan in zip(plan_files, plans, strict=True):
            load_plan(session, plan, path.read_text(encoding="utf-8"), actor="demo")
    return plans


def _define_periods(
    db: Database, plans: list[MonitoringPlan], first: date, last: date, console: Console
) -> dict[str, list[PeriodRow]]:
    """Each project's monitoring periods, the simulated days (inside the crediting period)
    being one of their own. Periods follow one another from the crediting period's start
    (``persistence.records.define_period``), so when the simulation starts later the
    days before it are a period too, without data."""
    out: dict[str, list[PeriodRow]] = {}
    for plan in plans:
        pid, crediting = plan.project.id, plan.project.crediting_period
        start, end = max(first, crediting.start), min(last, crediting.end)
        try:
            with db.session() as session, session.begin():
                if crediting.start < start <= end:
                    before = start - timedelta(days=1)
                    define_period(session, pid, crediting.start, before, actor="demo")
                if start <= end:  # else the simulated days lie outside the crediting period
                    define_period(session, pid, start, end, actor="demo")
        except RecordError as exc:  # e.g. a PostgreSQL store kept from an earlier day's demo
            console.print(f"[yellow]{pid}: no demo period: {exc}[/]", soft_wrap=True)
        with db.session() as session:
            out[pid] = list_periods(session, pid)
    return out


class _Gateway:
    """``mrv gateway`` as a real process on the demo's broker, its log in MRV_HOME; stopped
    with SIGTERM (a graceful stop: it flushes and acknowledges) on the way out."""

    def __init__(self, home: Path, broker: MosquittoBroker) -> None:
        self.home, self.broker = home, broker
        self.metrics_port = free_port()

    def __enter__(self) -> _Gateway:
        self.log = (self.home / "gateway.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "mrv.cli", "gateway", "--mqtt-url", self.broker.url),
                *("--client-id", "mrv-demo-gateway", "--metrics-port", str(self.metrics_port)),
            ],
            env={**os.environ, "MRV_HOME": str(self.home)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_subscribed()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_subscribed(self) -> None:
        # Devices must not publish before the gateway's subscription exists, or the broker
        # has no session queue to keep their first messages in.
        wait_for_port(self.metrics_port, timeout_s=30)
        deadline = time.monotonic() + 30
        while _scrape(self.metrics_port).get("mrv_gateway_subscribed", 0) < 1:
            if time.monotonic() > deadline:
                raise DemoError(f"the gateway did not subscribe; see {self.log.name}")
            time.sleep(0.05)

    def describe(self) -> str:
        return (
            f"gateway: pid {self.process.pid}, metrics on :{self.metrics_port}, log {self.log.name}"
        )

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def _simulate(
    plans: list[MonitoringPlan],
    broker: MosquittoBroker,
    start: datetime,
    days: float,
    seed: int,
    home: Path,
    console: Console,
) -> SimulationResult:
    """Every plan's devices over ``days`` from ``start``, as fast as they can publish,
    with typical faults, until the gateway has acknowledged everything."""
    with Progress(
        TextColumn("simulating {task.fields[when]}"),
        BarColumn(),
        TextColumn("{task.fields[messages]} messages"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("sim", total=1.0, when="", messages=0)

        def on_progress(p: SimProgress) -> None:
            when = p.sim_time.strftime("%Y-%m-%d")
            bar.update(task, completed=p.fraction, when=when, messages=p.messages)

        result = run_simulation(
            plans,
            MqttEndpoint.parse(broker.url),
            start=start,
            days=days,
            seed=seed,
            speed=None,
            backfill=True,
            faults=FaultConfig.typical(),
            state_dir=home / "demo-sim",
            wait_for_acks=True,
            ack_timeout_s=180,
            progress=on_progress,
        )
    if not result.all_acked:
        console.print("[yellow]some messages were not acknowledged in time[/]")
    return result


def _reports(
    db: Database, store: TimeSeriesStore, plans: list[MonitoringPlan], first: date, last: date
) -> dict[str, dict[str, object]]:
    """Each project's monitoring report over the simulated days (whole UTC days)."""

    out: dict[str, dict[str, object]] = {}
    for plan in plans:
        pid = plan.project.id
        with db.session() as session:
            try:
                issued = issue_report(session, store, pid, first, last, "json", actor="demo")
            except ValueError as exc:  # say why, and go on with the other projects
                out[pid] = {"error": str(exc)}
                continue
        r = issued.report
        out[pid] = {
            "reference_tco2": r.reference_emissions_tco2,
            "project_tco2": r.project_emissions_tco2,
            "er_unrounded": r.emission_reductions_tco2.unrounded,
            "er": r.emission_reductions_tco2.value,
            "gaps": len(r.gaps),
            "corrections": len(r.corrections),
            "inputs_sha256": r.inputs_sha256,
        }
    return out


def _print_summary(console: Console, summary: DemoSummary, start: datetime, end: datetime) -> None:
    _print_ingestion(console, summary, start, end)
    if summary.reports:
        _print_reductions(console, summary, start, end)
    _print_periods(console, summary)
    first_pid = next(iter(summary.projects))
    console.print(
        f"finished in {summary.elapsed_s:.0f} s. Try: mrv readings export --project "
        f"{first_pid} | head; mrv periods list --project {first_pid}; mrv report --project "
        f"{first_pid} --start {start:%Y-%m-%d} --end {end - timedelta(days=1):%Y-%m-%d} "
        "--format pdf --out report.pdf",
        soft_wrap=True,
    )


def _print_periods(console: Console, summary: DemoSummary) -> None:
    """Each project's monitoring periods (``mrv periods list``)."""
    console.print("monitoring periods (`mrv periods list --project ID`):")
    for pid, periods in summary.periods.items():
        listed = ", ".join(f"{p.number}: {p.start} to {p.end}" for p in periods) or "none"
        console.print(f"  {pid}: {listed}", soft_wrap=True)


def _print_ingestion(
    console: Console, summary: DemoSummary, start: datetime, end: datetime
) -> None:
    """What each project's devices sent and what the gateway stored or quarantined."""
    table = Table(title=f"demo: {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    for column in ("project", "devices", "messages", "stored", "dups sent", "quarantined"):
        table.add_column(column, justify="left" if column == "project" else "right", no_wrap=True)
    reasons: list[str] = []
    for pid, row in summary.projects.items():
        q = row["quarantined"]
        assert isinstance(q, dict)
        table.add_row(
            pid,
            str(row["devices"]),
            f"{row['messages_sent']:,}",
            f"{row['stored_readings']:,}",
            f"{row['duplicates_sent']:,}",
            f"{sum(q.values()):,}",
        )
        if q:
            reasons.append(f"  {pid}: " + ", ".join(f"{r} {n}" for r, n in sorted(q.items())))
    console.print(table)
    if reasons:
        console.print("quarantined by reason (`mrv quarantine list` shows each entry):")
        for line in reasons:
            console.print(line, soft_wrap=True, markup=False, highlight=False)
    m = summary.gateway_metrics
    console.print(
        f"gateway: {m.get('mrv_gateway_messages_received_total', 0):,.0f} messages received, "
        f"{m.get('mrv_gateway_readings_stored_total', 0):,.0f} readings stored, "
        f"{m.get('mrv_gateway_duplicates_total', 0):,.0f} duplicates dropped, "
        f"{m.get('mrv_gateway_events_total', 0):,.0f} data-quality events",
        soft_wrap=True,
    )


def _print_reductions(
    console: Console, summary: DemoSummary, start: datetime, end: datetime
) -> None:
    """Each project's emission reductions from its monitoring report."""
    last = end - timedelta(days=1)
    ers = Table(title=f"emission reductions, {start:%Y-%m-%d} to {last:%Y-%m-%d}")
    columns = ("project", "RE tCO2", "PE tCO2", "ER unrounded", "ER tCO2", "gaps", "corrections")
    for column in columns:
        ers.add_column(column, justify="left" if column == "project" else "right", no_wrap=True)
    for pid, rep in summary.reports.items():
        if "error" in rep:
            ers.add_row(pid, "[red]no report[/]", "", "", "", "", "")
            console.print(f"[red]{pid}: {rep['error']}[/]", soft_wrap=True)
            continue
        ers.add_row(
            pid,
            f"{rep['reference_tco2']:,.3f}",
            f"{rep['project_tco2']:,.3f}",
            f"{rep['er_unrounded']:,.3f}",
            f"{rep['er']:,.0f}",
            str(rep["gaps"]),
            str(rep["corrections"]),
        )
    console.print(ers)
