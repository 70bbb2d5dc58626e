"""The ingestion commands: ``mrv gateway``, ``mrv sim``, ``mrv broker-auth`` and the
operator's views of what the gateway stored: ``readings``, ``quarantine``, ``events`` and
``devices``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from core import quantities
from core.config import Settings
from core.plans.validate import PlanError
from core.times import format_ms, from_ms, now_ms
from firmware_sim.faults import FaultConfig
from firmware_sim.runner import SimulationResult, run_simulation
from gateway.importer import Imported, import_table
from gateway.processor import BatchProcessor
from gateway.release import release
from gateway.service import Gateway, GatewayOptions
from mrv.broker_auth import DeviceEntry, write_auth_files
from mrv.cli import common
from mrv.cli.common import FormatOption, HomeOption, console, err
from persistence import readings_table
from persistence.engine import Database
from persistence.liveness import device_liveness, last_heard
from persistence.models import Device, Event, QuarantineEntry
from persistence.readings_table import TableError
from persistence.repo import EventKind, raw_messages
from persistence.stores import open_timeseries
from verification.plan_check import load_plan_file

readings_app = typer.Typer(help="Stored readings: export and import.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Quarantined messages: list and release.", no_args_is_help=True)
events_app = typer.Typer(help="Data-quality events.", no_args_is_help=True)
devices_app = typer.Typer(help="Registered devices and their last status.", no_args_is_help=True)


def gateway(
    home: HomeOption = None,
    mqtt_url: Annotated[str | None, typer.Option(help="Broker, mqtt://host:port")] = None,
    client_id: Annotated[str | None, typer.Option(help="Fixed MQTT client id")] = None,
    share_group: Annotated[
        str | None, typer.Option("--share-group", help="Join an MQTT 5 shared subscription")
    ] = None,
    protocol: Annotated[Literal["5", "3.1.1"], typer.Option(help="MQTT protocol")] = "5",
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics on this port")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, max=10000)] = None,
    verbose: bool = False,
) -> None:
    """Run the MQTT ingestion gateway until SIGTERM/SIGINT."""

    common.configure_logging(verbose)
    settings = common.settings(home, mqtt_url=mqtt_url)
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
        f"[green]gateway[/] {escape(options.client_id)} → {escape(settings.mqtt_url)}; "
        f"data in {escape(str(settings.home))}",
        soft_wrap=True,
    )
    gw.run()


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
    settings = common.settings(home, mqtt_url=mqtt_url)
    try:
        loaded = [load_plan_file(p) for p in plans]
    except PlanError as exc:
        for problem in exc.problems:
            common.error_line(str(problem))
        raise typer.Exit(1) from None
    start_ms = common.parse_time(start, "--start")
    begin = from_ms(start_ms) if start_ms is not None else datetime.now(UTC) - timedelta(days=days)
    result = run_simulation(
        loaded,
        settings.mqtt(),
        start=begin,
        days=days,
        seed=seed,
        speed=speed,
        backfill=backfill,
        faults=_fault_config(faults),
        state_dir=state_dir or settings.ensure_home() / "sim",
        ack_timeout_s=ack_timeout,
    )
    console.print(_simulation_table(result))
    if not result.all_acked:
        err.print(
            "[yellow]not every message was acknowledged by a gateway; the buffer keeps "
            "them for the next run[/]"
        )


def _fault_config(faults: str) -> FaultConfig:
    """``--faults``: none, typical, or a JSON object of rates."""
    if faults == "none":
        return FaultConfig.none()
    if faults == "typical":
        return FaultConfig.typical()
    try:
        return FaultConfig.from_dict(json.loads(faults))
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None


SIM_COLUMNS = {  # header: ProjectCounts attribute
    "project": "",
    "messages": "messages",
    "readings": "readings",
    "duplicates": "duplicates",
    "garbage": "garbage",
    "wrong unit": "wrong_unit",
    "outages": "outages",
    "resets": "resets",
    "unacked": "unacked",
}


def _simulation_table(result: SimulationResult) -> Table:
    table = Table(title=f"simulated {result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M}")
    for column in SIM_COLUMNS:
        table.add_column(column)
    for pid, counts in result.projects.items():
        common.add_row(
            table, pid, *(str(getattr(counts, a)) for a in list(SIM_COLUMNS.values())[1:])
        )
    return table


def broker_auth(
    out: Annotated[Path, typer.Option(help="Folder for passwords, acl and credentials")],
    project: Annotated[list[str] | None, typer.Option(help="Only these projects")] = None,
    gateway_user: Annotated[str, typer.Option(help="The gateway's broker username")] = (
        "mrv-gateway"
    ),
    home: HomeOption = None,
) -> None:
    """Generate Mosquitto password and ACL files from the device registry."""

    with common.session(home) as session:
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
        markup=False,
    )


# --- readings ---------------------------------------------------------------------------


@readings_app.command("export")
def readings_export(
    project: Annotated[str, typer.Option(help="Project id")],
    device: Annotated[str | None, typer.Option()] = None,
    quantity: Annotated[str | None, typer.Option()] = None,
    start: Annotated[str | None, typer.Option(help="From (inclusive), date or RFC 3339")] = None,
    end: Annotated[str | None, typer.Option(help="To (exclusive), date or RFC 3339")] = None,
    format: Annotated[Literal["csv", "jsonl"], typer.Option("--format")] = "csv",
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout)")] = None,
    home: HomeOption = None,
) -> None:
    """Export stored readings in time order, as the readings table (the API's columns;
    ``mrv readings import`` reads it back)."""

    start_ms, end_ms = common.parse_time(start, "--start"), common.parse_time(end, "--end")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        common.fail(f"{end!r} is not after --start {start!r}", "--end", code=2)
    if quantity is not None and quantity not in quantities.CATALOGUE:
        common.fail(
            f"no quantity {quantity!r} (known: {', '.join(quantities.CATALOGUE)})", "--quantity"
        )
    with common.session(home) as session:
        common.known_project(session, project)
        common.known_device(session, project, device)
    try:
        handle = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
    except OSError as exc:
        common.fail(str(exc), "--out")
    store = open_timeseries(common.settings(home))
    try:
        rows = store.query(
            project, device=device, quantity=quantity, start_ms=start_ms, end_ms=end_ms
        )
        write = readings_table.write_csv if format == "csv" else readings_table.write_jsonl
        write(rows, handle)
    finally:
        if out:
            handle.close()
        store.close()


def _processor(settings: Settings) -> BatchProcessor:

    settings.ensure_home()
    return BatchProcessor(
        open_timeseries(settings), Database(settings.effective_database_url), actor="cli"
    )


@readings_app.command("import")
def readings_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    project: Annotated[str, typer.Option(help="Project id")],
    format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: by the file's suffix)")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Import a readings table (an export, or a data logger's CSV with some of its
    columns) with the same validation, dedupe, quarantine and audit as MQTT."""

    kind = format or ("jsonl" if file.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    if kind not in ("csv", "jsonl"):
        raise typer.BadParameter("must be csv or jsonl", param_hint="--format")
    processor = _processor(common.settings(home))
    try:
        result = import_table(processor, project, file, "jsonl" if kind == "jsonl" else "csv")
    except TableError as exc:
        common.fail(f"{exc}; nothing was imported", str(file))
    finally:
        processor.store.close()
        processor.db.dispose()
    _print_import(result)


def _print_import(result: Imported) -> None:
    quarantined = sum(result.quarantined.values())
    console.print(
        f"{result.rows} rows in {result.messages} messages: [green]{result.stored} stored[/], "
        f"{result.duplicates} duplicates, {result.conflicts} conflicts, "
        f"[yellow]{quarantined} quarantined[/] "
        f"{escape(str(dict(result.quarantined))) if quarantined else ''}",
        soft_wrap=True,
    )
    for line in result.named:
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    if quarantined > len(result.named):
        console.print("the rest: mrv quarantine list", soft_wrap=True)


# --- quarantine -------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    project: Annotated[str | None, typer.Option()] = None,
    status: Annotated[Literal["open", "released", "resolved", "all"], typer.Option()] = "open",
    format: FormatOption = "table",
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1000,
    home: HomeOption = None,
) -> None:
    """List quarantined messages with their reasons."""

    with common.session(home) as session:
        common.known_project(session, project)
        query = select(QuarantineEntry).order_by(QuarantineEntry.id).limit(limit)
        if project:
            query = query.where(QuarantineEntry.project_id == project)
        if status != "all":
            query = query.where(QuarantineEntry.status == status)
        entries = list(session.scalars(query))
        # the raw bytes are kept once per message, however many of its parts are listed
        raw = raw_messages(session, (e.digest for e in entries)) if format != "table" else {}
    records = [
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
            "payload": (
                bytes(raw[e.digest].payload).decode("utf-8", "backslashreplace") if raw else None
            ),
        }
        for e in entries
    ]
    common.print_list(
        records,
        format,
        title=f"quarantine ({status})",
        columns=("id", "received_at", "project", "device", "seq", "reason", "detail"),
        cells={"received_at": common.short_time},
    )


