"""Import a data logger's CSV export through the same pipeline as MQTT messages.

Columns as in ``mrv readings export``: time, project, site, device, seq, quantity, value,
unit (raw_value/raw_unit are accepted in place of value/unit), historical. Rows sharing
(site, device, seq, time) become one reading message on that device's topic, so dedupe,
conflicts, quarantine and register checks behave exactly as for MQTT.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from core.times import now_ms as wall_ms
from core.wire import readings_topic
from gateway.decode import Inbound
from gateway.processor import BatchProcessor, BatchResult

REQUIRED = ("time", "site", "device", "seq", "quantity")


class ImportError_(ValueError):
    pass


def _messages(reader: csv.DictReader[str], project: str) -> Iterator[Inbound]:
    now_ms = wall_ms()
    current_key: tuple[str, str, str, str] | None = None
    readings: list[dict[str, Any]] = []
    head: dict[str, Any] = {}

    def flush() -> Inbound:
        site, device = head["site"], head["device"]
        message: dict[str, Any] = {
            "device": device,
            "seq": head["seq"],
            "time": head["time"],
            "historical": head["historical"],
            "readings": readings,
        }
        return Inbound(readings_topic(project, site, device), json.dumps(message).encode(), now_ms)

    for line, row in enumerate(reader, start=2):
        missing = [c for c in REQUIRED if not (row.get(c) or "").strip()]
        if missing:
            raise ImportError_(f"line {line}: missing {', '.join(missing)}")
        if row.get("project") and row["project"] != project:
            raise ImportError_(f"line {line}: project {row['project']!r} is not {project!r}")
        key = (row["site"], row["device"], row["seq"], row["time"])
        if key != current_key and readings:
            yield flush()
            readings = []
        current_key = key
        seq_text = row["seq"].strip()
        time_text = row["time"].strip()
        head = {
            "site": row["site"].strip(),
            "device": row["device"].strip(),
            "seq": int(seq_text) if seq_text.lstrip("-").isdigit() else seq_text,
            "time": float(time_text) if _is_number(time_text) else time_text,
            "historical": (row.get("historical") or "").strip().lower() in ("1", "true", "yes"),
        }
        value_text = row.get("raw_value") or row.get("value") or ""
        unit = row.get("raw_unit") or row.get("unit") or ""
        reading: dict[str, Any] = {
            "quantity": row["quantity"].strip(),
            "value": float(value_text) if _is_number(value_text) else value_text,
            "unit": unit.strip(),
        }
        if row.get("kind"):
            reading["kind"] = row["kind"].strip()
        if row.get("interval_s"):
            reading["interval_s"] = float(row["interval_s"])
        readings.append(reading)
    if readings:
        yield flush()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def import_csv(
    processor: BatchProcessor, project: str, source: TextIO | Path, batch_size: int = 500
) -> BatchResult:
    handle: TextIO = (
        source.open(newline="", encoding="utf-8") if isinstance(source, Path) else source
    )
    total = BatchResult()
    try:
        reader = csv.DictReader(handle)
        batch: list[Inbound] = []
        for message in _messages(reader, project):
            batch.append(message)
            if len(batch) >= batch_size:
                total.merge(processor.process(batch))
                batch = []
        if batch:
            total.merge(processor.process(batch))
    finally:
        if isinstance(source, Path):
            handle.close()
    return total
