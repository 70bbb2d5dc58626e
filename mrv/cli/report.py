"""``mrv report``: the monitoring report of a project over a period, in any format."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.windows import range_problems
from mrv.cli import common
from mrv.cli.common import HomeOption, err
from persistence.keys import installation_key
from persistence.records import RecordError
from persistence.stores import open_timeseries
from verification.render.formats import BINARY, Format
from verification.render.text import findings_label
from verification.reporting import Issued, issue_report


def report(
    project: Annotated[str, typer.Option("--project", help="Project id")],
    start: Annotated[str, typer.Option(help="First day of the period, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last day of the period (inclusive), YYYY-MM-DD")],
    format: Annotated[Format, typer.Option("--format")] = "json",
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: stdout)")
    ] = None,
    home: HomeOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display")] = False,
) -> None:
    """Compute and write the monitoring report (recorded in the audit chain). ``csv`` is
    a zip: one CSV file per table and a datapackage.json describing them."""

    first, last = common.parse_date(start, "--start"), common.parse_date(end, "--end")
    if wrong := range_problems(first, last):
        name, why = wrong[0]
        raise typer.BadParameter(why, param_hint=f"--{name}")
    if last < first:
        raise typer.BadParameter("must not be before --start", param_hint="--end")
    if format == "csv" and out is not None and out.suffix.lower() != ".zip":
        why = "csv is a zip of CSV files with a datapackage.json: name it ….zip"
        raise typer.BadParameter(why, param_hint="--out")
    if format in BINARY and out is None and sys.stdout.isatty():
        raise typer.BadParameter(f"{format} is binary: give --out FILE", param_hint="--out")
    # Opened first: a report is recorded as issued only if it can be written.
    handle = _opened(out)
    try:
        issued = _issue(project, first, last, format, home, quiet)
    except BaseException:
        if handle is not None and out is not None:
            handle.close()
            out.unlink(missing_ok=True)
        raise
    if handle is None or out is None:
        sys.stdout.buffer.write(issued.content)
        sys.stdout.flush()
    else:
        with handle:
            handle.write(issued.content)
        r = issued.report
        err.print(
            f"{escape(str(out))}: {r.project.id} {r.period.start}..{r.period.end} "
            f"ER {r.emission_reductions_tco2.value:g} tCO2 "
            f"(unrounded {r.emission_reductions_tco2.unrounded:.3f}); "
            f"findings {findings_label(r)}; inputs {r.inputs_sha256[:12]}"
        )


def _opened(out: Path | None) -> BinaryIO | None:
    """The --out file, opened for writing; a folder that is not there or not writable is
    told in one line (exit 1) before anything is computed or recorded."""
    if out is None:
        return None
    try:
        return out.open("wb")
    except OSError as exc:
        common.fail(str(exc), "--out")


def _progress(quiet: bool) -> Progress:
    """A bar on stderr that the report's steps move along; gone when it ends."""
    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )


def _issue(
    project: str, first: date, last: date, format: Format, home: Path | None, quiet: bool
) -> Issued:
    """The report, computed from the stores and recorded as issued; a user's mistake (an
    unknown project, a period the plan does not allow) ends the command with exit 2."""
    settings = common.settings(home)
    store = open_timeseries(settings)
    try:
        with common.session(home) as session, _progress(quiet) as bar:
            task = bar.add_task("report", total=1.0)
            try:
                return issue_report(
                    session,
                    store,
                    project,
                    first,
                    last,
                    format,
                    actor="cli",
                    key=installation_key(settings.home),
                    progress=lambda what, done: bar.update(
                        task, description=f"report: {what}", completed=done
                    ),
                )
            except (RecordError, ValueError, KeyError, FileNotFoundError) as exc:
                common.fail(str(exc), code=2)
    finally:
        store.close()
