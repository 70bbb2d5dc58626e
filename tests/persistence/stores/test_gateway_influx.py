"""The gateway configured for the InfluxDB backend (MRV_TS_BACKEND=influx), writing to a
real VictoriaMetrics through influxdb-client's /api/v2/write. Points are read back through
VictoriaMetrics' export API: this is a write-path test, not a Flux one."""

from __future__ import annotations

import json

import pytest

from core.config import Settings
from core.wire import readings_topic
from tests.persistence.stores.conftest import ExportReader
from tests.support.paths import SOLAR_PLAN
from tests.support.services import wait_until

pytestmark = pytest.mark.victoria
P = "th-solar-rooftops"


def test_gateway_writes_to_influx_once(broker, victoria, run_gateway, publisher, tmp_path):
    from typer.testing import CliRunner

    from mrv.cli import app

    home = tmp_path / "influx-home"
    result = CliRunner().invoke(app, ["plan", "load", str(SOLAR_PLAN)], env={"MRV_HOME": str(home)})
    assert result.exit_code == 0, result.output
    settings = Settings(
        home=home,
        mqtt_url=broker.url,
        ts_backend="influx",
        influx_url=victoria.url,
        influx_token="t",
        gateway_batch_interval_ms=20,
    )
    gw = run_gateway(settings)
    topic = readings_topic(P, "rayong-a", "pv-a-meter")
    for seq in range(1, 6):
        payload = json.dumps(
            {
                "device": "pv-a-meter",
                "seq": seq,
                "time": 1_790_000_000 + 900 * seq,
                "readings": [{"quantity": "energy_export", "value": seq, "unit": "MWh"}],
            }
        )
        publisher.publish(topic, payload)
        publisher.publish(topic, payload)  # a duplicate: stored once
    metrics = gw.gateway.metrics
    wait_until(lambda: metrics.stored._value.get() == 5 and metrics.duplicates._value.get() == 5)
    rows = ExportReader(victoria).query(P)
    assert [(r.seq, r.value) for r in rows] == [(s, s * 1000.0) for s in range(1, 6)]
    assert (home / "influx-ledger.sqlite").exists()
    gw.stop()
