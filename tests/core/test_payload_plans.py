"""A plan device's payload settings, validated hostile: the format, field names mapped to
the device's own quantities in units that convert, Telegraf's timestamp unit, and no
standard payload for a device whose messages must be signed."""

from __future__ import annotations

import pytest

from core.plans.validate import validate_plan_text
from tests.support.paths import TEST_PLAN

BASE = TEST_PLAN.read_text()


def with_em1(extra: str) -> str:
    """The test plan with ``extra`` YAML lines added to device em1."""
    lines = "".join(f"    {line}\n" for line in extra.strip("\n").splitlines())
    return BASE.replace("    serial: EM-1\n", "    serial: EM-1\n" + lines)


def paths(text: str) -> list[str]:
    _, problems = validate_plan_text(text)
    return [p.path for p in problems]


def test_a_standard_payload_with_fields_validates() -> None:
    text = with_em1("""
payload: telegraf
timestamp_unit: ms
fields:
  "Active energy (export)": {quantity: energy_export, unit: MWh}
  P_total: {quantity: power, unit: W}
""")
    plan, problems = validate_plan_text(text)
    assert problems == [] and plan is not None
    device = plan.devices[0]
    assert device.payload_format == "telegraf" and device.timestamp_unit == "ms"
    assert {n: (f.quantity, f.unit) for n, f in device.payload_fields().items()} == {
        "Active energy (export)": ("energy_export", "MWh"),
        "P_total": ("power", "W"),
    }


def test_defaults_are_native_and_each_quantity_in_its_canonical_unit() -> None:
    plan, _ = validate_plan_text(BASE)
    assert plan is not None
    device = plan.devices[0]
    assert device.payload_format == "native"
    assert {n: (f.quantity, f.unit) for n, f in device.payload_fields().items()} == {
        q: (q, None) for q in device.quantities
    }
    # A plan without payload settings is stored (and hashed) as it was before they existed.
    dumped = plan.model_dump(mode="json")["devices"][0]
    assert not {"payload", "fields", "timestamp_unit"} & set(dumped)
    senml, _ = validate_plan_text(with_em1("payload: senml"))
    assert senml is not None and senml.model_dump(mode="json")["devices"][0]["payload"] == "senml"


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("payload: modbus", "devices[0].payload"),
        ("payload: senml\nfields: {p: {quantity: gas_flow_normal}}", "devices[0].fields.p.quantity"),
        ("payload: senml\nfields: {p: {quantity: power, unit: kWh}}", "devices[0].fields.p.unit"),
        ("payload: senml\nfields: {p: {quantity: power, unit: furlongs}}", "devices[0].fields.p.unit"),
        ("payload: senml\nfields: {p: {quantity: power}, q: {quantity: power}}",
         "devices[0].fields.q.quantity"),
        ("payload: senml\nfields: {p: {quantity: power, colour: red}}", "devices[0].fields.p.colour"),
        ("fields: {p: {quantity: power}}", "devices[0].fields"),
        ("payload: senml\ntimestamp_unit: ms", "devices[0].timestamp_unit"),
        ("payload: telegraf\ntimestamp_unit: minutes", "devices[0].timestamp_unit"),
        ('payload: senml\nfields: {"a\\tb": {quantity: power}}', "devices[0].fields.a\tb.[key]"),
        (f"payload: senml\nfields: {{{'x' * 129}: {{quantity: power}}}}",
         f"devices[0].fields.{'x' * 129}.[key]"),
        ("payload: thingsboard\nsigning: required\npublic_key: "
         '"ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="', "devices[0].payload"),
    ],
)  # fmt: skip
def test_bad_payload_settings_are_named(extra: str, where: str) -> None:
    assert where in paths(with_em1(extra)), paths(with_em1(extra))


def test_fields_are_bounded() -> None:
    many = "\n".join(f"  f{i}: {{quantity: power}}" for i in range(65))
    assert "devices[0].fields" in paths(with_em1(f"payload: senml\nfields:\n{many}"))
