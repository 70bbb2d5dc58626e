"""deploy/compose: Docker is not installed on the build machines, so compose.yaml is not
run here. What can be checked without it is: its structure (services, healthchecks,
start order, unique gateway client ids, a shared subscription), that every MRV_* variable
it sets is a real setting with a value the settings accept, that Prometheus scrapes what
it defines, that the Dockerfile copies every package, and its Mosquitto configuration,
run by a real Mosquitto: anonymous clients refused, the health-check listener answering,
a device and the gateway user (from ``mrv broker-auth``) exchanging a message through a
shared subscription."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from core.config import Settings
from core.wire import readings_topic
from mrv.broker_auth import DeviceEntry, device_username, write_auth_files
from mrv.demo.broker import wait_for_port
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.services import wait_until

COMPOSE = ROOT / "deploy" / "compose"
GATEWAYS = ["gateway-1", "gateway-2"]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def _substituted(value: str) -> str:
    """Compose's ${VAR:?message} (required: a stand-in) and ${VAR:-default}."""
    value = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "secret", value)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_services_start_in_order_and_check_their_health() -> None:
    services = _compose()["services"]
    assert {"postgres", "mosquitto", "api", *GATEWAYS} <= set(services)
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no healthcheck"
    healthy = {"condition": "service_healthy"}
    assert services["api"]["depends_on"] == {"postgres": healthy}
    for name in GATEWAYS:
        gateway = services[name]
        # the API migrates the schema before any gateway starts
        assert gateway["depends_on"] == {"postgres": healthy, "mosquitto": healthy, "api": healthy}
        assert gateway["command"][:1] == ["gateway"]
        assert "--share-group" in gateway["command"]
        assert gateway["image"] == services["api"]["image"]
        assert gateway["restart"] == "on-failure"
    client_ids = [_env(services[n])["MRV_GATEWAY_CLIENT_ID"] for n in GATEWAYS]
    assert len(set(client_ids)) == len(client_ids), "each gateway needs its own client id"
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    }
    for name in GATEWAYS:
        port = _env(services[name])["MRV_GATEWAY_METRICS_PORT"]
        assert f"{name}:{port}" in targets
        assert _env(services[name])["MRV_GATEWAY_METRICS_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("name", ["api", *GATEWAYS])
def test_every_mrv_variable_is_a_setting_with_a_valid_value(name: str, monkeypatch) -> None:
    env = _env(_compose()["services"][name])
    fields = set(Settings.model_fields)
    used = {k: v for k, v in env.items() if k.startswith("MRV_")}
    assert used
    for key in used:
        assert key[4:].lower() in fields, f"{name}: {key} is not a setting (core/config.py)"
    for key in [k for k in os.environ if k.startswith("MRV_")]:
        monkeypatch.delenv(key)
    for key, value in used.items():
        monkeypatch.setenv(key, _substituted(value))
    settings = Settings()
    assert str(settings.home) == "/var/lib/mrv"
    assert settings.effective_database_url.startswith("postgresql://mrv:secret@postgres:5432/")
    if name != "api":
        assert settings.mqtt().host == "mosquitto"
        assert settings.gateway_client_id == env["MRV_GATEWAY_CLIENT_ID"]


def test_the_dockerfile_copies_every_package() -> None:
    text = (COMPOSE / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    for package in packages:
        assert re.search(rf"^COPY {package} {package}$", text, re.M), package
    assert 'ENTRYPOINT ["mrv"]' in text and "USER mrv" in text
    api = _compose()["services"]["api"]["build"]
    assert (COMPOSE / api["context"] / api["dockerfile"]).resolve() == (
        COMPOSE / "Dockerfile"
    ).resolve()


def test_grafana_is_provisioned_with_the_dashboard_and_prometheus() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = dict(
        v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if v.startswith(".")
    )
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/mrv.yaml").read_text()
    )
    folder = provider["providers"][0]["options"]["path"]
    assert mounts["../grafana/mrv-dashboard.json"] == f"{folder}/mrv-dashboard.json"
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"


def _broker_config(tmp: Path, port: int, health: int) -> Path:
    """compose's mosquitto.conf with the container's paths and ports made this machine's."""
    text = (COMPOSE / "mosquitto" / "mosquitto.conf").read_text()
    text = text.replace("/mosquitto/data/", f"{tmp}/data/").replace(
        "/mosquitto/config/auth", f"{tmp}/auth"
    )
    text = text.replace("listener 1883", f"listener {port} 127.0.0.1")
    text = text.replace("listener 1880 127.0.0.1", f"listener {health} 127.0.0.1")
    text = text.replace("log_dest stdout", f"log_dest file {tmp}/mosquitto.log")
    (tmp / "data").mkdir()
    path = tmp / "mosquitto.conf"
    path.write_text(("user root\n" if os.geteuid() == 0 else "") + text)
    return path


def _client(
    port: int, user: str | None = None, password: str | None = None
) -> tuple[mqtt.Client, list[int]]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    codes: list[int] = []
    client.on_connect = lambda c, u, f, reason, p: codes.append(reason.value)
    if user:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(lambda: bool(codes), 10, "CONNACK")
    return client, codes


@pytest.mark.skipif(
    shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
    reason="no mosquitto",
)
def test_the_compose_broker_config_runs_in_a_real_mosquitto(tmp_path: Path) -> None:
    device = DeviceEntry("th-solar-rooftops", "rayong-a", "pv-a-meter")
    files = write_auth_files([device], tmp_path / "auth")
    passwords = dict(
        line.split(",", 1) for line in files.credentials_file.read_text().splitlines()[1:]
    )
    port, health = free_port(), free_port()
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen([binary, "-c", str(_broker_config(tmp_path, port, health))])
    clients: list[mqtt.Client] = []
    try:
        wait_for_port(port)
        wait_for_port(health)
        anonymous, codes = _client(port)
        clients.append(anonymous)
        assert codes[0] != 0, "anonymous clients must be refused on the devices' listener"
        checker, codes = _client(health)  # the health check's own listener
        clients.append(checker)
        assert codes == [0]
        gateway, codes = _client(port, "mrv-gateway", passwords["mrv-gateway"])
        clients.append(gateway)
        assert codes == [0]
        got: list[bytes] = []
        granted: list[int] = []
        gateway.on_message = lambda c, u, m: got.append(m.payload)
        gateway.on_subscribe = lambda c, u, mid, reasons, p: granted.extend(
            r.value for r in reasons
        )
        gateway.subscribe("$share/mrv/mrv/v1/+/+/+/readings", qos=1)
        wait_until(lambda: bool(granted), 10, "SUBACK")
        assert granted == [1]
        user = device_username(device.project, device.device)
        sender, codes = _client(port, user, passwords[user])
        clients.append(sender)
        assert codes == [0]
        topic = readings_topic(device.project, device.site, device.device)
        sender.publish(topic, b"{}", qos=1).wait_for_publish(5)
        wait_until(lambda: bool(got), 10, "the device's message at the gateway")
        assert got == [b"{}"]
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()
        broker.terminate()
        broker.wait(10)
