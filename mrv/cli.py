"""The ``mrv`` command: one subcommand per part, plus the operator commands."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from mrv.cli_api import api, token_app
from mrv.cli_records import entries_app, periods_app
from mrv.cli_report import report
from mrv.config import Settings, load_settings

app = typer.Typer(
    help="jcm-mrv: measurement, reporting and verification for JCM projects.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
plan_app = typer.Typer(help="Monitoring plans: validate and load.", no_args_is_help=True)
readings_app = typer.Typer(help="Stored readings: export and import.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Quarantined messages: list and release.", no_args_is_help=True)
events_app = typer.Typer(help="Data-quality events.", no_args_is_help=True)
devices_app = typer.Typer(help="Registered devices and their last status.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(readings_app, name="readings")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(events_app, name="events")
app.add_typer(devices_app, name="devices")
app.add_typer(periods_app, name="periods")
app.add_typer(entries_app, name="entries")
app.command("report")(report)
app.command("api")(api)


@app.command("field")
def field(
    home: Annotated[
        Path | None,
        typer.Option(
            help="Where the app keeps its entries (default: $MRV_FIELD_HOME or ~/.mrv-field)"
        ),
    ] = None,
    size: Annotated[str, typer.Option(help="Window size, WxH (a tablet: 800x1280)")] = "800x1280",
) -> None:
    """Start the field app (Kivy) on this desktop."""
    from mobile_app.main import main

    main([*(["--home", str(home)] if home else []), "--size", size])


app.add_typer(token_app, name="token")

console = Console()
err = Console(stderr=True)

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Data folder (default: $MRV_HOME or per-user)")
]


def _settings(home: Path | None = None, **overrides: Any) -> Settings:
    return load_settings(home=home, **overrides)


@contextmanager
def _session(home: Path | None) -> Iterator[Session]:
    """A session on the configured relational store, for commands that read it."""
    from mrv.db.engine import Database

    db = Database(_settings(home).effective_database_url)
    try:
        with db.session() as session:
            yield session
    finally:
        db.dispose()


def _logging(verbose: bool) -> None:
    from mrv.logs import configure

    configure(verbose)


def _parse_time(text: str | None, option: str) -> int | None:
    """YYYY-MM-DD or RFC 3339 (UTC if no offset) -> epoch ms."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date or RFC 3339 time", param_hint=option
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# --- gateway ----------------------------------------------------------------------------


@app.command()
def gateway(
    home: HomeOption = None,
    mqtt_url: Annotated[str | None, typer.Option(help="Broker, mqtt://host:port")] = None,
    client_id: Annotated[str | None, typer.Option(help="Fixed MQTT client id")] = None,
    share_group: Annotated[
        str | None, typer.Option("--share-group", help="Join an MQTT 5 shared subscription")
    ] = None,
    protocol: Annotated[str, typer.Option(help="MQTT protocol: 5 or 3.1.1")] = "5",
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics on this port")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, max=10000)] = None,
    verbose: bool = False,
) -> None:
    """Run the MQTT ingestion gateway until SIGTERM/SIGINT."""
    from gateway.service import Gateway, GatewayOptions

    _logging(verbose)
    if protocol not in ("5", "3.1.1"):
        raise typer.BadParameter("must be 5 or 3.1.1", param_hint="--protocol")
    settings = _settings(home, mqtt_url=mqtt_url)
    options = GatewayOptions.from_settings(
        settings,
        client_id=client_id,
        share_group=share_group,
        protocol=5 if protocol == "5" else 4,
        metrics_port=metrics_port,
        batch_size=batch_size,
    )
    gw = Gateway(settings, options)
    gw.install_signal_handlers()
    err.print(
        f"[green]gateway[/] {options.client_id} → {settings.mqtt_url}; data in {settings.home}"
    )
    gw.run()


