"""``mrv evidence``: export one period's evidence bundle; verify a bundle offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from core.signing import parse_public
from mrv.cli import common
from mrv.cli.common import HomeOption, ProjectOption, console, err
from persistence.keys import installation_key
from persistence.stores import open_timeseries
from verification.bundle import BundleError, export_bundle, verify_bundle

evidence_app = typer.Typer(help="Evidence bundles a verifier can check on their own machine.")

MAX_BUNDLE_BYTES = 2 * 1024**3


@evidence_app.command("export")
def export(
    project: ProjectOption,
    period: Annotated[int, typer.Option("--period", min=1, help="Number, as mrv periods list")],
    out: Annotated[Path, typer.Option("--out", help="The zip file to write")],
    home: HomeOption = None,
) -> None:
    """Write the period's plan, readings, entries, photos, quarantine, events, chain,
    signed checkpoint and report, with a signed manifest of their SHA-256s."""
    settings = common.settings(home)
    store = open_timeseries(settings)
    try:
        with common.session(home) as session:
            data = export_bundle(session, store, project, period, installation_key(settings.home))
    except LookupError as exc:
        common.fail(str(exc), "--period")
    finally:
        store.close()
    common.write_out(out, data)
    err.print(f"{escape(str(out))}: {len(data):,} bytes")


@evidence_app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle (zip)")],
    key: Annotated[
        str | None, typer.Option("--key", help="Pin the installation's public key (mrv audit key)")
    ] = None,
) -> None:
    """Check the bundle's signatures and hashes and compute its report again from its own
    data, figure by figure. Exit 0 if everything matches, 1 if not."""
    try:
        pinned = parse_public(key) if key else None
    except ValueError as exc:
        common.fail(str(exc), "--key", code=2)
    try:
        if bundle.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"larger than {MAX_BUNDLE_BYTES:,} bytes")
        verdict = verify_bundle(bundle.read_bytes(), pinned)
    except (OSError, BundleError) as exc:
        common.fail(str(exc), str(bundle))
    console.print(escape(verdict.key_note))
    for problem in verdict.problems:
        console.print(f"[red]problem[/red] {escape(problem)}")
    for figure in verdict.figures:
        mark = "[green]match[/green]   " if figure.matches else "[red]MISMATCH[/red]"
        detail = (
            "" if figure.matches else f": bundle {figure.bundled}, recomputed {figure.recomputed}"
        )
        console.print(f"{mark} {escape(figure.name)}{escape(detail)}", soft_wrap=True)
    console.print("[green]verified[/green]" if verdict.ok else "[red]NOT verified[/red]")
    raise typer.Exit(0 if verdict.ok else 1)
