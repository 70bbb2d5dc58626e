"""Standard device payloads as records: SenML JSON (RFC 8428), Telegraf's ``json``
output and ThingsBoard telemetry JSON (no I/O).

Real loggers publish these without new firmware. Each parser takes the payload as parsed
JSON and returns its records (a name as the payload spells it, a number, the payload's
unit if it states one, a time in epoch milliseconds) and its problems, each naming the
field at fault in the payload's own terms (``[0].v``, ``metrics[2].fields.power``,
``values.temperature``), so that one bad record never takes its neighbours down with it.
Mapping names onto the plan's quantities and checking values is the gateway's job, with
the same checks as the native payload.

These formats carry no sequence number: a reading's identity is its time in ms instead
(see ``gateway.decode``). A time the payload does not state is the receive time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from core.wire import MAX_MESSAGES_PER_BATCH, MAX_PAYLOAD_BYTES, DecodeError

PayloadFormat = Literal["native", "senml", "telegraf", "thingsboard"]
PAYLOAD_FORMATS: tuple[PayloadFormat, ...] = ("native", "senml", "telegraf", "thingsboard")
TimestampUnit = Literal["s", "ms", "us", "ns"]
#: Milliseconds per unit of a Telegraf timestamp (its ``json_timestamp_units``).
MS_PER_UNIT: dict[str, float] = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}

SENML_CONTENT_TYPE = "application/senml+json"
#: The SenML version this gateway understands (RFC 8428 section 4.4: a pack of a later
#: version must not be used).
SENML_VERSION = 10
#: RFC 8428 section 4.5.3: a resolved time below 2**28 s is relative to "now".
SENML_RELATIVE_LIMIT_S = 2**28
SENML_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:./-]*$")
MAX_NAME_LENGTH = 256
MAX_UNIT_LENGTH = 32
#: A payload's records are bounded like a native backfill's messages.
MAX_RECORDS = MAX_MESSAGES_PER_BATCH
#: Times are kept between 1970 and the end of year 9999 (what a datetime can show).
MAX_TIME_MS = 253_402_300_799_999

# SenML's registered units (RFC 8428 section 12.1) that pint spells otherwise.
_SENML_UNITS: dict[str, str] = {
    "Cel": "degC",
    "/": "1",
    "%RH": "%",
    "%EL": "%",
    "m3/s": "m**3/s",
    "l/s": "L/s",
    "m2": "m**2",
}
_SENML_BASE = ("bn", "bt", "bu", "bv", "bs", "bver")
_SENML_VALUES = ("v", "vs", "vb", "vd")


@dataclass(frozen=True, slots=True)
class Record:
    """One numeric reading of a payload, named as the payload names it.

    ``item`` is the record (``[0]``, ``metrics[2]``, ``message``); the other labels are
    the fields a problem with its value, name, time or unit is named by (None: the
    receive time, or the plan's unit). ``on_receipt``: the time is the receive time or
    relative to it (SenML below 2**28 s), so a redelivery must be given the first
    receive time back to land on the same reading."""

    name: str
    value: float
    unit: str | None
    time_ms: int
    item: str
    value_field: str
    name_field: str
    time_field: str | None
    unit_field: str | None
    on_receipt: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) a payload is refused: the field, a sentence, the record, a reason."""

    field: str
    detail: str
    item: str = "message"
    reason: str = "schema"


Parsed = tuple[list[Record], list[Problem]]


def load_json(payload: bytes) -> Any:
    """The payload as JSON; DecodeError (``too_large``, ``not_utf8``, ``invalid_json``)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(
            "too_large", f"payload is {len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("not_utf8", f"payload is not UTF-8 (byte {exc.start})") from exc
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DecodeError("invalid_json", f"payload is not JSON: {exc}") from exc


def looks_like_senml(item: object) -> bool:
    """A SenML record rather than a native message (SPEC section 3: an array whose first
    record has ``bn`` or ``n``)."""
    return isinstance(item, dict) and ("bn" in item or "n" in item) and "device" not in item


def pint_spelling(unit: str) -> str:
    """A payload's unit as the unit registry reads it (SenML's ``Cel`` is ``degC``)."""
    return _SENML_UNITS.get(unit, unit)


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (a boolean is not one, though Python calls it an int; an
    integer too large for a float is not one either)."""
    if type(value) is int:
        return -(10**300) <= value <= 10**300
    return type(value) is float and math.isfinite(value)


