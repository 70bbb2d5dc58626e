"""The ``mrv`` command: one subcommand per part, assembled from the command modules."""

from __future__ import annotations

import sys
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer 0.2x carries its own copy of click; its exceptions are not click's
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - a typer that uses click itself
    import click.exceptions as cx  # type: ignore[no-redef]

from mobile_app.main import main as field_main
from mrv.cli import common, ingest
from mrv.cli.api import api, token_app
from mrv.cli.audit import audit_app
from mrv.cli.common import HomeOption, console
from mrv.cli.evidence import evidence_app
from mrv.cli.plans import plan_app
from mrv.cli.records import entries_app, periods_app
from mrv.cli.report import report
from mrv.cli.stack import stack_app
from mrv.demo.broker import BrokerMissing
from mrv.demo.run import DemoError, run_demo


class _OneLineErrors(TyperGroup):
    """Usage mistakes in the same one-line style as every other error (``error: --role:
    'root' is not one of ...``, exit 2) rather than click's boxed usage panel."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.get("standalone_mode", True)
        kwargs["standalone_mode"] = False
        try:
            # without standalone mode click returns a command's exit code (typer.Exit)
            result = super().main(*args, **kwargs)
            code = result if isinstance(result, int) else 0
        except typer.Abort:
            common.error_line("interrupted")
            code = 130
        except cx.NoArgsIsHelpError as exc:
            exc.show()  # the group's help, as with no_args_is_help
            code = exc.exit_code
        except cx.ClickException as exc:
            field, message = _where(exc)
            common.error_line(message, field)
            code = exc.exit_code
        if standalone:
            sys.exit(code)
        return code


def _where(exc: cx.ClickException) -> tuple[str | None, str]:
    """The option a usage error is about and its message, without click's wrapping."""
    message = exc.message.removeprefix("Value error, ")
    if isinstance(exc, cx.BadParameter) and not isinstance(exc, cx.MissingParameter):
        if exc.param_hint:
            hint = exc.param_hint
            return (hint if isinstance(hint, str) else " / ".join(hint)), message
        if exc.param is not None:
            param = exc.param
            if param.param_type_name == "argument":
                return (param.name or "argument").upper(), message
            return (param.opts[0] if param.opts else param.name), message
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, cx.UsageError) and ctx is not None:
        message = f"{exc.format_message().rstrip('.')} (see {ctx.command_path} --help)"
    return None, message


app = typer.Typer(
    cls=_OneLineErrors,
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
        common.fail(str(exc))
