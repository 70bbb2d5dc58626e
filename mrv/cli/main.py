"""The ``mrv`` command: one subcommand per part, assembled from the command modules."""

from __future__ import annotations

from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer

from mobile_app.main import main as field_main
from mrv.cli import common, ingest
from mrv.cli.api import api, token_app
from mrv.cli.audit import audit_app
from mrv.cli.common import HomeOption, console, err
from mrv.cli.evidence import evidence_app
from mrv.cli.plans import plan_app
from mrv.cli.records import entries_app, periods_app
from mrv.cli.report import report
from mrv.cli.stack import stack_app
from mrv.demo.broker import BrokerMissing
from mrv.demo.run import DemoError, run_demo

app = typer.Typer(
    help="jcm-mrv: measurement, reporting and verification for JCM projects.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _version(shown: bool) -> None:
    if shown:
        console.print(f"jcm-mrv {package_version('jcm-mrv')}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version, help="Print the version"),
    ] = False,
) -> None:
    """jcm-mrv: measurement, reporting and verification for JCM projects."""


app.command("gateway")(ingest.gateway)
app.command("sim")(ingest.sim)
app.command("broker-auth")(ingest.broker_auth)
app.add_typer(plan_app, name="plan")
app.add_typer(ingest.readings_app, name="readings")
app.add_typer(ingest.quarantine_app, name="quarantine")
app.add_typer(ingest.events_app, name="events")
app.add_typer(ingest.devices_app, name="devices")
app.add_typer(periods_app, name="periods")
app.add_typer(entries_app, name="entries")
app.command("report")(report)
app.command("api")(api)
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(evidence_app, name="evidence")
app.add_typer(stack_app, name="stack")


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

    field_main([*(["--home", str(home)] if home else []), "--size", size])


@app.command()
def demo(
    home: HomeOption = None,
    days: Annotated[float, typer.Option(min=1, max=366)] = 30,
    seed: Annotated[int, typer.Option()] = 2026,
    plans_dir: Annotated[Path | None, typer.Option(help="Folder of plan files")] = None,
) -> None:
    """Run broker, gateway and simulated devices end to end and summarise the result."""

    settings = common.settings(home)
    console.print(f"jcm-mrv demo; data folder {settings.home}")
    try:
        run_demo(settings, plans_dir=plans_dir, days=days, seed=seed, console=console)
    except (BrokerMissing, DemoError) as exc:
        err.print(f"[red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
