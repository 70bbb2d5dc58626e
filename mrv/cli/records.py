"""``mrv periods`` and ``mrv entries``: monitoring periods and field entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import yaml
from pydantic import ValidationError

from core.entries import (
    ENTRY_STATUSES,
    CalibrationCertificate,
    EntryBody,
    EntryIn,
    EntryStatus,
    EntryType,
    FuelInvoice,
    MeterReading,
    SiteVisitChecklist,
    WeighbridgeTicket,
)
from core.errors import problems_from
from mrv.cli import common
from mrv.cli.common import FormatOption, HomeOption, ProjectOption, console
from persistence.records import (
    EntryRejected,
    RecordError,
    add_entry,
    change_entry_status,
    define_period,
    entries_for,
    get_entry,
    list_periods,
    stored_plan,
)

periods_app = typer.Typer(
    help="Monitoring periods: define the next one, list.", no_args_is_help=True
)
entries_app = typer.Typer(
    help="Field entries (readings, invoices, certificates, tickets, checklists).",
    no_args_is_help=True,
)


# --- periods ----------------------------------------------------------------------------


@periods_app.command("define")
def periods_define(
    project: ProjectOption,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last day (inclusive), YYYY-MM-DD")],
    actor: Annotated[str, typer.Option(help="Who defines it (audit log)")] = "cli",
    home: HomeOption = None,
) -> None:
    """Define the project's next monitoring period (contiguous, inside the crediting
    period; the first starts on the crediting period's start)."""

    first, last = common.parse_date(start, "--start"), common.parse_date(end, "--end")
    with common.session(home) as session:
        try:
            with session.begin():
                row = define_period(session, project, first, last, actor)
        except RecordError as exc:
            common.fail(exc.message, f"--{exc.field}")
    days = (row.end - row.start).days + 1
    console.print(
        f"[green]period {row.number}[/] of {row.project_id}: {row.start} to {row.end} ({days} days)"
    )


@periods_app.command("list")
def periods_list(
    project: ProjectOption, format: FormatOption = "table", home: HomeOption = None
) -> None:
    """List a project's monitoring periods."""

    with common.session(home) as session:
        common.known_project(session, project)
        periods = list_periods(session, project)
    records = [
        {
            "project": p.project_id,
            "number": p.number,
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "days": (p.end - p.start).days + 1,
            "defined_at": p.defined_at.isoformat(),
            "actor": p.actor,
        }
        for p in periods
    ]
    common.print_list(
        records,
        format,
        title=f"monitoring periods of {project}",
        columns=("number", "start", "end", "days", "defined_at", "actor"),
        cells={"defined_at": common.short_time},
    )


# --- entries ----------------------------------------------------------------------------


def _read_items(file: Path) -> list[Any]:
    """One envelope or a list of them, from JSON (``.json``) or YAML (anything else)."""

    text = common.read_text(file)
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if file.suffix.lower() == ".json" else "YAML"
        common.fail(f"not valid {kind}: {exc}", str(file))
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    common.fail("expected an entry (a mapping) or a list of entries", str(file))


