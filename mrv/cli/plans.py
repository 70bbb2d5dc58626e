"""``mrv plan validate`` and ``mrv plan load``: monitoring plans, checked against their
methodology as well as their schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mrv.cli import common
from mrv.cli.common import HomeOption, console, err
from persistence.engine import Database
from persistence.repo import load_plan
from verification.plan_check import validate_plan_text

#: A plan is a page or two of YAML; anything this large is the wrong file.
MAX_PLAN_BYTES = 2_000_000

plan_app = typer.Typer(help="Monitoring plans: validate and load.", no_args_is_help=True)


@plan_app.command("validate")
def plan_validate(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Check a plan file and explain every problem with its line and column."""

    plan, problems = validate_plan_text(common.read_text(file, MAX_PLAN_BYTES))
    if problems:
        for problem in problems:
            common.error_line(problem.located(file))
        err.print(f"{len(problems)} problem(s) in {file}", soft_wrap=True, markup=False)
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

    settings = common.settings(home)
    settings.ensure_home()
    db = Database(settings.effective_database_url)
    try:
        for file in files:
            text = common.read_text(file, MAX_PLAN_BYTES)
            plan, problems = validate_plan_text(text)
            if problems or plan is None:
                for problem in problems:
                    common.error_line(problem.located(file))
                raise typer.Exit(1)
            with db.session() as session, session.begin():
                load_plan(session, plan, text, actor="cli")
            console.print(f"[green]loaded[/] {plan.project.id} ({len(plan.devices)} devices)")
    finally:
        db.dispose()
