"""What every ``mrv`` command group shares: consoles, the ``--home`` option, settings, a
session on the relational store, and parsing of dates and times given on the command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

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
from persistence.models import Project


def _width() -> int | None:
    """A terminal's own width; in a pipe (where Rich would assume 80 columns and cut
    tables) wide enough for any row, unless COLUMNS says otherwise."""
    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return None
    return 1000


# No emoji codes: "bad.yaml:100:11:" must not print as "bad.yaml💯11:".
console = Console(width=_width(), emoji=False)
err = Console(stderr=True, emoji=False)

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Data folder (default: $MRV_HOME or per-user)")
]
ProjectOption = Annotated[str, typer.Option("--project", help="Project id")]
ListFormat = Literal["table", "jsonl"]
FormatOption = Annotated[ListFormat, typer.Option("--format", help="How to print the list")]


def settings(home: Path | None = None, **overrides: Any) -> Settings:
    """The settings of this invocation: options, then MRV_* variables, then the TOML file.
    On a first run with no home given, says where the data will go (once: the folder
    exists afterwards)."""
    try:
        loaded = load_settings(home=home, **overrides)
    except ValidationError as exc:
        # A setting the user gave is wrong: one line per problem naming it, no traceback.
        for problem in exc.errors():
            message = str(problem["msg"]).removeprefix("Value error, ")
            if problem["loc"]:
                message = f"MRV_{str(problem['loc'][0]).upper()}: {message}"
            err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
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


def write_out(path: Path, data: bytes, option: str = "--out") -> None:
    """Write a command's file; a folder that is not there or not writable is the user's
    mistake, told in one line (exit 1), not a traceback."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        err.print(f"[red]error:[/red] {option}: {escape(str(exc))}")
        raise typer.Exit(1) from None


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
    err.print(f"[red]error:[/red] {option}: no project {escape(project)!r}{escape(hint)}")
    raise typer.Exit(1)
