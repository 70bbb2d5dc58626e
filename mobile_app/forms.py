"""Entry forms as data: which fields each entry type has, what a person may pick in each
(from the cached plan and catalogue), and the checks that run as they type.

Pure functions over plain dicts: no Kivy, no I/O. The server checks every entry again
(``mrv/entries.py``); these checks catch what can be caught offline (a missing field, a
number that is not one, a value outside the quantity's plausible range, a date the
device was not installed on) so that a person fixes it on site, not a week later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mobile_app.strings import EN, t

ENTRY_TYPES = (
    "meter_reading",
    "fuel_invoice",
    "calibration_certificate",
    "weighbridge_ticket",
    "site_visit_checklist",
)
CHECK_ITEMS = (
    "seals_intact",
    "display_readable",
    "cabling_undamaged",
    "sensors_clean",
    "logger_online",
    "no_bypass",
)
FUTURE_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True)
class FormContext:
    """What the forms know offline: the project's plan and the server's catalogue (both
    as the API returned them), the site chosen, and the time now."""

    plan: dict[str, Any]
    catalogue: dict[str, Any]
    site: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def devices(self) -> list[dict[str, Any]]:
        return [d for d in self.plan.get("devices", []) if d.get("site") == self.site]

    def device(self, device_id: str) -> dict[str, Any] | None:
        return next((d for d in self.plan.get("devices", []) if d["id"] == device_id), None)

    def quantity(self, name: str) -> dict[str, Any] | None:
        return next((q for q in self.catalogue.get("quantities", []) if q["name"] == name), None)

    def unit_group(self, unit: str) -> list[str]:
        for group in self.catalogue.get("unit_groups", []):
            if unit in group:
                return list(group)
        return [unit]

    def parameters(self, entry_type: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.plan.get("parameters", [])
            if p.get("option") == "B" and p.get("entry_type") == entry_type
        ]


Choices = Callable[[FormContext, dict[str, str]], list[tuple[str, str]]]


@dataclass(frozen=True)
class FieldSpec:
    """One input. ``name`` is its dotted path in the entry's body (``net_mass.unit``)."""

    name: str
    kind: str  # text | number | date | datetime | choice | checklist | multiline
    required: bool = True
    choices: Choices | None = None
    max_length: int = 200
    label_key: str = ""

    @property
    def label(self) -> str:
        return t(self.label_key or f"field.{self.name.split('.')[0]}")


# --- choices from the plan and catalogue -------------------------------------------------


def _devices(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(d["id"], f"{d['id']} ({d.get('type', '')})") for d in ctx.devices()]