@quarantine_app.command("release")
def quarantine_release(
    ids: Annotated[list[int] | None, typer.Argument(help="Entry ids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Release every open entry")] = False,
    project: Annotated[str | None, typer.Option(help="With --all: only this project")] = None,
    home: HomeOption = None,
) -> None:
    """Re-process quarantined messages (e.g. after registering their device)."""

    if not ids and not all_:
        common.fail("give entry ids or --all", "IDS", code=2)
    with common.session(home) as session:
        common.known_project(session, project)
    processor = _processor(common.settings(home))
    try:
        outcomes = release(processor, None if all_ else list(ids or []), project=project)
    finally:
        processor.store.close()
        processor.db.dispose()
    for o in outcomes:
        mark = "[green]released[/]" if o.released else "[yellow]kept[/]"
        console.print(f"{o.id}: {mark} {escape(o.message)}", soft_wrap=True)
    console.print(f"{sum(o.released for o in outcomes)} of {len(outcomes)} released")
    missing = sorted(set(ids or []) - {o.id for o in outcomes}) if not all_ else []
    if missing:
        listed = ", ".join(map(str, missing))
        common.fail(f"no open quarantine entry {listed} (mrv quarantine list)", "IDS")


# --- events -----------------------------------------------------------------------------


@events_app.command("list")
def events_list(
    project: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[EventKind | None, typer.Option(help="Only events of this kind")] = None,
    format: FormatOption = "table",
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1000,
    home: HomeOption = None,
) -> None:
    """List data-quality events: register resets and rollovers, conflicts."""

    with common.session(home) as session:
        common.known_project(session, project)
        query = select(Event).order_by(Event.time_ms, Event.id).limit(limit)
        if project:
            query = query.where(Event.project_id == project)
        if kind:
            query = query.where(Event.kind == kind)
        events = list(session.scalars(query))
    records = [
        {
            "id": e.id,
            "project": e.project_id,
            "device": e.device_id,
            "quantity": e.quantity,
            "time": format_ms(e.time_ms),
            "kind": e.kind,
            "detail": e.detail,
        }
        for e in events
    ]
    common.print_list(
        records,
        format,
        title="data-quality events",
        columns=("time", "project", "device", "quantity", "kind", "detail"),
    )


@devices_app.command("list")
def devices_list(
    project: Annotated[str | None, typer.Option()] = None,
    format: FormatOption = "table",
    home: HomeOption = None,
) -> None:
    """List devices with their registry status and whether they are online: offline after
    the plan's offline_after_s without a message, or when their last will said so."""

    with common.session(home) as session:
        common.known_project(session, project)
        rows = device_liveness(session, now_ms(), project)
    records = [
        {
            "project": d.device.project_id,
            "device": d.device.id,
            "site": d.device.site_id,
            "type": d.device.type,
            "serial": d.device.serial,
            "registry": d.device.status,
            # online, offline (after the plan's silence, or on its last will) or unknown
            "state": d.liveness.state,
            "offline_reason": d.liveness.reason,
            "last_heard": last_heard(d),
            "offline_after_s": d.offline_after_s,
            "firmware": d.status.firmware if d.status else None,
            "buffered": d.status.buffered if d.status else None,
        }
        for d in rows
    ]
    common.print_list(records, format, title="devices")
