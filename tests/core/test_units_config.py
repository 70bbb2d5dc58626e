"""Units, the quantity catalogue and configuration (pure; no services)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import quantities
from core.config import MqttEndpoint, Settings
from core.units import ReferenceConditions, UnitError, conversion, to_canonical
from gateway.decode import Decoded, Decoder, Inbound
from persistence.repo import DeviceInfo


@pytest.mark.parametrize(
    ("value", "unit", "canonical", "expected"),
    [
        (1.0, "scf", "Nm3", 0.0267912),
        (1.0, "Mscf", "Nm3", 26.7912),
        (60.0, "SCFM", "Nm3/hour", 96.4484),
        (1.0, "MMBtu", "GJ", 1.05506),
        (68.0, "degF", "degC", 20.0),
        (-40.0, "°F", "degC", -40.0),
        (293.15, "K", "degC", 20.0),
        (0.0, "psig", "kPa", 101.325),
        (14.696, "psia", "kPa", 101.325),
        (1.0, "barg", "kPa", 201.325),
        (55.0, "%", "dimensionless", 0.55),
        (550000.0, "ppm", "dimensionless", 0.55),
        (1.0, "KWH", "kWh", 1.0),
        (1.0, "MWh", "kWh", 1000.0),
        (3.6, "MJ", "kWh", 1.0),
        (1.0, "m^3", "m**3", 1.0),
        (1.0, "ft3", "m**3", 0.0283168),
        (1.0, "gal", "liter", 3.78541),
        (1.0, "tCO2e", "kgCO2", 1000.0),
    ],
)
def test_conversions(value, unit, canonical, expected):
    assert to_canonical(value, unit, canonical) == pytest.approx(expected, rel=1e-5)


def test_scf_at_60F_is_not_a_cubic_metre_at_20C():
    # reading 60 °F scf as if at 20 °C shifts the methane mass by about 1.5 %
    as_scf = conversion("scf", "Nm3").scale
    as_if_20c = conversion("ft3", "Nm3", reference=ReferenceConditions(20.0, 101.325)).scale
    assert as_scf / as_if_20c - 1 == pytest.approx(0.0152, abs=0.001)


def test_normal_and_actual_volumes_do_not_mix():
    with pytest.raises(UnitError) as err:
        conversion("scf", "m**3")
    assert err.value.code == "unit_dimension"
    with pytest.raises(UnitError) as err:
        conversion("tCO2", "kg")  # CO2 mass is its own dimension
    assert err.value.code == "unit_dimension"


def test_catalogue_units_parse_and_ranges_are_sane():
    for spec in quantities.CATALOGUE.values():
        assert conversion(spec.canonical_unit, spec.canonical_unit).scale == pytest.approx(1.0)
        assert spec.minimum < spec.maximum


def test_decoder_does_not_call_pint_per_message():
    device = DeviceInfo("p", "d", "s", frozenset({"energy_export"}), None, None, None, True)
    decoder = Decoder(lambda p, d: device, 600_000, lambda: 1_800_000_000_000)
    payload = json.dumps(
        {
            "device": "d",
            "seq": 1,
            "time": 1_700_000_000,
            "readings": [{"quantity": "energy_export", "value": 2, "unit": "MWh"}],
        }
    )
    out = Decoded()
    decoder.decode(Inbound("mrv/v1/p/s/d/readings", payload.encode(), 0), out)
    misses = conversion.cache_info().misses
    hits = conversion.cache_info().hits
    for _ in range(100):
        decoder.decode(Inbound("mrv/v1/p/s/d/readings", payload.encode(), 0), out)
    assert conversion.cache_info().misses == misses
    assert conversion.cache_info().hits == hits  # the decoder's own cache answers first
    assert [c.row.value for c in out.candidates] == [2000.0] * 101


def test_mqtt_urls():
    e = MqttEndpoint.parse("mqtts://gw%40site:p%3Ass@broker.example:8884")
    assert (e.host, e.port, e.tls, e.username, e.password) == (
        "broker.example",
        8884,
        True,
        "gw@site",
        "p:ss",
    )
    e = MqttEndpoint.parse("mqtt://127.0.0.1", username="u", password="p")
    assert (e.port, e.tls, e.username, e.password) == (1883, False, "u", "p")
    with pytest.raises(ValueError, match="MRV_MQTT_URL"):
        MqttEndpoint.parse("http://x")


def test_settings_from_file_and_environment(tmp_path: Path, monkeypatch):
    config = tmp_path / "mrv.toml"
    config.write_text('[mrv]\nmqtt_url = "mqtt://file:1884"\ngateway_batch_size = 100\n')
    monkeypatch.setenv("MRV_CONFIG", str(config))
    monkeypatch.setenv("MRV_HOME", str(tmp_path / "home"))
    s = Settings()
    assert (s.mqtt_url, s.gateway_batch_size) == ("mqtt://file:1884", 100)
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'home' / 'mrv.sqlite'}"
    monkeypatch.setenv("MRV_MQTT_URL", "mqtt://env:1885")  # the environment wins
    assert Settings().mqtt_url == "mqtt://env:1885"
    assert Settings(mqtt_url="mqtt://arg:1").mqtt_url == "mqtt://arg:1"  # and options win


def test_the_catalogue_offers_units_that_convert_for_every_quantity() -> None:
    from core.catalogue import FIELD_UNITS, catalogue
    from core.units import conversion

    data = catalogue()
    for q in data["quantities"]:
        assert q["units"], f"{q['name']} has no unit to pick"
        assert conversion(q["units"][0], q["canonical_unit"]).scale == 1.0  # canonical first
        for unit in q["units"]:
            conversion(unit, q["canonical_unit"])  # raises if it does not convert
    grouped = [u for g in data["unit_groups"] for u in g]
    assert sorted(grouped) == sorted(FIELD_UNITS)  # every unit in exactly one group
    assert ["kg", "tonne", "lb"] in data["unit_groups"]
