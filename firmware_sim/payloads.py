"""A simulated logger's payload in a standard format: SenML JSON (RFC 8428), Telegraf's
``json`` output or ThingsBoard telemetry (``core.payloads`` reads them back).

The device builds the same reading messages whatever it speaks; only the bytes differ.
Its field names are the plan's (``fields``: logger name -> quantity); SenML states each
value's unit, the other two carry none, so such a device reports in the plan field's unit
(the quantity's canonical unit by default).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.times import to_ms
from core.wire import ReadingMessage

#: Units as a SenML device spells them (RFC 8428 section 12.1), where ours differ.
SENML_SPELLING = {"degC": "Cel", "1": "/"}

Encoder = Callable[[Sequence[ReadingMessage]], bytes]
# A Telegraf timestamp from epoch ms: (multiply, then floor-divide) per json_timestamp_units.
_FROM_MS = {"s": (1, 1000), "ms": (1, 1), "us": (1000, 1), "ns": (1_000_000, 1)}


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def senml(messages: Sequence[ReadingMessage], names: Mapping[str, str], device: str) -> bytes:
    """One SenML pack: the base name is the device's URN, the base time the first
    message's; each reading a record named by its field, timed relative to the base."""
    base_s = to_ms(messages[0].time) / 1000
    records: list[dict[str, Any]] = []
    for message in messages:
        offset = round(to_ms(message.time) / 1000 - base_s, 3)
        for reading in message.readings:
            record: dict[str, Any] = {
                "n": names[reading.quantity],
                "u": SENML_SPELLING.get(reading.unit, reading.unit),
                "v": reading.value,
            }
            if offset:
                record["t"] = offset
            records.append(record)
    records[0] = {"bn": f"urn:dev:mrv:{device}:", "bt": base_s, **records[0]}
    return _json(records)


def telegraf(
    messages: Sequence[ReadingMessage],
    names: Mapping[str, str],
    device: str,
    timestamp_unit: str = "s",
) -> bytes:
    """Telegraf's json serializer: one metric, or ``{"metrics": [...]}`` for several;
    timestamps truncated to ``timestamp_unit`` as Telegraf's ``json_timestamp_units``."""
    multiply, divide = _FROM_MS[timestamp_unit]
    metrics = [
        {
            "fields": {names[r.quantity]: r.value for r in message.readings},
            "name": "mrv_logger",
            "tags": {"device": device},
            "timestamp": to_ms(message.time) * multiply // divide,
        }
        for message in messages
    ]
    return _json(metrics[0] if len(metrics) == 1 else {"metrics": metrics})


def thingsboard(messages: Sequence[ReadingMessage], names: Mapping[str, str]) -> bytes:
    """ThingsBoard telemetry with its own time: ``{"ts": ms, "values": {...}}``, or an
    array of them for several messages."""
    elements = [
        {"ts": to_ms(m.time), "values": {names[r.quantity]: r.value for r in m.readings}}
        for m in messages
    ]
    return _json(elements[0] if len(elements) == 1 else elements)


def encoder(fmt: str, names: Mapping[str, str], device: str, timestamp_unit: str) -> Encoder:
    """The device's encoder of one or more messages in ``fmt`` (not ``native``)."""
    if fmt == "senml":
        return lambda messages: senml(messages, names, device)
    if fmt == "telegraf":
        return lambda messages: telegraf(messages, names, device, timestamp_unit)
    if fmt == "thingsboard":
        return lambda messages: thingsboard(messages, names)
    raise ValueError(f"no encoder for payload format {fmt!r}")