def seconds_to_ms(seconds: float) -> int | None:
    """Epoch seconds as milliseconds, or None when out of range (before 1970, after 9999)."""
    return _in_range(seconds * 1000)


def _in_range(time_ms: float) -> int | None:
    """Epoch milliseconds rounded, or None before 1970 or after 9999 (or not finite)."""
    return round(time_ms) if 0 <= time_ms <= MAX_TIME_MS else None


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "not a finite number"
    if isinstance(value, dict | list) and not value:
        return "empty"
    return f"a JSON {type(value).__name__.replace('dict', 'object').replace('list', 'array')}"


def key_label(key: str) -> str:
    """A key as part of a field's name, cut so that a hostile key cannot flood a label."""
    return key if len(key) <= 64 else key[:64] + "..."


def _too_many(count: int, what: str) -> Problem:
    return Problem(
        "message", f"message: {count} {what}, limit {MAX_RECORDS}", "message", "too_large"
    )


# --- SenML (RFC 8428) ---------------------------------------------------------------------


@dataclass
class _Base:
    """The base fields in force (RFC 8428 section 4.1: a base field applies to its record
    and every later one until another record sets it), each with the field that set it;
    a malformed base field is kept as its problem, refusing the records that rely on it."""

    fields: dict[str, tuple[str | float, str]]
    broken: dict[str, Problem]
    version: int | None = None

    def update(self, record: Mapping[str, Any], i: int) -> None:
        types: dict[str, tuple[type, ...]] = {"bn": (str,), "bu": (str,)}
        for key in _SENML_BASE:
            if key not in record:
                continue
            value, label = record[key], f"[{i}].{key}"
            wanted = types.get(key)
            ok = isinstance(value, wanted) if wanted else is_number(value)
            if key == "bver":
                ok = type(value) is int and value > 0
            if ok:
                self.fields[key] = (value, label)
                self.broken.pop(key, None)
            else:
                expected = "a string" if wanted else "a number"
                if key == "bver":
                    expected = "a positive integer"
                detail = f"{label}: must be {expected}, not {_kind_of(value)}"
                self.broken[key] = Problem(label, detail, f"[{i}]")

    def get(self, key: str) -> tuple[str | float, str] | None:
        return self.fields.get(key)


def parse_senml(data: object, now_ms: int) -> Parsed:
    """A SenML pack's numeric records, resolved per RFC 8428 section 4.6: the name is
    ``bn`` + ``n``, the unit ``u`` or else ``bu``, the value ``bv`` + ``v``, the time
    ``bt`` + ``t`` in seconds, relative to ``now_ms`` (the receive time) below 2**28.

    A record with a string, boolean or data value (``vs``, ``vb``, ``vd``) or only a sum
    is not a reading to store: it is refused naming that field. A record of base fields
    alone sets them and is no reading (RFC 8428's own example 5.1.7 has one)."""
    if not isinstance(data, list):
        return [], [Problem("message", "message: a SenML pack is a JSON array of records")]
    if not data:
        return [], [Problem("message", "message: the SenML pack is empty")]
    if len(data) > MAX_RECORDS:
        return [], [_too_many(len(data), "SenML records")]
    base = _Base({}, {})
    records: list[Record] = []
    problems: list[Problem] = []
    for i, record in enumerate(data):
        if not isinstance(record, dict):
            problems.append(Problem(f"[{i}]", f"[{i}]: a SenML record is a JSON object", f"[{i}]"))
            continue
        base.update(record, i)
        made = _senml_record(record, i, base, now_ms)
        if isinstance(made, Problem):
            problems.append(made)
        elif made is not None:
            records.append(made)
    return records, problems


def _senml_record(
    record: Mapping[str, Any], i: int, base: _Base, now_ms: int
) -> Record | Problem | None:
    """One record resolved, or the first thing wrong with it, or None (base fields only)."""
    at = f"[{i}]"
    for key in record:
        if isinstance(key, str) and key.endswith("_"):
            detail = f"{at}.{key_label(key)}: a field this gateway must understand but does not"
            return Problem(f"{at}.{key_label(key)}", detail, at)
    if not record:
        return Problem(at, f"{at}: the record is empty", at)
    refused = _senml_version(base, i) or _senml_broken(record, base, at)
    if refused is not None:
        return refused
    if all(key in _SENML_BASE for key in record):
        return None
    value = _senml_value(record, base, at)
    if isinstance(value, Problem):
        return value
    name = _senml_name(record, base, at)
    if isinstance(name, Problem):
        return name
    unit = _senml_unit(record, base, at)
    if isinstance(unit, Problem):
        return unit
    when = _senml_time(record, base, at, now_ms)
    if isinstance(when, Problem):
        return when
    return Record(
        name[0], value, unit[0], when[0], at, f"{at}.v", name[1], when[1], unit[1], when[2]
    )


