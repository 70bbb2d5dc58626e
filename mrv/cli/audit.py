"""``mrv audit``: the installation's public key, signed checkpoints of a project's chain,
and the verification of a project's whole evidence (exit 0 intact, 1 not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from rich.markup import escape
from sqlalchemy.orm import Session

from core.signing import Checkpoint, key_id, parse_public, public_text, signature_valid
from mrv.cli import common
from mrv.cli.common import HomeOption, ProjectOption, console, err
from persistence.adopt import AdoptionRefused, adopt_unlinked
from persistence.evidence import against_checkpoint, as_json, checkpoint_of, verify_project
from persistence.keys import installation_key, key_path
from persistence.models import Project
from persistence.stores import open_timeseries

audit_app = typer.Typer(help="Verify a project's evidence; signed checkpoints of its chain.")

MAX_CHECKPOINT_BYTES = 64 * 1024


@audit_app.command("key")
def key(home: HomeOption = None) -> None:
    """Print the installation's public key (made on first use) to give to verifiers."""
    settings = common.settings(home)
    private = installation_key(settings.home)
    console.print(public_text(private.public_key()), soft_wrap=True)
    err.print(
        f"key id {key_id(private.public_key())}; private key {key_path(settings.home)}",
        markup=False,
        soft_wrap=True,
    )


@audit_app.command("checkpoint")
def checkpoint(
    project: ProjectOption,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: stdout)")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Sign the project's chain as it is now: its length and head, with the time."""
    settings = common.settings(home)
    with common.session(home) as session:
        _known(session.get(Project, project) is not None, project)
        signed = checkpoint_of(session, project, installation_key(settings.home))
    text = signed.model_dump_json(indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    common.write_out(out, text.encode())
    err.print(
        f"{escape(str(out))}: {escape(project)} at link {signed.length}, head {signed.head[:12]}"
    )


@audit_app.command("verify")
def verify(
    project: ProjectOption,
    checkpoint_file: Annotated[
        Path | None, typer.Option("--checkpoint", help="A checkpoint to check the chain against")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option("--key", help="Pin this public key (default: this installation's)")
    ] = None,
    as_json_out: Annotated[bool, typer.Option("--json", help="The verdict as JSON")] = False,
    home: HomeOption = None,
) -> None:
    """Walk the project's chain, recompute every object it covers from the stores, and,
    with --checkpoint, check that the chain still extends it. Exit 0 if intact, 1 if not."""
    settings = common.settings(home)
    key = _public(public_key)  # a key that is not one is a mistake even without --checkpoint
    signed = _checkpoint(checkpoint_file, project) if checkpoint_file else None
    store = open_timeseries(settings)
    try:
        with common.session(home) as session:
            _known(session.get(Project, project) is not None, project)
            evidence = verify_project(session, store, project)
            since: list[str] = []
            if signed is not None:
                pinned = key or installation_key(settings.home).public_key()
                since = _checked(session, signed, pinned)
    finally:
        store.close()
    verdict = {**as_json(evidence), "checkpoint": since if signed else None}
    intact = evidence.intact and not since
    verdict["intact"] = intact
    if as_json_out:
        typer.echo(json.dumps(verdict, indent=2))
    else:
        _print(verdict)
    raise typer.Exit(0 if intact else 1)


@audit_app.command("adopt")
def adopt(
    project: ProjectOption,
    reason: Annotated[str, typer.Option(help="Why these objects are taken on trust")],
    actor: Annotated[str, typer.Option(help="Who adopts them")],
    home: HomeOption = None,
) -> None:
    """Put what was stored before the chain covered it (an upgraded store: readings,
    quarantine, entries, periods, photos "stored without a link") into the chain as it
    is now, marked adopted with your reason. Refused if anything changed."""
    reason, actor = reason.strip(), actor.strip()
    if not reason or not actor or len(reason) > 2000 or len(actor) > 128:
        common.fail("1 to 2000 and 1 to 128 characters", "--reason and --actor", code=2)
    settings = common.settings(home)
    store = open_timeseries(settings)
    try:
        with common.session(home) as session, session.begin():
            _known(session.get(Project, project) is not None, project)
            done = adopt_unlinked(session, store, project, actor=actor, reason=reason)
    except AdoptionRefused as exc:
        common.error_line("nothing adopted: the evidence shows changes, not only unlinked")
        for change in exc.changes:
            err.print(f"  {escape(change)}", soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    if not done.total:
        console.print(f"{escape(project)}: nothing stored without a link; nothing adopted")
        return
    counts = ", ".join(f"{n} {kind}" for kind, n in done.counts.items())
    console.print(f"{escape(project)}: adopted {counts} into the chain")


def _public(text: str | None) -> Ed25519PublicKey | None:
    if text is None:
        return None
    try:
        return parse_public(text)
    except ValueError as exc:
        common.fail(str(exc), "--key", code=2)


def _known(exists: bool, project: str) -> None:
    if not exists:
        common.fail(f"no project {project!r}", "--project")


def _checkpoint(path: Path, project: str) -> Checkpoint:
    """A checkpoint file, read as hostile: bounded, parsed strictly, of this project."""
    try:
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise ValueError(f"larger than {MAX_CHECKPOINT_BYTES} bytes")
        signed = Checkpoint.model_validate_json(path.read_bytes())
    except (OSError, ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        common.fail(first, "--checkpoint", code=2)
    if signed.project != project:
        common.fail(f"it is of project {signed.project!r}", "--checkpoint", code=2)
    return signed


def _checked(session: Session, signed: Checkpoint, key: Ed25519PublicKey) -> list[str]:
    """What changed since a checkpoint, if ``key`` signed it; otherwise that it cannot be
    trusted (a forged checkpoint must not vouch for a rewritten chain)."""
    if not signature_valid(signed, key):
        return ["the checkpoint's signature is not this key's: it cannot be trusted"]
    return against_checkpoint(session, signed)


def _print(verdict: dict[str, object]) -> None:
    state = "[green]intact[/green]" if verdict["intact"] else "[red]NOT intact[/red]"
    console.print(
        f"chain {escape(str(verdict['chain']))}: {verdict['length']} links verify; {state}"
    )
    if verdict["broken_at"] is not None or verdict["reason"]:
        console.print(
            f"  first broken link: {verdict['broken_at']}: {escape(str(verdict['reason']))}"
        )
    checked = verdict["checked"]
    assert isinstance(checked, dict)
    console.print("  checked: " + ", ".join(f"{n} {kind}" for kind, n in checked.items()))
    changes = verdict["changes"]
    assert isinstance(changes, list)
    for change in changes:
        console.print(f"  {change['kind']} {escape(change['id'])}: {escape(change['what'])}")
    since = verdict["checkpoint"]
    if isinstance(since, list):
        console.print("  against the checkpoint: " + ("extends it" if not since else ""))
        for problem in since:
            console.print(f"    {escape(problem)}")
