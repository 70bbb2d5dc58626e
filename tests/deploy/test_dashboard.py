"""deploy/grafana/mrv-dashboard.json asks only for metrics a real gateway exports: every
PromQL expression's metric names are checked against the /metrics of a running gateway
(after a stored reading, a quarantined message and its device-state refresh), and the
dashboard covers ingest rate, lag, quarantine, spool depth and device status."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from core.config import Settings
from core.wire import readings_topic
from tests.support.api import run
from tests.support.paths import ROOT, TEST_PLAN
from tests.support.ports import free_port
from tests.support.services import Publisher, RunningGateway, wait_until

DASHBOARD = ROOT / "deploy" / "grafana" / "mrv-dashboard.json"
#: PromQL words that are neither functions (always followed by "(") nor metrics.
KEYWORDS = {"and", "or", "unless", "bool", "inf", "nan", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions,
    keywords, label names (in matchers or grouping clauses) or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges (and $__rate_interval)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\boffset\s+-?[\dsmhdwy]+", "", text)  # offset 5m
    text = re.sub(r"\$\w+", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def test_metric_names_are_read_out_of_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{x="y(z)"}[$__rate_interval])))'
        " / on (instance) group_left b + max without (job) (c offset 5m) > bool 1"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c"}


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v.get("query", "") for v in dashboard.get("templating", {}).get("list", [])]
    return [e for e in exprs if e]


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


@pytest.fixture
def exported(tmp_path: Path, broker) -> set[str]:
    """The names of every sample a live gateway exports, with something stored, something
    quarantined and the device states read."""
    home = tmp_path / "home"
    run("plan", "load", str(TEST_PLAN), home=home)
    port = free_port()
    settings = Settings(home=home, mqtt_url=broker.url, gateway_batch_interval_ms=20)
    gateway = RunningGateway(settings, metrics_port=port).start()
    publisher = Publisher(broker)
    try:
        body = {"device": "em1", "seq": 1, "time": time.time(), "readings": []}
        body["readings"] = [{"quantity": "power", "value": 1.0, "unit": "kW"}]
        publisher.publish(readings_topic("test-proj", "s1", "em1"), json.dumps(body))
        publisher.publish(readings_topic("test-proj", "s1", "em1"), b"\xff not json")
        wait_until(lambda: "mrv_gateway_quarantined_total{" in _scrape(port), 20, "quarantine")
        wait_until(lambda: "mrv_gateway_devices{" in _scrape(port), 20, "device states")
        text = _scrape(port)
    finally:
        publisher.close()
        gateway.stop()
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_every_expression_reads_only_metrics_the_gateway_exports(exported: set[str]) -> None:
    exprs = _expressions()
    assert len(exprs) >= 10
    used = set().union(*(metric_names(e) for e in exprs))
    unknown = sorted(used - exported)
    assert unknown == [], f"not exported by the gateway: {unknown}"
    # what the dashboard is for: ingest rate, lag, quarantine, spool, device status
    for needed in (
        "mrv_gateway_readings_stored_total",
        "mrv_gateway_messages_received_total",
        "mrv_gateway_lag_seconds",
        "mrv_gateway_quarantined_total",
        "mrv_gateway_spool_depth",
        "mrv_gateway_devices",
    ):
        assert needed in used, needed


def test_every_panel_uses_the_provisioned_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {"prometheus"}  # deploy/grafana/provisioning/datasources/prometheus.yaml
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