def _senml_version(base: _Base, i: int) -> Problem | None:
    """RFC 8428 section 4.4: a later version than ours must not be used, and every
    record of a pack has the same version."""
    found = base.get("bver")
    version = int(found[0]) if found is not None else SENML_VERSION
    label = found[1] if found is not None else f"[{i}].bver"
    if version > SENML_VERSION:
        detail = f"{label}: SenML version {version} is later than {SENML_VERSION}, which we read"
        return Problem(label, detail, f"[{i}]")
    if base.version is None:
        base.version = version
    elif version != base.version:
        detail = f"{label}: version {version} differs from the pack's {base.version}"
        return Problem(label, detail, f"[{i}]")
    return None


def _senml_broken(record: Mapping[str, Any], base: _Base, at: str) -> Problem | None:
    """The problem of a malformed base field this record relies on, if any."""
    for key, problem in base.broken.items():
        if key in record or key in ("bn", "bt", "bver") or (key == "bu" and "u" not in record):
            return Problem(problem.field, problem.detail, at)
        if key == "bv" and "v" in record:
            return Problem(problem.field, problem.detail, at)
    return None


def _senml_value(record: Mapping[str, Any], base: _Base, at: str) -> float | Problem:
    present = [key for key in _SENML_VALUES if key in record]
    if len(present) > 1:
        detail = f"{at}.{present[1]}: a record has exactly one value field, this one has " + (
            ", ".join(present)
        )
        return Problem(f"{at}.{present[1]}", detail, at)
    if not present:
        key = "s" if "s" in record else "v"
        why = "a sum without a value is no reading to store" if key == "s" else "no value"
        return Problem(f"{at}.{key}", f"{at}.{key}: {why}", at)
    if present[0] != "v":
        key = present[0]
        detail = f"{at}.{key}: {_kind_of(record[key])} value, not a number to store"
        return Problem(f"{at}.{key}", detail, at)
    value = record["v"]
    if not is_number(value):
        return Problem(f"{at}.v", f"{at}.v: must be a number, not {_kind_of(value)}", at)
    offset = base.get("bv")
    total = float(value) + (float(offset[0]) if offset is not None else 0.0)
    if not math.isfinite(total):
        return Problem(f"{at}.v", f"{at}.v: base value + value is not a finite number", at)
    return total


def _senml_name(record: Mapping[str, Any], base: _Base, at: str) -> tuple[str, str] | Problem:
    """The resolved name (``bn`` + ``n``) and the field it is named by."""
    own = record.get("n", "")
    if not isinstance(own, str):
        return Problem(f"{at}.n", f"{at}.n: must be a string, not {_kind_of(own)}", at)
    prefix = base.get("bn")
    label = f"{at}.n" if "n" in record or prefix is None else prefix[1]
    name = (str(prefix[0]) if prefix is not None else "") + own
    if not name:
        return Problem(label, f"{label}: the record has no name (bn + n is empty)", at)
    if len(name) > MAX_NAME_LENGTH or not SENML_NAME_RE.match(name):
        detail = (
            f"{label}: the name {key_label(name)!r} is not 1 to {MAX_NAME_LENGTH} letters, "
            "digits, '-', ':', '.', '/' or '_' starting with a letter or digit (RFC 8428)"
        )
        return Problem(label, detail, at)
    return name, label


def _senml_unit(
    record: Mapping[str, Any], base: _Base, at: str
) -> tuple[str | None, str | None] | Problem:
    if "u" in record:
        unit, label = record["u"], f"{at}.u"
    else:
        found = base.get("bu")
        if found is None:
            return None, None
        unit, label = found
    if not isinstance(unit, str) or len(unit) > MAX_UNIT_LENGTH:
        what = f"at most {MAX_UNIT_LENGTH} characters" if isinstance(unit, str) else _kind_of(unit)
        return Problem(label, f"{label}: a unit is a string of {what}", at)
    return unit, label


