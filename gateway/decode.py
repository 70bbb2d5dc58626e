"""From MQTT bytes to canonical reading rows or quarantine items (no I/O).

Each inbound message yields candidate rows (valid readings, in canonical units) and
quarantine items (what was wrong, naming the field). A backfill array is judged element
by element and a message reading by reading, so one bad element never takes its valid
neighbours down with it; the quarantine entry still holds the whole raw payload, and
releasing it re-processes the whole payload (the good parts then count as duplicates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mrv.core import quantities
from mrv.core.times import to_ms
from mrv.core.units import Affine, UnitError, conversion
from mrv.core.wire import (
    MAX_PAYLOAD_BYTES,
    SEQ_MAX,
    DecodeError,
    ReadingMessage,
    StatusMessage,
    TopicError,
    decode_items,
    describe_validation_error,
    parse_topic,
    validate_item,
)
from mrv.persistence.repo import DeviceInfo, QuarantineItem, StatusItem
from mrv.persistence.stores.timeseries import ReadingRow


@dataclass(slots=True)
class Inbound:
    """One message as received: from MQTT (mid > 0), the spool, a release or an import."""

    topic: str
    payload: bytes
    received_ms: int
    mid: int = 0
    qos: int = 1


@dataclass(slots=True)
class Candidate:
    """A valid reading and where it came from (for a conflict's quarantine entry)."""

    row: ReadingRow
    message: Inbound
    index: int | None  # position in a backfill array, None for a single message
    reading: int  # position in the message's readings

    @property
    def item(self) -> str:
        # Built only when needed (a conflict): labels cost more than the rest of a row.
        return reading_item(self.index, self.reading)


def reading_item(index: int | None, reading: int) -> str:
    return f"[{index}].readings[{reading}]" if index is not None else f"readings[{reading}]"


@dataclass(slots=True)
class Decoded:
    candidates: list[Candidate] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    # (project, site, device) -> seqs durably kept once this batch commits
    acks: dict[tuple[str, str, str], set[int]] = field(default_factory=dict)
    statuses: list[StatusItem] = field(default_factory=list)


DeviceLookup = Callable[[str, str], DeviceInfo | None]


class Decoder:
    """Turns inbound messages into candidates; caches unit conversions per device."""

    def __init__(self, lookup: DeviceLookup, future_tolerance_ms: int, clock_ms: Callable[[], int]):
        self._lookup = lookup
        self._future_tolerance_ms = future_tolerance_ms
        self._clock_ms = clock_ms
        self._factors: dict[tuple[str, str, DeviceInfo], Affine | UnitError] = {}

    def _factor(self, unit: str, spec: quantities.QuantitySpec, device: DeviceInfo) -> Affine:
        key = (unit, spec.name, device)
        cached = self._factors.get(key)
        if cached is None:
            try:
                cached = conversion(
                    unit,
                    spec.canonical_unit,
                    atmosphere_kpa=device.atmosphere_kpa,
                    reference=device.reference,
                )
            except UnitError as exc:
                cached = exc
            if len(self._factors) > 100_000:  # bound the cache against unit-string floods
                self._factors.clear()
            self._factors[key] = cached
        if isinstance(cached, UnitError):
            raise cached
        return cached

    def _decode_status(
        self,
        message: Inbound,
        project: str,
        site: str,
        device_id: str,
        out: Decoded,
        quarantine: Callable[..., None],
    ) -> None:
        if not message.payload:
            return  # an empty retained message clears the topic: nothing to record
        try:
            status = StatusMessage.model_validate_json(message.payload)
        except ValidationError as exc:
            field_, text = describe_validation_error(exc)
            quarantine("schema", text, field_=field_, project=project, device=device_id)
            return
        info = self._lookup(project, device_id)
        if status.device != device_id:
            quarantine(
                "device_mismatch",
                f"device: {status.device!r} does not match the topic's {device_id!r}",
                field_="device",
                project=project,
                device=device_id,
            )
        elif info is None or info.site != site:
            quarantine(
                "unknown_device",
                f"device {device_id!r} at site {site!r} is not registered in {project!r}",
                field_="device",
                project=project,
                device=device_id,
            )
        else:
            out.statuses.append(
                StatusItem(
                    project,
                    site,
                    device_id,
                    status.state,
                    status.firmware,
                    status.buffered,
                    status.time,
                    message.received_ms,
                )
            )

    def decode(self, message: Inbound, out: Decoded) -> None:
        def quarantine(
            reason: str,
            detail: str,
            item: str = "message",
            field_: str | None = None,
            project: str | None = None,
            device: str | None = None,
            seq: int | None = None,
        ) -> None:
            out.quarantine.append(
                QuarantineItem(
                    topic=message.topic,
                    payload=message.payload,
                    received_ms=message.received_ms,
                    reason=reason,
                    detail=detail,
                    item=item,
                    field=field_,
                    project=project,
                    device=device,
                    seq=seq,
                )
            )

        try:
            project, site, device_id, kind = parse_topic(message.topic)
        except TopicError as exc:
            quarantine("wrong_topic", str(exc), field_="topic")
            return
        if kind == "status":
            self._decode_status(message, project, site, device_id, out, quarantine)
            return
        if kind != "readings":
            quarantine("wrong_topic", f"topic kind {kind!r} is not 'readings'", field_="topic")
            return
        fast: ReadingMessage | None = None
        if message.payload[:1] == b"{" and len(message.payload) <= MAX_PAYLOAD_BYTES:
            # Hot path: pydantic-core parses and validates one object straight from bytes.
            # Anything it rejects takes the slow path below, which says exactly what is wrong.
            try:
                fast = ReadingMessage.model_validate_json(message.payload)
            except ValidationError:
                fast = None
        items: list[Any]
        if fast is not None:
            items = [fast]
        else:
            try:
                items = decode_items(message.payload)
            except DecodeError as exc:
                quarantine(exc.code, str(exc), field_=exc.field, project=project, device=device_id)
                return

        is_batch = not (len(items) == 1 and message.payload.lstrip()[:1] == b"{")
        info = self._lookup(project, device_id)
        now_ms = self._clock_ms()
        ack_key = (project, site, device_id)

        for index, item in enumerate(items):
            where = f"[{index}]" if is_batch else "message"
            prefix = f"[{index}]." if is_batch else ""
            try:
                msg = item if fast is not None else validate_item(item, index if is_batch else None)
            except DecodeError as exc:
                seq = item.get("seq") if isinstance(item, dict) else None
                quarantine(
                    exc.code,
                    str(exc),
                    where,
                    exc.field,
                    project,
                    device_id,
                    seq if type(seq) is int and 0 <= seq <= SEQ_MAX else None,
                )
                continue
            out.acks.setdefault(ack_key, set()).add(msg.seq)
            if msg.device != device_id:
                quarantine(
                    "device_mismatch",
                    f"{prefix}device: {msg.device!r} does not match the topic's {device_id!r}",
                    where,
                    f"{prefix}device",
                    project,
                    device_id,
                    msg.seq,
                )
                continue
            if info is None:
                quarantine(
                    "unknown_device",
                    f"device {device_id!r} is not registered in project {project!r}",
                    where,
                    f"{prefix}device",
                    project,
                    device_id,
                    msg.seq,
                )
                continue
            if info.site != site:
                quarantine(
                    "wrong_topic",
                    f"topic site {site!r} is not device {device_id!r}'s site {info.site!r}",
                    where,
                    "topic",
                    project,
                    device_id,
                    msg.seq,
                )
                continue
            time_ms = to_ms(msg.time)
            if not info.accepts(time_ms):
                quarantine(
                    "device_retired",
                    f"device {device_id!r} is retired in project {project!r}",
                    where,
                    f"{prefix}device",
                    project,
                    device_id,
                    msg.seq,
                )
                continue
            if time_ms > now_ms + self._future_tolerance_ms:
                quarantine(
                    "future_time",
                    f"{prefix}time: {msg.time.isoformat()} is "
                    f"{(time_ms - now_ms) / 1000:.0f} s in the future",
                    where,
                    f"{prefix}time",
                    project,
                    device_id,
                    msg.seq,
                )
                continue
            position = index if is_batch else None
            for j, reading in enumerate(msg.readings):
                spec = quantities.get(reading.quantity)
                if spec is None:
                    rfield, ritem = f"{prefix}readings[{j}]", reading_item(position, j)
                    quarantine(
                        "unknown_quantity",
                        f"{rfield}.quantity: {reading.quantity!r} is not in the catalogue",
                        ritem,
                        f"{rfield}.quantity",
                        project,
                        device_id,
                        msg.seq,
                    )
                    continue
                if reading.quantity not in info.quantities:
                    rfield, ritem = f"{prefix}readings[{j}]", reading_item(position, j)
                    quarantine(
                        "unknown_quantity",
                        f"{rfield}.quantity: device {device_id!r} does not measure "
                        f"{reading.quantity!r} in its plan",
                        ritem,
                        f"{rfield}.quantity",
                        project,
                        device_id,
                        msg.seq,
                    )
                    continue
                try:
                    factor = self._factor(reading.unit, spec, info)
                except UnitError as exc:
                    rfield, ritem = f"{prefix}readings[{j}]", reading_item(position, j)
                    quarantine(
                        exc.code,
                        f"{rfield}.unit: {exc} for {reading.quantity}",
                        ritem,
                        f"{rfield}.unit",
                        project,
                        device_id,
                        msg.seq,
                    )
                    continue
                value = factor(reading.value)
                if not spec.in_range(value):
                    rfield, ritem = f"{prefix}readings[{j}]", reading_item(position, j)
                    quarantine(
                        "out_of_range",
                        f"{rfield}.value: {reading.value:g} {reading.unit} = {value:g} "
                        f"{spec.canonical_unit} is outside {reading.quantity}'s plausible range "
                        f"{spec.minimum:g} to {spec.maximum:g} {spec.canonical_unit}",
                        ritem,
                        f"{rfield}.value",
                        project,
                        device_id,
                        msg.seq,
                    )
                    continue
                out.candidates.append(
                    Candidate(
                        ReadingRow(
                            project=project,
                            site=site,
                            device=device_id,
                            seq=msg.seq,
                            quantity=reading.quantity,
                            time_ms=time_ms,
                            value=value,
                            kind=(reading.kind or spec.default_kind).value,
                            interval_s=reading.interval_s,
                            raw_value=reading.value,
                            raw_unit=reading.unit,
                            historical=msg.historical,
                            received_ms=message.received_ms,
                        ),
                        message,
                        position,
                        j,
                    )
                )