@app.command()
def sim(
    plans: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Plan files")],
    home: HomeOption = None,
    mqtt_url: Annotated[str | None, typer.Option(help="Broker, mqtt://host:port")] = None,
    days: Annotated[float, typer.Option(min=0.001, max=3660)] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="Start (date or RFC 3339); default: now minus --days")
    ] = None,
    seed: Annotated[int, typer.Option()] = 1,
    speed: Annotated[
        float | None, typer.Option(min=0.001, help="Simulated seconds per real second")
    ] = None,
    backfill: Annotated[
        bool, typer.Option(help="Publish the past part of the period as fast as possible")
    ] = False,
    faults: Annotated[
        str, typer.Option(help="none, typical, or JSON of rates, e.g. '{\"garbage_rate\": 0.01}'")
    ] = "none",
    state_dir: Annotated[
        Path | None, typer.Option(help="Device flash (buffer, seq); default MRV_HOME/sim")
    ] = None,
    ack_timeout: Annotated[float, typer.Option(help="Seconds to wait for gateway acks")] = 60,
) -> None:
    """Simulate the devices of monitoring plans and publish their readings over MQTT."""
    from firmware_sim.faults import FaultConfig
    from firmware_sim.runner import run_simulation
    from mrv.plans.validate import PlanError, load_plan_file

    settings = _settings(home, mqtt_url=mqtt_url)
    try:
        loaded = [load_plan_file(p) for p in plans]
    except PlanError as exc:
        for problem in exc.problems:
            err.print(f"[red]✗[/] {problem}")
        raise typer.Exit(1) from None
    if faults == "none":
        fault_config = FaultConfig.none()
    elif faults == "typical":
        fault_config = FaultConfig.typical()
    else:
        try:
            fault_config = FaultConfig.from_dict(json.loads(faults))
        except (ValueError, TypeError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--faults") from None
    start_ms = _parse_time(start, "--start")
    begin = (
        datetime.fromtimestamp(start_ms / 1000, UTC)
        if start_ms is not None
        else datetime.now(UTC) - timedelta(days=days)
    )
    result = run_simulation(
        loaded,
        settings.mqtt(),
        start=begin,
        days=days,
        seed=seed,
        speed=speed,
        backfill=backfill,
        faults=fault_config,
        state_dir=state_dir or settings.ensure_home() / "sim",
        ack_timeout_s=ack_timeout,
    )
    table = Table(title=f"simulated {result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M}")
    for column in (
        "project",
        "messages",
        "readings",
        "duplicates",
        "garbage",
        "wrong unit",
        "outages",
        "resets",
        "unacked",
    ):
        table.add_column(column)
    for pid, c in result.projects.items():
        table.add_row(
            pid,
            *(
                str(v)
                for v in (
                    c.messages,
                    c.readings,
                    c.duplicates,
                    c.garbage,
                    c.wrong_unit,
                    c.outages,
                    c.resets,
                    c.unacked,
                )
            ),
        )
    console.print(table)
    if not result.all_acked:
        err.print(
            "[yellow]not every message was acknowledged by a gateway; the buffer keeps "
            "them for the next run[/]"
        )


@app.command()
def demo(
    home: HomeOption = None,
    days: Annotated[float, typer.Option(min=1, max=366)] = 30,
    seed: Annotated[int, typer.Option()] = 2026,
    plans_dir: Annotated[Path | None, typer.Option(help="Folder of plan files")] = None,
) -> None:
    """Run broker, gateway and simulated devices end to end and summarise the result."""
    from mrv.broker import BrokerMissing
    from mrv.demo import DemoError, run_demo

    settings = _settings(home)
    console.print(f"jcm-mrv demo; data folder {settings.home}")
    try:
        run_demo(settings, plans_dir=plans_dir, days=days, seed=seed, console=console)
    except (BrokerMissing, DemoError) as exc:
        err.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None


@app.command("broker-auth")
def broker_auth(
    out: Annotated[Path, typer.Option(help="Folder for passwords, acl and credentials")],
    project: Annotated[list[str] | None, typer.Option(help="Only these projects")] = None,
    gateway_user: Annotated[str, typer.Option(help="The gateway's broker username")] = (
        "mrv-gateway"
    ),
    home: HomeOption = None,
) -> None:
    """Generate Mosquitto password and ACL files from the device registry."""
    from sqlalchemy import select

    from mrv.broker_auth import DeviceEntry, write_auth_files
    from mrv.db.models import Device

    with _session(home) as session:
        query = select(Device).where(Device.status == "active")
        if project:
            query = query.where(Device.project_id.in_(project))
        devices = [DeviceEntry(d.project_id, d.site_id, d.id) for d in session.scalars(query)]
    files = write_auth_files(devices, out, gateway_user=gateway_user)
    console.print(
        f"{len(devices)} devices; new credentials for {len(files.new_devices)} users.\n"
        f"mosquitto.conf:  password_file {files.password_file}\n"
        f"                 acl_file {files.acl_file}\n"
        f"plaintext credentials for provisioning (keep secret): {files.credentials_file}",
        soft_wrap=True,
    )


# --- plans ------------------------------------------------------------------------------


@plan_app.command("validate")
def plan_validate(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Check a plan file and explain every problem with its line and column."""
    from mrv.plans.validate import validate_plan_text

    plan, problems = validate_plan_text(file.read_text(encoding="utf-8"))
    if problems:
        for problem in problems:
            err.print(f"[red]✗[/] {problem.located(file)}", soft_wrap=True)
        err.print(f"{len(problems)} problem(s) in {file}")
        raise typer.Exit(1)
    assert plan is not None
    console.print(
        f"[green]✓[/] {file}: project {plan.project.id}, {len(plan.sites)} sites, "
        f"{len(plan.devices)} devices, {len(plan.parameters)} parameters"
    )


@plan_app.command("load")
def plan_load(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    home: HomeOption = None,
) -> None:
    """Validate and register plans (projects, sites, devices) in the relational store."""
    from mrv.db.engine import Database
    from mrv.db.repo import load_plan
    from mrv.plans.validate import PlanError, load_plan_file

    settings = _settings(home)
    settings.ensure_home()
    db = Database(settings.effective_database_url)
    try:
        for file in files:
            try:
                plan = load_plan_file(file)
            except PlanError as exc:
                for problem in exc.problems:
                    err.print(f"[red]✗[/] {problem.located(file)}", soft_wrap=True)
                raise typer.Exit(1) from None
            with db.session() as session, session.begin():
                load_plan(session, plan, file.read_text(encoding="utf-8"), actor="cli")
            console.print(f"[green]loaded[/] {plan.project.id} ({len(plan.devices)} devices)")
    finally:
        db.dispose()


# --- readings ---------------------------------------------------------------------------

EXPORT_FIELDS = (
    "time",
    "project",
    "site",
    "device",
    "seq",
    "quantity",
    "value",
    "unit",
    "raw_value",
    "raw_unit",
    "historical",
)


@readings_app.command("export")
def readings_export(
    project: Annotated[str, typer.Option(help="Project id")],
    device: Annotated[str | None, typer.Option()] = None,
    quantity: Annotated[str | None, typer.Option()] = None,
    start: Annotated[str | None, typer.Option(help="From (inclusive), date or RFC 3339")] = None,
    end: Annotated[str | None, typer.Option(help="To (exclusive), date or RFC 3339")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout)")] = None,
    home: HomeOption = None,
) -> None:
    """Export canonical readings, in time order."""
    from mrv import quantities
    from mrv.stores import open_timeseries
    from mrv.wire import format_time, time_from_ms

    if format not in ("csv", "jsonl"):
        raise typer.BadParameter("must be csv or jsonl", param_hint="--format")
    store = open_timeseries(_settings(home))
    handle = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
    try:
        writer = csv.writer(handle) if format == "csv" else None
        if writer:
            writer.writerow(EXPORT_FIELDS)
        for row in store.query(
            project,
            device=device,
            quantity=quantity,
            start_ms=_parse_time(start, "--start"),
            end_ms=_parse_time(end, "--end"),
        ):
            spec = quantities.get(row.quantity)
            record = {
                "time": format_time(time_from_ms(row.time_ms)),
                "project": row.project,
                "site": row.site,
                "device": row.device,
                "seq": row.seq,
                "quantity": row.quantity,
                "value": row.value,
                "unit": spec.canonical_unit if spec else "",
                "raw_value": row.raw_value,
                "raw_unit": row.raw_unit,
                "historical": row.historical,
            }
            if writer:
                writer.writerow([record[f] for f in EXPORT_FIELDS])
            else:
                handle.write(json.dumps(record) + "\n")
    finally:
        if out:
            handle.close()
        store.close()


def _processor(settings: Settings) -> Any:
    from gateway.processor import BatchProcessor
    from mrv.db.engine import Database
    from mrv.stores import open_timeseries

    settings.ensure_home()
    return BatchProcessor(
        open_timeseries(settings), Database(settings.effective_database_url), actor="cli"
    )


@readings_app.command("import")
def readings_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    project: Annotated[str, typer.Option(help="Project id")],
    home: HomeOption = None,
) -> None:
    """Import a data-logger CSV export with the same dedupe and quarantine rules as MQTT."""
    from gateway.importer import ImportError_, import_csv

    processor = _processor(_settings(home))
    try:
        result = import_csv(processor, project, file)
    except ImportError_ as exc:
        err.print(f"[red]✗[/] {file}: {exc}")
        raise typer.Exit(1) from None
    finally:
        processor.store.close()
        processor.db.dispose()
    quarantined = sum(result.quarantined.values())
    console.print(
        f"{result.messages} messages: [green]{result.stored} stored[/], "
        f"{result.duplicates} duplicates, [yellow]{quarantined} quarantined[/] "
        f"{dict(result.quarantined) if quarantined else ''}"
    )


# --- quarantine -------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    project: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str, typer.Option(help="open, released or all")] = "open",
    format: Annotated[str, typer.Option("--format", help="table or jsonl")] = "table",
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1000,
    home: HomeOption = None,
) -> None:
    """List quarantined messages with their reasons."""
    from sqlalchemy import select

    from mrv.db.models import QuarantineEntry

    if format not in ("table", "jsonl"):
        raise typer.BadParameter("must be table or jsonl", param_hint="--format")
    with _session(home) as session:
        query = select(QuarantineEntry).order_by(QuarantineEntry.id).limit(limit)
        if project:
            query = query.where(QuarantineEntry.project_id == project)
        if status != "all":
            query = query.where(QuarantineEntry.status == status)
        entries = list(session.scalars(query))
    if format == "jsonl":
        for e in entries:
            print(
                json.dumps(
                    {
                        "id": e.id,
                        "received_at": e.received_at.isoformat(),
                        "topic": e.topic,
                        "project": e.project_id,
                        "device": e.device_id,
                        "seq": e.seq,
                        "item": e.item,
                        "reason": e.reason,
                        "field": e.field,
                        "detail": e.detail,
                        "status": e.status,
                        "payload": bytes(e.payload).decode("utf-8", "backslashreplace"),
                    }
                )
            )
        return
    table = Table(title=f"quarantine ({status})")
    for column in ("id", "received", "project", "device", "seq", "reason", "detail"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.id),
            e.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.project_id or "",
            e.device_id or "",
            "" if e.seq is None else str(e.seq),
            e.reason,
            e.detail,
        )
    console.print(table)


@quarantine_app.command("release")
def quarantine_release(
    ids: Annotated[list[int] | None, typer.Argument(help="Entry ids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Release every open entry")] = False,
    project: Annotated[str | None, typer.Option(help="With --all: only this project")] = None,
    home: HomeOption = None,
) -> None:
    """Re-process quarantined messages (e.g. after registering their device)."""
    from gateway.release import release

    if not ids and not all_:
        raise typer.BadParameter("give entry ids or --all")
    processor = _processor(_settings(home))
    try:
        outcomes = release(processor, None if all_ else list(ids or []), project=project)
    finally:
        processor.store.close()
        processor.db.dispose()
    for o in outcomes:
        mark = "[green]released[/]" if o.released else "[yellow]kept[/]"
        console.print(f"{o.id}: {mark} {o.message}")
    console.print(f"{sum(o.released for o in outcomes)} of {len(outcomes)} released")


# --- events -----------------------------------------------------------------------------


@events_app.command("list")
def events_list(
    project: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="reset, rollover, conflict, ...")] = None,
    format: Annotated[str, typer.Option("--format", help="table or jsonl")] = "table",
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1000,
    home: HomeOption = None,
) -> None:
    """List data-quality events: register resets and rollovers, conflicts."""
    from sqlalchemy import select

    from mrv.db.models import Event
    from mrv.wire import format_time, time_from_ms

    with _session(home) as session:
        query = select(Event).order_by(Event.time_ms, Event.id).limit(limit)
        if project:
            query = query.where(Event.project_id == project)
        if kind:
            query = query.where(Event.kind == kind)
        events = list(session.scalars(query))
    if format == "jsonl":
        for e in events:
            print(
                json.dumps(
                    {
                        "id": e.id,
                        "project": e.project_id,
                        "device": e.device_id,
                        "quantity": e.quantity,
                        "time": format_time(time_from_ms(e.time_ms)),
                        "kind": e.kind,
                        "detail": e.detail,
                    }
                )
            )
        return
    table = Table(title="data-quality events")
    for column in ("time", "project", "device", "quantity", "kind", "detail"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(
            format_time(time_from_ms(e.time_ms)),
            e.project_id,
            e.device_id,
            e.quantity,
            e.kind,
            json.dumps(e.detail),
        )
    console.print(table)


@devices_app.command("list")
def devices_list(
    project: Annotated[str | None, typer.Option()] = None,
    format: Annotated[str, typer.Option("--format", help="table or jsonl")] = "table",
    home: HomeOption = None,
) -> None:
    """List devices with their registry status and the last status they published."""
    from sqlalchemy import select

    from mrv.db.models import Device, DeviceStatus

    with _session(home) as session:
        query = (
            select(Device, DeviceStatus)
            .outerjoin(
                DeviceStatus,
                (DeviceStatus.project_id == Device.project_id)
                & (DeviceStatus.device_id == Device.id),
            )
            .order_by(Device.project_id, Device.id)
        )
        if project:
            query = query.where(Device.project_id == project)
        rows = [(d, s) for d, s in session.execute(query).all()]
    records = [
        {
            "project": d.project_id,
            "device": d.id,
            "site": d.site_id,
            "type": d.type,
            "serial": d.serial,
            "registry": d.status,
            "state": s.state if s else None,
            "firmware": s.firmware if s else None,
            "buffered": s.buffered if s else None,
        }
        for d, s in rows
    ]
    if format == "jsonl":
        for record in records:
            print(json.dumps(record))
        return
    table = Table(title="devices")
    for column in (
        "project",
        "device",
        "site",
        "type",
        "serial",
        "registry",
        "state",
        "firmware",
        "buffered",
    ):
        table.add_column(column)
    for r in records:
        table.add_row(*("" if v is None else str(v) for v in r.values()))
    console.print(table)


if __name__ == "__main__":
    app()