def _senml_time(
    record: Mapping[str, Any], base: _Base, at: str, now_ms: int
) -> tuple[int, str | None, bool] | Problem:
    """``bt`` + ``t`` in ms: absolute from 2**28 s on, else relative to ``now_ms``; with
    its label and whether it is relative."""
    own = record.get("t", 0)
    if not is_number(own):
        return Problem(f"{at}.t", f"{at}.t: must be a number, not {_kind_of(own)}", at)
    found = base.get("bt")
    seconds = float(own) + (float(found[0]) if found is not None else 0.0)
    label = f"{at}.t" if "t" in record else (found[1] if found is not None else None)
    if seconds < SENML_RELATIVE_LIMIT_S:
        time_ms = _in_range(now_ms + seconds * 1000)
    else:
        time_ms = seconds_to_ms(seconds)
    if time_ms is None:
        where = label or f"{at}.t"
        return Problem(where, f"{where}: {seconds:g} s is not a time between 1970 and 9999", at)
    return time_ms, label, seconds < SENML_RELATIVE_LIMIT_S


# --- Telegraf json output -------------------------------------------------------------------


def parse_telegraf(data: object, timestamp_unit: str = "s") -> Parsed:
    """Telegraf's ``json`` serializer output: one metric ``{"fields": {...}, "name":
    ..., "tags": {...}, "timestamp": N}`` or a batch ``{"metrics": [...]}``; each
    numeric field is a record, timed by ``timestamp`` in ``timestamp_unit``."""
    if not isinstance(data, dict):
        return [], [Problem("message", "message: a Telegraf metric is a JSON object")]
    if "metrics" not in data:
        return _telegraf_metric(data, "", "message", MS_PER_UNIT[timestamp_unit])
    metrics = data["metrics"]
    if not isinstance(metrics, list) or not metrics:
        detail = f"metrics: must be a non-empty array of metrics, not {_kind_of(metrics)}"
        return [], [Problem("metrics", detail)]
    total = sum(len(m["fields"]) for m in metrics if isinstance(m, dict) and _fields_ok(m))
    if max(total, len(metrics)) > MAX_RECORDS:
        return [], [_too_many(max(total, len(metrics)), "Telegraf fields")]
    records: list[Record] = []
    problems: list[Problem] = []
    for i, metric in enumerate(metrics):
        at = f"metrics[{i}]"
        if not isinstance(metric, dict):
            problems.append(Problem(at, f"{at}: a metric is a JSON object", at))
            continue
        got, bad = _telegraf_metric(metric, f"{at}.", at, MS_PER_UNIT[timestamp_unit])
        records += got
        problems += bad
    return records, problems


def _fields_ok(metric: Mapping[str, Any]) -> bool:
    return isinstance(metric.get("fields"), dict)


def _telegraf_metric(metric: Mapping[str, Any], prefix: str, at: str, unit_ms: float) -> Parsed:
    if not _fields_ok(metric) or not metric["fields"]:
        detail = f"{prefix}fields: must be a non-empty object, not {_kind_of(metric.get('fields'))}"
        return [], [Problem(f"{prefix}fields", detail, at)]
    if len(metric["fields"]) > MAX_RECORDS:
        return [], [_too_many(len(metric["fields"]), "Telegraf fields")]
    stamp = metric.get("timestamp")
    time_ms = _in_range(stamp * unit_ms) if is_number(stamp) else None
    if time_ms is None:
        why = "is missing" if stamp is None else f"is {_kind_of(stamp)}"
        if is_number(stamp):
            why = f"{float(stamp):g} is not a time between 1970 and 9999"
        return [], [Problem(f"{prefix}timestamp", f"{prefix}timestamp: {why}", at)]
    return _keyed(metric["fields"], f"{prefix}fields.", at, time_ms, f"{prefix}timestamp")