def _quantities(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    device = ctx.device(values.get("device", ""))
    return [(q, q.replace("_", " ")) for q in (device or {}).get("quantities", [])]


def _quantity_units(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    spec = ctx.quantity(values.get("quantity", ""))
    return [(u, u) for u in (spec or {}).get("units", [])]


def _parameter_units(ctx: FormContext, values: dict[str, str], entry_type: str) -> list[str]:
    symbol = values.get("parameter", "")
    param = next((p for p in ctx.parameters(entry_type) if p["symbol"] == symbol), None)
    if param is not None:
        return ctx.unit_group(param["unit"])
    return [u for g in ctx.catalogue.get("unit_groups", []) for u in g]


def _invoice_units(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(u, u) for u in _parameter_units(ctx, values, "fuel_invoice")]


def _mass_units(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(u, u) for u in ctx.unit_group("kg")]


def _parameters_of(entry_type: str) -> Choices:
    def choices(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
        return [(p["symbol"], f"{p['symbol']} ({p['unit']})") for p in ctx.parameters(entry_type)]

    return choices


def _points(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    site_devices = {d["id"] for d in ctx.devices()}
    return [
        (p["id"], f"{p['id']} {p.get('description', '')}".strip())
        for p in ctx.plan.get("monitoring_points", [])
        if p["device"] in site_devices
    ]


def _results(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(r, t(f"result.{r}")) for r in ("within_tolerance", "out_of_tolerance")]


def _check_items(ctx: FormContext, values: dict[str, str]) -> list[tuple[str, str]]:
    return [(item, t(f"check.{item}")) for item in CHECK_ITEMS]


FORMS: dict[str, list[FieldSpec]] = {
    "meter_reading": [
        FieldSpec("device", "choice", choices=_devices),
        FieldSpec("quantity", "choice", choices=_quantities),
        FieldSpec("time", "datetime"),
        FieldSpec("value", "number"),
        FieldSpec("unit", "choice", choices=_quantity_units),
    ],
    "fuel_invoice": [
        FieldSpec("invoice_number", "text", max_length=64),
        FieldSpec("supplier", "text", required=False),
        FieldSpec("period_start", "date"),
        FieldSpec("period_end", "date"),
        FieldSpec("parameter", "choice", required=False, choices=_parameters_of("fuel_invoice")),
        FieldSpec("monitoring_point", "choice", required=False, choices=_points),
        FieldSpec("value", "number"),
        FieldSpec("unit", "choice", choices=_invoice_units),
    ],
    "calibration_certificate": [
        FieldSpec("device", "choice", choices=_devices),
        FieldSpec("calibrated_on", "date"),
        FieldSpec("certificate", "text", max_length=128),
        FieldSpec("result", "choice", choices=_results),
        FieldSpec("error_pct", "number"),
        FieldSpec("tolerance_pct", "number", required=False),
    ],
    "weighbridge_ticket": [
        FieldSpec("ticket_number", "text", max_length=64),
        FieldSpec("time", "datetime"),
        FieldSpec("material", "text"),
        FieldSpec("net_mass.value", "number", label_key="field.net_mass"),
        FieldSpec("net_mass.unit", "choice", choices=_mass_units, label_key="field.unit"),
        FieldSpec(
            "parameter", "choice", required=False, choices=_parameters_of("weighbridge_ticket")
        ),
    ],
    "site_visit_checklist": [
        FieldSpec("visited_at", "datetime"),
        FieldSpec("items", "checklist", choices=_check_items),
        FieldSpec("notes", "multiline", required=False, max_length=4000),
    ],
}


def defaults(entry_type: str, ctx: FormContext) -> dict[str, str]:
    """Starting values: now for times, today for dates, the only choice where there is
    one, the canonical unit where the quantity is known."""
    local_now = ctx.now.astimezone().strftime("%Y-%m-%d %H:%M")
    values: dict[str, str] = {}
    for spec in FORMS[entry_type]:
        if spec.kind == "datetime":
            values[spec.name] = local_now
        elif spec.name == "calibrated_on":
            values[spec.name] = ctx.now.astimezone().date().isoformat()
    return refresh_choices(entry_type, ctx, values)


def refresh_choices(entry_type: str, ctx: FormContext, values: dict[str, str]) -> dict[str, str]:
    """After a change: a choice no longer offered is cleared, a single choice is taken."""
    values = dict(values)
    for spec in FORMS[entry_type]:
        if spec.kind != "choice" or spec.choices is None:
            continue
        offered = [v for v, _ in spec.choices(ctx, values)]
        if values.get(spec.name) not in offered:
            values[spec.name] = (
                offered[0] if (len(offered) == 1 or spec.name.endswith("unit")) and offered else ""
            )
    return values


# --- checks and the body -------------------------------------------------------------------


def _parse_number(text: str) -> float | None:
    try:
        number = float(text.strip().replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _parse_local(text: str) -> datetime | None:
    """A local date and time typed on the tablet, as an aware UTC datetime."""
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt).astimezone().astimezone(UTC)
        except ValueError:
            continue
    return None


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _set(body: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        _set(body.setdefault(head, {}), rest, value)
    else:
        body[head] = value


def check(
    entry_type: str, ctx: FormContext, values: dict[str, str]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The entry's body and no errors, or None and an error message per field name."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    parsed: dict[str, Any] = {}
    for spec in FORMS[entry_type]:
        raw = values.get(spec.name, "")
        text = raw.strip() if isinstance(raw, str) else raw
        if spec.kind == "checklist":
            # Every item is recorded, ticked (passed) or not: an unticked item is a
            # finding. Stored under its English label, whatever language the tablet uses.
            ticked = {item for item in str(raw).split(",") if item}
            body[spec.name] = {EN[f"check.{item}"]: item in ticked for item in CHECK_ITEMS}
            continue
        if not text:
            if spec.required:
                errors[spec.name] = (
                    t("error.choose") if spec.kind == "choice" else t("error.required")
                )
            continue
        if len(text) > spec.max_length:
            errors[spec.name] = t("error.too_long", n=spec.max_length)
            continue
        value: Any = text
        if spec.kind == "number":
            value = _parse_number(text)
            if value is None:
                errors[spec.name] = t("error.number")
                continue
        elif spec.kind == "date":
            value = _parse_date(text)
            if value is None:
                errors[spec.name] = t("error.date")
                continue
        elif spec.kind == "datetime":
            value = _parse_local(text)
            if value is None:
                errors[spec.name] = t("error.datetime")
                continue
            if value > ctx.now + FUTURE_TOLERANCE:
                errors[spec.name] = t("error.future")
                continue
        elif (
            spec.kind == "choice"
            and spec.choices is not None
            and text not in [v for v, _ in spec.choices(ctx, values)]
        ):
            errors[spec.name] = t("error.choose")
            continue
        parsed[spec.name] = value
        _set(body, spec.name, value.isoformat() if isinstance(value, date) else value)
    _cross_checks(entry_type, ctx, parsed, errors)
    return (None, errors) if errors else (body, {})


def _cross_checks(
    entry_type: str, ctx: FormContext, parsed: dict[str, Any], errors: dict[str, str]
) -> None:
    if entry_type == "meter_reading":
        _reading_in_range(ctx, parsed, errors)
    if entry_type == "fuel_invoice":
        start, end = parsed.get("period_start"), parsed.get("period_end")
        if start and end and end < start:
            errors["period_end"] = t("error.before_start")
    if entry_type == "calibration_certificate":
        error, tolerance = parsed.get("error_pct"), parsed.get("tolerance_pct")
        if error is not None and not -100 <= error <= 100:
            errors["error_pct"] = t("error.range", low=-100, high=100, unit="%")
        if error is not None and tolerance is not None and "result" in parsed:
            within = abs(error) <= tolerance
            if within != (parsed["result"] == "within_tolerance"):
                errors["result"] = t("error.tolerance")
    device = ctx.device(str(parsed.get("device", "")))
    day = parsed.get("time") or parsed.get("calibrated_on")
    if device is not None and day is not None:
        day = day.date() if isinstance(day, datetime) else day
        installed, removed = device.get("installed"), device.get("removed")
        where = "time" if "time" in parsed else "calibrated_on"
        if installed and day < date.fromisoformat(installed):
            errors.setdefault(where, t("error.installed", day=installed))
        if removed and day > date.fromisoformat(removed):
            errors.setdefault(where, t("error.removed", day=removed))


def _reading_in_range(ctx: FormContext, parsed: dict[str, Any], errors: dict[str, str]) -> None:
    spec = ctx.quantity(str(parsed.get("quantity", "")))
    value, unit = parsed.get("value"), parsed.get("unit")
    if spec is None or value is None or unit is None:
        return
    scale, offset = spec.get("to_canonical", {}).get(unit, (1.0, 0.0))
    canonical = scale * value + offset
    if not spec["minimum"] <= canonical <= spec["maximum"]:
        low, high = spec["minimum"], spec["maximum"]
        errors["value"] = t(
            "error.range", low=f"{low:g}", high=f"{high:g}", unit=spec["canonical_unit"]
        )
        return
    device = ctx.device(str(parsed.get("device", "")))
    register_max = (device or {}).get("register_max")
    if spec["kind"] == "cumulative" and register_max is not None and canonical > register_max:
        errors["value"] = t(
            "error.register_max", high=f"{register_max:g}", unit=spec["canonical_unit"]
        )


def check_gps(lat: str, lon: str, accuracy: str) -> tuple[dict[str, float] | None, dict[str, str]]:
    """A hand-entered position: both coordinates or neither; accuracy optional."""
    if not lat.strip() and not lon.strip():
        return None, {}
    errors: dict[str, str] = {}
    la, lo = _parse_number(lat), _parse_number(lon)
    if la is None or not -90 <= la <= 90:
        errors["lat"] = t("error.lat") if lat.strip() else t("error.gps_pair")
    if lo is None or not -180 <= lo <= 180:
        errors["lon"] = t("error.lon") if lon.strip() else t("error.gps_pair")
    acc = _parse_number(accuracy) if accuracy.strip() else None
    if accuracy.strip() and (acc is None or not 0 <= acc <= 100_000):
        errors["accuracy_m"] = t("error.accuracy")
    if errors:
        return None, errors
    gps: dict[str, float] = {"lat": la, "lon": lo}  # type: ignore[dict-item]
    if acc is not None:
        gps["accuracy_m"] = acc
    return gps, {}


def summary(entry_type: str, body: dict[str, Any]) -> str:
    """One line for the outbox list."""
    if entry_type == "meter_reading":
        return f"{body.get('device')} {body.get('value')} {body.get('unit')}"
    if entry_type == "fuel_invoice":
        return f"#{body.get('invoice_number')} {body.get('value')} {body.get('unit')}"
    if entry_type == "calibration_certificate":
        return f"{body.get('device')} {body.get('certificate')}"
    if entry_type == "weighbridge_ticket":
        mass = body.get("net_mass", {})
        return f"#{body.get('ticket_number')} {mass.get('value')} {mass.get('unit')}"
    return f"{body.get('visited_at', '')[:16]} {len(body.get('items', {}))} items"
