"""What every ``mrv`` command group shares: consoles, the ``--home`` option, settings, a
session on the relational store, and parsing of dates and times given on the command line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings, load_settings
from core.logs import configure
from core.times import to_ms
from persistence.engine import Database
from persistence.models import Device, Project


def _width() -> int | None:
    """A terminal's own width; in a pipe (where Rich would assume 80 columns and cut
    tables) wide enough for any row, unless COLUMNS says otherwise."""
    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return None
    return 1000


def terminal_width() -> int:
    """The width a list is laid out for, read at the moment of printing (COLUMNS, else
    the terminal's, else 1000 in a pipe)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return 1000


# No emoji codes: "bad.yaml:100:11:" must not print as "bad.yaml💯11:".
console = Console(width=_width(), emoji=False)
err = Console(stderr=True, emoji=False)

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Data folder (default: $MRV_HOME or per-user)")
]
ProjectOption = Annotated[str, typer.Option("--project", help="Project id")]
ListFormat = Literal["table", "json", "jsonl", "csv"]
FormatOption = Annotated[
    ListFormat,
    typer.Option("--format", help="table for people; json (one array), jsonl or csv for programs"),
]


def error_line(message: str, field: str | None = None) -> None:
    """The one error style of every command: ``error: FIELD: message`` on stderr, user
    text escaped, never wrapped (a script greps it)."""
    where = f"{field}: " if field else ""
    err.print(f"[red]error:[/red] {escape(where + message)}", soft_wrap=True, highlight=False)


def fail(message: str, field: str | None = None, code: int = 1) -> NoReturn:
    """Stop with one error line. Exit 1 for a failure (an unknown project, a file that
    cannot be written), 2 for a usage mistake (a value the option cannot take)."""
    error_line(message, field)
    raise typer.Exit(code)


def settings(home: Path | None = None, **overrides: Any) -> Settings:
    """The settings of this invocation: options, then MRV_* variables, then the TOML file.
    On a first run with no home given, says where the data will go (once: the folder
    exists afterwards)."""
    try:
        loaded = load_settings(home=home, **overrides)
    except ValidationError as exc:
        # A setting the user gave is wrong: one line per problem naming it, no traceback.
        for problem in exc.errors():
            field = f"MRV_{str(problem['loc'][0]).upper()}" if problem["loc"] else None
            error_line(str(problem["msg"]).removeprefix("Value error, "), field)
        raise typer.Exit(2) from None
    if home is None and "MRV_HOME" not in os.environ and not loaded.home.exists():
        err.print(
            f"note: MRV_HOME is not set; data go to {escape(str(loaded.home))} "
            "(set MRV_HOME or give --home to choose)",
            soft_wrap=True,
        )
    return loaded


@contextmanager
def session(home: Path | None) -> Iterator[Session]:
    """A session on the configured relational store, for commands that read it."""
    db = Database(settings(home).effective_database_url)
    try:
        with db.session() as s:
            yield s
    finally:
        db.dispose()


def configure_logging(verbose: bool) -> None:
    configure(verbose)


def parse_time(text: str | None, option: str) -> int | None:
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
    return to_ms(moment)


def parse_date(text: str, option: str) -> date:
    """YYYY-MM-DD, or a BadParameter naming ``option``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


def read_text(path: Path, max_bytes: int = 20_000_000) -> str:
    """A file the user named, as UTF-8 text; one that cannot be read, is not text or is
    larger than ``max_bytes`` is their mistake, told in one line (exit 1)."""
    try:
        if path.stat().st_size > max_bytes:
            fail(f"larger than {max_bytes:,} bytes", str(path))
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        fail(f"not UTF-8 text (byte {exc.start})", str(path))
    except OSError as exc:
        fail(exc.strerror or str(exc), str(path))


def write_out(path: Path, data: bytes, option: str = "--out") -> None:
    """Write a command's file; a folder that is not there or not writable is the user's
    mistake, told in one line (exit 1), not a traceback."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(str(exc), option)


def add_row(table: Table, *cells: object) -> None:
    """A table row of user text shown as it is: ``[mass]`` in a reason stays ``[mass]``
    (a plain string cell would be read as Rich markup). None shows as an empty cell."""
    table.add_row(*(Text("" if cell is None else str(cell)) for cell in cells))


def known_project(session: Session, project: str | None, option: str = "--project") -> None:
    """An unknown project is the user's mistake, told in one line (exit 1), never an
    empty list that looks like "nothing there"."""
    if project is None or session.get(Project, project) is not None:
        return
    known = sorted(session.scalars(select(Project.id)))
    hint = f" (known: {', '.join(known)})" if known else " (no project is loaded)"
    fail(f"no project {project!r}{hint}", option)


def short_time(text: str) -> str:
    """An ISO 8601 instant as a table shows it: to the second, in UTC."""
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def known_device(session: Session, project: str, device: str | None) -> None:
    """An unknown device of a known project: one line (exit 1), not an empty export."""
    if device is None or session.get(Device, (project, device)) is not None:
        return
    known = sorted(session.scalars(select(Device.id).where(Device.project_id == project)))
    fail(f"no device {device!r} in {project} (known: {', '.join(known) or 'none'})", "--device")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def print_list(
    records: Sequence[Mapping[str, Any]],
    format: ListFormat,
    *,
    title: str,
    columns: Sequence[str] | None = None,
    cells: Mapping[str, Callable[[Any], object]] | None = None,
) -> None:
    """Print a list the way it was asked for: one JSON array, JSON lines, CSV (a header,
    then one row per record, nested values as JSON) or a table for people.

    ``columns`` picks what the table shows (default: every key); ``cells`` maps a column
    to a function giving its shorter human form. A table wider than the terminal turns
    into a list of ``key: value`` blocks, so nothing is cut or folded beyond reading."""
    if format == "json":
        print(json.dumps(list(records), ensure_ascii=False, indent=2))
        return
    if format == "jsonl":
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
        return
    keys = list(records[0]) if records else list(columns or [])
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows([_cell(r.get(k)) for k in keys] for r in records)
        sys.stdout.write(out.getvalue())
        return
    shown = list(columns or keys)
    if not records:
        console.print(Text(f"{title}: none"))
        return
    shape = cells or {}
    rows = [[_cell(shape[k](r.get(k)) if k in shape else r.get(k)) for k in shown] for r in records]
    table = Table(title=title)
    for column in shown:
        table.add_column(column, overflow="fold")
    for row in rows:
        add_row(table, *row)
    width = terminal_width()
    if _unbroken_width(shown, rows) <= width:
        console.print(table, width=width)
        return
    _print_blocks(title, shown, rows)


def _unbroken_width(shown: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """How wide the table must be for no word to be broken across lines: each column as
    wide as its longest word, plus a border and a space each side."""

    def longest(text: str) -> int:
        return max((len(word) for word in text.split()), default=0)

    widths = [
        max(longest(header), *(longest(row[i]) for row in rows)) for i, header in enumerate(shown)
    ]
    return sum(widths) + 3 * len(widths) + 1


def _print_blocks(title: str, shown: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """The narrow-terminal form of a table: one block per row, one ``key: value`` line
    per column, a blank line between blocks."""
    console.print(Text(title, style="italic"))
    pad = max(len(c) for c in shown)
    for row in rows:
        console.print()
        for column, value in zip(shown, row, strict=True):
            line = Text(f"{column:>{pad}}: ", style="bold")
            line.append(value)
            console.print(line, soft_wrap=True)
