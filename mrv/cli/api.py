"""``mrv api`` (the HTTP service) and ``mrv token`` (its bearer tokens)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn
from rich.markup import escape
from rich.table import Table

from mrv.api.server import NoDelayH11Protocol
from mrv.api.tokens import Role, create_token, list_tokens, revoke_token
from mrv.cli import common
from mrv.cli.common import HomeOption, console, err

token_app = typer.Typer(help="API bearer tokens: create, list, revoke.", no_args_is_help=True)


def api(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
    home: HomeOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs and /redoc, the
    verifier portal at /portal)."""

    if home is not None:
        os.environ["MRV_HOME"] = str(home)
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    data = common.settings(home).home
    err.print(
        f"mrv api: listening on {base} (docs {base}/docs, verifier portal {base}/portal; "
        f"data in {escape(str(data))}; {workers} worker(s))",
        soft_wrap=True,
        highlight=False,
    )
    uvicorn.run(
        "mrv.api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        http=NoDelayH11Protocol,
        # uvicorn would take X-Forwarded-For from any peer on 127.0.0.1 as the client;
        # the API decides whom to believe itself (MRV_API_TRUSTED_PROXIES, mrv.api.limiter)
        proxy_headers=False,
    )


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="What the token may do")],
    project: Annotated[list[str] | None, typer.Option(help="Project the token grants")] = None,
    expires: Annotated[float | None, typer.Option(help="Days until it expires")] = None,
    label: Annotated[
        str, typer.Option(help="Who or what it is for; a field token: the person (its author)")
    ] = "",
    home: HomeOption = None,
) -> None:
    """Create a token; it is printed once and stored only as its hash."""

    with common.session(home) as s, s.begin():
        try:
            token, info = create_token(
                s,
                role,
                list(project or []),
                label=label,
                expires_days=expires,
            )
        except ValueError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
    err.print(f"token {info.id} ({info.role}, {', '.join(info.projects) or 'every project'}):")
    print(token)


@token_app.command("revoke")
def token_revoke(token_id: int, home: HomeOption = None) -> None:

    with common.session(home) as s, s.begin():
        if not revoke_token(s, token_id):
            err.print(f"[red]error:[/red] no active token {token_id}")
            raise typer.Exit(2)
    err.print(f"token {token_id} revoked")


@token_app.command("list")
def token_list(home: HomeOption = None) -> None:

    table = Table()
    for column in ("id", "role", "projects", "label", "created", "expires", "revoked"):
        table.add_column(column)
    with common.session(home) as s:
        for t in list_tokens(s):
            common.add_row(
                table,
                str(t.id),
                t.role,
                ", ".join(t.projects) or "*",
                t.label,
                f"{t.created_at:%Y-%m-%d}",
                f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "",
                f"{t.revoked_at:%Y-%m-%d}" if t.revoked_at else "",
            )
    console.print(table)
