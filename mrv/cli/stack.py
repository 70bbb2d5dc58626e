"""``mrv stack up``: a broker, N gateways and the API on one machine, supervised.

The parts are child processes of one supervisor (``mrv.stack.Supervisor``): a part that
dies is restarted with backoff, a restart storm stops everything (exit 1), and Ctrl-C or
SIGTERM stops every part cleanly (exit 0). Process ids are in ``$MRV_HOME/stack/*.pid``.
For a service manager instead, see deploy/systemd/ and deploy/compose/ (README,
"Deploying").
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from mrv.cli import common
from mrv.cli.common import HomeOption
from mrv.demo.broker import BrokerMissing, MosquittoBroker, wait_for_port
from mrv.stack import Part, Supervisor
from persistence.engine import migrate
from persistence.stores import open_timeseries

stack_app = typer.Typer(
    help="Run broker, gateways and API together on one machine.", no_args_is_help=True
)

PortOption = Annotated[int, typer.Option(min=1, max=65535)]


def _port_open(port: int) -> bool:
    try:
        wait_for_port(port, timeout_s=0.05)
    except TimeoutError:
        return False
    return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _mrv(*args: str) -> list[str]:
    """The ``mrv`` command in this Python, whatever PATH says."""
    return [sys.executable, "-m", "mrv.cli", *args]


def _gateway_parts(gateways: int, mqtt_url: str, metrics_port: int, group: str) -> list[Part]:
    """N gateways: unique client ids (each its own persistent session and spool) and, when
    there are several, one MQTT 5 shared subscription so that each message goes to one."""
    parts = []
    for n in range(1, gateways + 1):
        argv = _mrv("gateway", "--mqtt-url", mqtt_url, "--client-id", f"mrv-gateway-{n}")
        if gateways > 1:
            argv += ["--share-group", group]
        if metrics_port:
            argv += ["--metrics-port", str(metrics_port + n - 1)]
        parts.append(Part(f"gateway-{n}", argv))
    return parts


def build_parts(
    home: Path, mqtt_port: int, api_port: int, metrics_port: int, gateways: int, host: str
) -> list[Part]:
    """The stack's parts in starting order: broker, gateways, API. Writes the broker's
    configuration into ``home/stack/broker`` (MQTT 5, persistence on, large queues)."""
    broker = MosquittoBroker(home / "stack" / "broker", port=mqtt_port)
    config = broker.write_config()
    mqtt_url = broker.url
    api_argv = _mrv("api", "--host", host, "--port", str(api_port))
    # the health check asks over loopback when the API listens on every address
    base = _base({"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host), api_port)
    return [
        Part("broker", [broker.binary, "-c", str(config)], ready=lambda: _port_open(mqtt_port)),
        *_gateway_parts(gateways, mqtt_url, metrics_port, "mrv-stack"),
        Part("api", api_argv, ready=lambda: _healthy(f"{base}/health"), ready_timeout_s=60),
    ]


def _base(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


@stack_app.command("up")
def up(
    home: HomeOption = None,
    gateways: Annotated[int, typer.Option(min=1, max=16, help="Gateway processes")] = 1,
    mqtt_port: Annotated[int, typer.Option(min=1, max=65535, help="Broker port")] = 1883,
    api_port: Annotated[int, typer.Option(min=1, max=65535, help="API port")] = 8080,
    api_host: Annotated[str, typer.Option(help="Address the API listens on")] = "127.0.0.1",
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="First gateway's /metrics port (0: none)")
    ] = 9108,
    storm_limit: Annotated[
        int, typer.Option(min=1, max=1000, help="Deaths of one part per minute that stop all")
    ] = 5,
) -> None:
    """Start a Mosquitto broker, the gateways and the API; restart a part that dies; stop
    all on Ctrl-C or SIGTERM."""

    settings = common.settings(home)
    # The stores are created here, once: parts starting together on a fresh data folder
    # would otherwise race to create the same tables.
    try:
        settings.ensure_home()
        migrate(settings.effective_database_url)
        open_timeseries(settings).close()
    except (OSError, SQLAlchemyError) as exc:
        common.fail(f"the stores in {settings.home} cannot be opened: {exc}")
    try:
        parts = build_parts(settings.home, mqtt_port, api_port, metrics_port, gateways, api_host)
    except BrokerMissing as exc:
        common.fail(str(exc))
    supervisor = Supervisor(
        parts,
        pid_dir=settings.home / "stack",
        storm_limit=storm_limit,
        # every part of the stack reads the same data folder
        env={"MRV_HOME": str(settings.home)},
    )
    base = _base(api_host, api_port)
    supervisor.say(
        f"data in {settings.home}; broker mqtt://127.0.0.1:{mqtt_port} (log in "
        f"{settings.home / 'stack' / 'broker' / 'mosquitto.log'}); API {base} "
        f"(docs {base}/docs, verifier portal {base}/portal); gateway metrics "
        + (f"on ports {metrics_port}-{metrics_port + gateways - 1}" if metrics_port else "off")
    )
    supervisor.install_signal_handlers()
    raise typer.Exit(supervisor.run())
