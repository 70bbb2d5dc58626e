"""``mrv api`` (the HTTP service) and ``mrv token`` (its bearer tokens)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Annotated

import segno
import typer
import uvicorn
from rich.markup import escape

from core.times import format_time
from mobile_app import signin_code
from mrv.api.server import NoDelayH11Protocol
from mrv.api.tokens import Role, create_token, list_tokens, revoke_token
from mrv.cli import common
from mrv.cli.common import FormatOption, HomeOption, err

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


#: Where ``mrv api`` listens by default: the address a sign-in code names unless told.
DEFAULT_API_URL = "http://127.0.0.1:8080"


def _api_url(value: str) -> str:
    """--api-url: an http(s) address with a host (the sign-in code's own rules)."""
    try:
        return signin_code.check_api_url(value.strip())
    except signin_code.CodeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--api-url") from None


def _show_qr(code: str, qr: bool, png: Path | None) -> None:
    """The sign-in code as a terminal QR (stdout, plain print: nothing is read as Rich
    markup) and/or a PNG. Error correction M survives a smudged screen or print-out."""
    symbol = segno.make(code, error="m", micro=False)
    if qr:
        out = io.StringIO()
        # Unicode half blocks, two module rows per line; drawn for a dark terminal (the
        # blocks are the light modules), as qrencode -t UTF8 does.
        symbol.terminal(out=out, compact=True, border=2)
        print(out.getvalue(), end="")
    if png is not None:
        data = io.BytesIO()
        symbol.save(data, kind="png", scale=10, border=4)
        common.write_out(png, data.getvalue(), "--qr-png")
        err.print(f"sign-in code written to {escape(str(png))}", highlight=False)


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="What the token may do")],
    project: Annotated[list[str] | None, typer.Option(help="Project the token grants")] = None,
    expires: Annotated[
        float | None, typer.Option(min=1e-6, max=36_500, help="Days until it expires")
    ] = None,
    label: Annotated[
        str, typer.Option(help="Who or what it is for; a field token: the person (its author)")
    ] = "",
    qr: Annotated[
        bool,
        typer.Option("--qr", help="Also print a QR sign-in code (API URL and token) for the app"),
    ] = False,
    qr_png: Annotated[
        Path | None,
        typer.Option("--qr-png", help="Write the QR sign-in code as a PNG to this file"),
    ] = None,
    api_url: Annotated[
        str,
        typer.Option(
            envvar="MRV_API_URL",
            callback=_api_url,
            help="The API address the sign-in code names (http or https)",
        ),
    ] = DEFAULT_API_URL,
    home: HomeOption = None,
) -> None:
    """Create a token; it is printed once and stored only as its hash. With --qr or
    --qr-png, also a sign-in code the field app scans (mrv://sign-in?v=1&api=...&token=...)."""

    if qr_png is not None and not qr_png.parent.is_dir():
        # checked before a token exists, so that a typo makes no orphan token
        raise typer.BadParameter(f"no folder {qr_png.parent}", param_hint="--qr-png")
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
            common.fail(str(exc), code=2)
    err.print(f"token {info.id} ({info.role}, {', '.join(info.projects) or 'every project'}):")
    print(token)
    if qr or qr_png is not None:
        err.print(f"sign-in code for {escape(api_url)}:", highlight=False)
        _show_qr(signin_code.encode(api_url, token), qr, qr_png)


@token_app.command("revoke")
def token_revoke(token_id: int, home: HomeOption = None) -> None:

    with common.session(home) as s, s.begin():
        if not revoke_token(s, token_id):
            common.fail(f"no active token {token_id}", "TOKEN_ID")
    err.print(f"token {token_id} revoked")


@token_app.command("list")
def token_list(format: FormatOption = "table", home: HomeOption = None) -> None:
    """List tokens (never the secrets, which are stored only as hashes)."""

    with common.session(home) as s:
        records = [
            {
                "id": t.id,
                "role": t.role,
                "projects": list(t.projects),
                "label": t.label,
                "created_at": format_time(t.created_at),
                "expires_at": format_time(t.expires_at) if t.expires_at else None,
                "revoked_at": format_time(t.revoked_at) if t.revoked_at else None,
            }
            for t in list_tokens(s)
        ]
    day = {"created_at": _day, "expires_at": _day, "revoked_at": _day}
    common.print_list(records, format, title="tokens", cells={"projects": _projects, **day})


def _day(text: str | None) -> str:
    return text[:10] if text else ""


def _projects(projects: list[str]) -> str:
    return ", ".join(projects) or "*"