def _keyed(
    values: Mapping[str, Any], prefix: str, at: str, time_ms: int, time_field: str | None
) -> Parsed:
    """The numeric values of an object keyed by name (Telegraf's fields, ThingsBoard's
    values): each one a record; anything else refused naming its key."""
    records: list[Record] = []
    problems: list[Problem] = []
    for key, value in values.items():
        label = f"{prefix}{key_label(key)}"
        if not is_number(value):
            detail = f"{label}: must be a number, not {_kind_of(value)}"
            problems.append(Problem(label, detail, at))
            continue
        records.append(
            Record(
                key,
                float(value),
                None,
                time_ms,
                at,
                label,
                label,
                time_field,
                None,
                on_receipt=time_field is None,
            )
        )
    return records, problems


# --- ThingsBoard telemetry --------------------------------------------------------------------


def parse_thingsboard(data: object, now_ms: int) -> Parsed:
    """ThingsBoard device telemetry: ``{"ts": ms, "values": {...}}``, or the values alone
    ``{"key": value, ...}`` (timed ``now_ms``, the receive time), or an array of either."""
    if isinstance(data, dict):
        return _thingsboard_one(data, "", "message", now_ms)
    if not isinstance(data, list):
        return [], [Problem("message", "message: telemetry is a JSON object or an array")]
    if not data:
        return [], [Problem("message", "message: the telemetry array is empty")]
    total = sum(_values_count(e) for e in data)
    if max(total, len(data)) > MAX_RECORDS:
        return [], [_too_many(max(total, len(data)), "telemetry values")]
    records: list[Record] = []
    problems: list[Problem] = []
    for i, element in enumerate(data):
        at = f"[{i}]"
        if not isinstance(element, dict):
            problems.append(Problem(at, f"{at}: telemetry is a JSON object", at))
            continue
        got, bad = _thingsboard_one(element, f"{at}.", at, now_ms)
        records += got
        problems += bad
    return records, problems


def _values_count(element: object) -> int:
    if not isinstance(element, dict):
        return 1
    values = element.get("values")
    return len(values) if isinstance(values, dict) else len(element)


def _thingsboard_one(element: Mapping[str, Any], prefix: str, at: str, now_ms: int) -> Parsed:
    if "values" not in element:
        if "ts" in element:
            detail = f"{prefix}values: missing (with ts, the values go under values)"
            return [], [Problem(f"{prefix}values", detail, at)]
        if not element:
            return [], [Problem(at, f"{at}: the telemetry has no values", at)]
        if len(element) > MAX_RECORDS:
            return [], [_too_many(len(element), "telemetry values")]
        return _keyed(element, prefix, at, now_ms, None)
    values = element["values"]
    if not isinstance(values, dict) or not values:
        detail = f"{prefix}values: must be a non-empty object, not {_kind_of(values)}"
        return [], [Problem(f"{prefix}values", detail, at)]
    if len(values) > MAX_RECORDS:
        return [], [_too_many(len(values), "telemetry values")]
    if "ts" not in element:
        return _keyed(values, f"{prefix}values.", at, now_ms, None)
    stamp = element["ts"]
    time_ms = _in_range(stamp) if is_number(stamp) else None
    if time_ms is None:
        why = f"must be epoch milliseconds, not {_kind_of(stamp)}"
        if is_number(stamp):
            why = f"{float(stamp):g} ms is not a time between 1970 and 9999"
        return [], [Problem(f"{prefix}ts", f"{prefix}ts: {why}", at)]
    return _keyed(values, f"{prefix}values.", at, time_ms, f"{prefix}ts")


PARSERS = ("senml", "telegraf", "thingsboard")


def parse(fmt: str, data: object, now_ms: int, timestamp_unit: str = "s") -> Parsed:
    """The records of a payload in ``fmt`` (one of PARSERS)."""
    if fmt == "senml":
        return parse_senml(data, now_ms)
    if fmt == "telegraf":
        return parse_telegraf(data, timestamp_unit)
    if fmt == "thingsboard":
        return parse_thingsboard(data, now_ms)
    raise ValueError(f"no parser for payload format {fmt!r}")


def match_field(name: str, fields: Mapping[str, Any]) -> str | None:
    """The plan's field a SenML record's resolved name ends in: the name itself, or the
    longest field name it ends with after a separator (``urn:dev:ow:10e2:voltage`` is
    field ``voltage``; ``activepower`` is not ``power``)."""
    if name in fields:
        return name
    best: str | None = None
    for field in fields:
        if (
            len(field) < len(name)
            and name.endswith(field)
            and not name[-len(field) - 1].isalnum()
            and (best is None or len(field) > len(best))
        ):
            best = field
    return best
