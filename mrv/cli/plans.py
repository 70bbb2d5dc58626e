"""``mrv plan validate`` and ``mrv plan load``: monitoring plans, checked against their
methodology as well as their schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.plans.validate import PlanError
from mrv.cli import common
from mrv.cli.common import HomeOption, console, err
from persistence.engine import Database
from persistence.repo import load_plan
from verification.plan_check import load_plan_file, validate_plan_text

plan_app = typer.Typer(help="Monitoring plans: validate and load.", no_args_is_help=True)


@plan_app.command("validate")
def plan_validate(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Check a plan file and explain every problem with its line and column."""

    plan, problems = validate_plan_text(file.read_text(encoding="utf-8"))
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
            try:
                plan = load_plan_file(file)
            except PlanError as exc:
                for problem in exc.problems:
                    common.error_line(problem.located(file))
                raise typer.Exit(1) from None
            with db.session() as session, session.begin():
                load_plan(session, plan, file.read_text(encoding="utf-8"), actor="cli")
            console.print(f"[green]loaded[/] {plan.project.id} ({len(plan.devices)} devices)")
    finally:
        db.dispose()