@entries_app.command("add")
def entries_add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON or YAML")],
    project: ProjectOption,
    author: Annotated[
        str | None, typer.Option(help="Author of entries that do not name one")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Add entries from a file: one envelope ({id, type, body, author, ...}) or a list.

    Each entry is stored on its own; re-adding the same file stores nothing twice."""

    items = _read_items(file)
    parsed: list[tuple[str, EntryIn]] = []
    rejected = 0
    for index, item in enumerate(items):
        # Problems read "file: [index] id: field: message" so that each can be found.
        where = f"{file}: " if len(items) == 1 else f"{file}: [{index}] "
        if isinstance(item, dict) and author is not None:
            item = {"author": author, **item}
        try:
            entry = EntryIn.model_validate(item)
        except ValidationError as exc:
            rejected += 1
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                where += f"{item['id']}: "
            for problem in problems_from(exc):
                common.error_line(f"{where}{problem}")
            continue
        parsed.append((f"{where}{entry.id}: ", entry))
    created = existing = 0
    with common.session(home) as session:
        try:
            with session.begin():
                plan = stored_plan(session, project)
        except RecordError as exc:
            common.fail(exc.message, f"--{exc.field}")
        for where, entry in parsed:
            try:
                with session.begin():
                    _, new = add_entry(session, project, entry, plan)
            except EntryRejected as exc:
                rejected += 1
                for problem in exc.problems:
                    common.error_line(f"{where}{problem}")
                continue
            except RecordError as exc:
                rejected += 1
                common.error_line(f"{where}{exc}")
                continue
            created += new
            existing += not new
            mark = "[green]created[/]" if new else "existing"
            console.print(f"{mark} {entry.id} {entry.type}")
    console.print(f"{created} created, {existing} existing, {rejected} rejected")
    if rejected:
        raise typer.Exit(1)


def _summary(body: EntryBody) -> str:

    if isinstance(body, MeterReading):
        return f"{body.device} {body.quantity} = {body.value:g} {body.unit} at {body.time}"
    if isinstance(body, FuelInvoice):
        text = f"{body.invoice_number}: {body.value:g} {body.unit}, "
        text += f"{body.period_start} to {body.period_end}"
        for label, value in (("parameter", body.parameter), ("point", body.monitoring_point)):
            if value:
                text += f", {label} {value}"
        return text
    if isinstance(body, CalibrationCertificate):
        return (
            f"{body.device} {body.calibrated_on}: {body.result}, error {body.error_pct:+g}% "
            f"({body.certificate})"
        )
    if isinstance(body, WeighbridgeTicket):
        return f"{body.ticket_number}: {body.net_mass.value:g} {body.net_mass.unit} {body.material}"
    if isinstance(body, SiteVisitChecklist):
        passed = sum(body.items.values())
        where = f" at {body.site}" if body.site else ""
        return f"visit{where} {body.visited_at}: {passed}/{len(body.items)} items passed"
    return ""


@entries_app.command("list")
def entries_list(
    project: ProjectOption,
    type: Annotated[EntryType | None, typer.Option("--type", help="Only this entry type")] = None,
    status: Annotated[
        Literal["active", "withdrawn", "deleted", "all"],
        typer.Option(help="active: those reports count"),
    ] = "active",
    format: FormatOption = "table",
    home: HomeOption = None,
) -> None:
    """List a project's entries at their current revision."""

    statuses = ENTRY_STATUSES if status == "all" else (status,)
    with common.session(home) as session:
        common.known_project(session, project)
        entries = entries_for(session, project, [type] if type else None, statuses=statuses)
    records = [{**e.as_json(), "what": _summary(e.body)} for e in entries]
    common.print_list(
        records,
        format,
        title=f"entries of {project}" + (f" ({type})" if type else ""),
        columns=("id", "type", "revision", "status", "recorded_at", "author", "what"),
        cells={"recorded_at": common.short_time},
    )


ReasonOption = Annotated[str, typer.Option(help="Why (required; kept with the revision)")]
AuthorOption = Annotated[str, typer.Option(help="Who makes the change")]


def _change_status(
    project: str, entry_id: str, status: EntryStatus, reason: str, author: str, home: Path | None
) -> None:
    """One change of status, audited; the message names the entry's new revision."""
    with common.session(home) as session:
        try:
            with session.begin():
                entry = get_entry(session, entry_id)
                if entry is None or entry.project_id != project:
                    common.fail(f"no entry {entry_id!r} in project {project}", "ENTRY_ID")
                stored = change_entry_status(session, entry_id, status, reason, author)
        except RecordError as exc:
            common.fail(exc.message, exc.field)
    console.print(f"{stored.id} is {stored.status} (revision {stored.revision})")


EntryArgument = Annotated[str, typer.Argument(help="The entry's id (mrv entries list)")]


STATUS_COMMANDS: dict[str, tuple[EntryStatus, str]] = {
    "withdraw": (
        "withdrawn",
        "Withdraw an entry: it stops counting in reports, stays listed, may be reinstated.",
    ),
    "reinstate": ("active", "Make a withdrawn entry count again."),
    "delete": (
        "deleted",
        "Delete an entry made in error (final). Its revisions are kept as evidence.",
    ),
}


def _status_command(name: str, status: EntryStatus, help: str) -> None:
    """``mrv entries NAME ID --project --reason --author``: one change of status."""

    @entries_app.command(name, help=help)
    def command(
        entry_id: EntryArgument,
        project: ProjectOption,
        reason: ReasonOption,
        author: AuthorOption,
        home: HomeOption = None,
    ) -> None:
        _change_status(project, entry_id, status, reason, author, home)


for _name, (_status, _help) in STATUS_COMMANDS.items():
    _status_command(_name, _status, _help)
