"""From MQTT bytes to canonical reading rows or quarantine items (no I/O).

Each inbound message yields candidate rows (valid readings, in canonical units) and
quarantine items (what was wrong, naming the field). A backfill array is judged element
by element and a message reading by reading, so one bad element never takes its valid
neighbours down with it; the raw payload is kept whole (once per message, however many
of its parts are quarantined), and releasing an entry re-processes the whole payload
(the good parts then count as duplicates).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from core import payloads, quantities
from core.payloads import load_json, looks_like_senml
from core.signing import SIGNATURE_FIELD, message_signed
from core.times import DAY_MS, format_ms, to_ms
from core.units import Affine, UnitError, conversion
from core.windows import EARLIEST
from core.wire import (
    MAX_PAYLOAD_BYTES,
    SEQ_MAX,
    DecodeError,
    Reading,
    ReadingMessage,
    StatusMessage,
    TopicError,
    decode_items,
    describe_validation_error,
    parse_topic,
    validate_item,
)
from persistence.repo import (
    EARLIEST_READING_MS,
    DeviceInfo,
    QuarantineItem,
    StatusItem,
    payload_digest,
)
from persistence.stores.timeseries import ReadingRow


@dataclass(slots=True)
class Inbound:
    """One message as received: from MQTT (mid > 0), the spool, a release or an import."""

    topic: str
    payload: bytes
    received_ms: int
    mid: int = 0
    qos: int = 1
    # MQTT 5's content type, when the publisher set one (a SenML pack may say so).
    content_type: str | None = None
    # MQTT's DUP flag: the broker sent this message before and had no acknowledgement
    dup: bool = False


@dataclass(slots=True)
class Candidate:
    """A valid reading and where it came from (for a conflict's quarantine entry)."""

    row: ReadingRow
    message: Inbound
    index: int | None  # position in a backfill array, None for a single message
    reading: int  # position in the message's readings
    # A standard payload's record and its value, in the payload's own terms ("[0]",
    # "[0].v"); None for the native payload, whose labels are built only when needed.
    label: str | None = None
    value_label: str | None = None

    @property
    def item(self) -> str:
        # Built only when needed (a conflict): labels cost more than the rest of a row.
        return self.label if self.label is not None else reading_item(self.index, self.reading)

    @property
    def value_field(self) -> str:
        return self.value_label if self.value_label is not None else f"{self.item}.value"


def reading_item(index: int | None, reading: int) -> str:
    return f"[{index}].readings[{reading}]" if index is not None else f"readings[{reading}]"


@dataclass(slots=True)
class Decoded:
    candidates: list[Candidate] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    # (project, site, device) -> seqs durably kept once this batch commits
    acks: dict[tuple[str, str, str], set[int]] = field(default_factory=dict)
    statuses: list[StatusItem] = field(default_factory=list)
    # (project, device) of the plan -> receive time (epoch ms) of its newest readings
    # message in the batch: when it was last heard, for its offline state
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    # (packet id, digest) -> receive time of each message whose readings are dated on
    # receipt: kept so that a redelivery is dated the same (persistence.receipts)
    on_receipt: dict[tuple[int, str], int] = field(default_factory=dict)


DeviceLookup = Callable[[str, str], DeviceInfo | None]

#: A reading's (quantity, unit) that passed its device's quantity and unit checks: the
#: quantity's spec, the conversion to its canonical unit and its default kind's value.
Conversion = tuple[quantities.QuantitySpec, Affine, str]
#: Bounds of the decoder's caches (against floods of topics or unit spellings).
_TOPIC_CACHE_MAX = 10_000
_CONVERSIONS_PER_DEVICE_MAX = 64

#: The payload is not parsed yet (None is a JSON value).
_UNPARSED: Any = object()


class Decoder:
    """Turns inbound messages into candidates; caches unit conversions per device."""

    def __init__(self, lookup: DeviceLookup, future_tolerance_ms: int, clock_ms: Callable[[], int]):
        self._lookup = lookup
        self._future_tolerance_ms = future_tolerance_ms
        self._clock_ms = clock_ms
        self._factors: dict[tuple[str, str, DeviceInfo], Affine | UnitError] = {}
        # Per message and per reading the same few topics and (quantity, unit) pairs
        # recur: their checks are done once. Conversions are kept per device with the
        # DeviceInfo they were made for, and dropped when the registry replaces it.
        self._topics: dict[str, tuple[str, str, str, str] | TopicError] = {}
        self._conversions: dict[
            tuple[str, str], tuple[DeviceInfo, dict[tuple[str, str], Conversion]]
        ] = {}

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

    def decode(self, message: Inbound, out: Decoded) -> None:
        """Add the message's valid readings to ``out.candidates``, everything wrong with
        it to ``out.quarantine``, its seqs to ``out.acks`` (kept either way)."""
        parsed = self._parse_topic(message.topic)
        if isinstance(parsed, TopicError):
            problem = _Problem("wrong_topic", str(parsed), "topic")
            out.quarantine.append(_quarantined(message, problem))
            return
        project, site, device_id, kind = parsed
        if kind == "status":
            self._decode_status(message, _Source(project, site, device_id), out)
        elif kind == "readings":
            self._decode_readings(message, _Source(project, site, device_id), out)
        else:
            problem = _Problem("wrong_topic", f"topic kind {kind!r} is not 'readings'", "topic")
            out.quarantine.append(_quarantined(message, problem))

    def _parse_topic(self, topic: str) -> tuple[str, str, str, str] | TopicError:
        """``core.wire.parse_topic``, remembered per topic string (bounded)."""
        parsed = self._topics.get(topic)
        if parsed is None:
            try:
                parsed = parse_topic(topic)
            except TopicError as exc:
                parsed = exc
            if len(self._topics) >= _TOPIC_CACHE_MAX:
                self._topics.clear()
            self._topics[topic] = parsed
        return parsed

    def _conversions_of(self, info: DeviceInfo) -> dict[tuple[str, str], Conversion]:
        """The device's checked (quantity, unit) pairs, fresh for this DeviceInfo."""
        key = (info.project, info.device)
        entry = self._conversions.get(key)
        if entry is None or entry[0] is not info:
            entry = (info, {})
            self._conversions[key] = entry
        return entry[1]

    def _decode_status(self, message: Inbound, source: _Source, out: Decoded) -> None:
        if not message.payload:
            return  # an empty retained message clears the topic: nothing to record
        problem: _Problem | None
        try:
            status = StatusMessage.model_validate_json(message.payload)
        except ValidationError as exc:
            field_, text = describe_validation_error(exc)
            problem = _Problem("schema", text, field_)
        else:
            problem = _status_problem(status, source, self._lookup(source.project, source.device))
        if problem is not None:
            out.quarantine.append(_quarantined(message, problem, source))
            return
        out.statuses.append(
            StatusItem(
                source.project,
                source.site,
                source.device,
                status.state,
                status.firmware,
                status.buffered,
                status.time,
                message.received_ms,
            )
        )

    def _decode_readings(self, message: Inbound, source: _Source, out: Decoded) -> None:
        info = self._lookup(source.project, source.device)
        heard = (source.project, source.device)
        if info is not None and message.received_ms > out.seen.get(heard, 0):
            out.seen[heard] = message.received_ms
        fmt = _format_of(message, info)
        if fmt != "native":
            self._decode_standard(message, source, info, fmt, out)
        else:
            self._decode_native(message, source, info, out)

    def _decode_native(
        self, message: Inbound, source: _Source, info: DeviceInfo | None, out: Decoded
    ) -> None:
        parsed = _parse_items(message.payload)
        if isinstance(parsed, _Problem):
            out.quarantine.append(_quarantined(message, parsed, source))
            return
        items, validated = parsed
        # A validated item came from a payload that starts with "{": a single message.
        is_batch = not validated and not (len(items) == 1 and message.payload.lstrip()[:1] == b"{")
        if is_batch and looks_like_senml(items[0]):
            # SPEC section 3: a SenML pack is also known by its shape (a broker, the spool
            # and a release do not keep the content type).
            self._decode_standard(message, source, info, "senml", out, items)
            return
        now_ms = self._clock_ms()
        ack_key = (source.project, source.site, source.device)
        key = info.signing_key if info is not None else None
        # The signature covers the message as sent: the fast path's parsed model is not it.
        raw = [json.loads(message.payload)] if key is not None and validated else items
        for index, item in enumerate(items):
            at = _Element(index) if is_batch else _WHOLE
            if key is not None:
                unsigned = _signature_problem(raw[index], key, at)
                if unsigned is not None:
                    out.quarantine.append(_quarantined(message, unsigned, source, _seq(item)))
                    continue
            try:
                msg = item if validated else validate_item(item, at.index)
            except DecodeError as exc:
                problem = _Problem(exc.code, str(exc), exc.field, at.where)
                out.quarantine.append(_quarantined(message, problem, source, _seq(item)))
                continue
            out.acks.setdefault(ack_key, set()).add(msg.seq)
            time_ms = to_ms(msg.time)
            refused = self._message_problem(msg, time_ms, now_ms, info, source, at)
            if refused is not None:
                out.quarantine.append(_quarantined(message, refused, source, msg.seq))
                continue
            assert info is not None  # _message_problem refuses an unknown device
            self._add_rows(message, msg, time_ms, info, source, at, out)

    def _add_rows(
        self,
        message: Inbound,
        msg: ReadingMessage,
        time_ms: int,
        info: DeviceInfo,
        source: _Source,
        at: _Element,
        out: Decoded,
    ) -> None:
        """A valid message's readings as candidate rows (canonical units), or each
        reading's problem. The hot path of the gateway: a (quantity, unit) pair already
        checked for this device costs a dict look-up, a multiply and a range check."""
        conversions = self._conversions_of(info)
        candidates, quarantine = out.candidates, out.quarantine
        project, site, device, seq = source.project, source.site, source.device, msg.seq
        historical, received_ms = msg.historical, message.received_ms
        for j, reading in enumerate(msg.readings):
            pair = (reading.quantity, reading.unit)
            conv = conversions.get(pair)
            if conv is None:
                made = self._conversion(reading, j, info, at)
                if isinstance(made, _Problem):
                    quarantine.append(_quarantined(message, made, source, seq))
                    continue
                conv = made
                if len(conversions) >= _CONVERSIONS_PER_DEVICE_MAX:
                    conversions.clear()
                conversions[pair] = conv
            spec, factor, default_kind = conv
            value = factor(reading.value)
            if not spec.in_range(value):
                problem = _range_problem(reading, value, spec, j, at)
                quarantine.append(_quarantined(message, problem, source, seq))
                continue
            kind = reading.kind.value if reading.kind is not None else default_kind
            row = ReadingRow(
                project, site, device, seq, reading.quantity, time_ms, value, kind,
                reading.interval_s, reading.value, reading.unit, historical, received_ms,
            )  # fmt: skip
            candidates.append(Candidate(row, message, at.index, j))

    def _decode_standard(
        self,
        message: Inbound,
        source: _Source,
        info: DeviceInfo | None,
        fmt: str,
        out: Decoded,
        data: object = _UNPARSED,
    ) -> None:
        """A SenML, Telegraf or ThingsBoard payload: each record checked as a native
        reading is, its identity (project, device, time in ms, quantity). No ack: these
        devices do not speak our ack protocol (the broker's PUBACK is theirs)."""
        if data is _UNPARSED:
            try:
                data = load_json(message.payload)
            except DecodeError as exc:
                problem = _Problem(exc.code, str(exc), exc.field)
                out.quarantine.append(_quarantined(message, problem, source))
                return
        refused = _device_problem(source, info)
        if refused is not None:
            out.quarantine.append(_quarantined(message, refused, source))
            return
        assert info is not None  # _device_problem refuses an unknown device
        records, problems = payloads.parse(fmt, data, message.received_ms, info.timestamp_unit)
        if message.mid and any(record.on_receipt for record in records):
            key = (message.mid, payload_digest(message.topic, message.payload))
            out.on_receipt[key] = message.received_ms
        for bad in problems:
            problem = _Problem(bad.reason, bad.detail, bad.field, bad.item)
            out.quarantine.append(_quarantined(message, problem, source))
        now_ms = self._clock_ms()
        for record in records:
            made = self._record_row(record, fmt == "senml", info, message, now_ms)
            if isinstance(made, _Problem):
                out.quarantine.append(_quarantined(message, made, source))
                continue
            candidate = Candidate(made, message, None, 0, record.item, record.value_field)
            out.candidates.append(candidate)

    def _record_row(
        self,
        record: payloads.Record,
        by_suffix: bool,
        info: DeviceInfo,
        message: Inbound,
        now_ms: int,
    ) -> ReadingRow | _Problem:
        """A standard payload's record as a reading row in canonical units, or why not:
        a name that is none of the device's fields, a time outside its life or in the
        future, a unit that does not convert, a value outside the plausible range."""
        name = payloads.match_field(record.name, info.fields) if by_suffix else record.name
        if name not in info.fields:
            known = ", ".join(sorted(info.fields))
            detail = (
                f"{record.name_field}: {payloads.key_label(record.name)!r} is not one of "
                f"device {info.device!r}'s fields ({known})"
            )
            return _Problem("unknown_quantity", detail, record.name_field, record.item)
        quantity, plan_unit = info.fields[name]
        spec = quantities.get(quantity)
        if spec is None or quantity not in info.quantities:
            detail = f"{record.name_field}: device {info.device!r} does not measure {quantity!r}"
            return _Problem("unknown_quantity", detail, record.name_field, record.item)
        refused = self._time_problem(record, info, now_ms)
        if refused is not None:
            return refused
        unit = record.unit if record.unit is not None else (plan_unit or spec.canonical_unit)
        try:
            factor = self._factor(payloads.pint_spelling(unit), spec, info)
        except UnitError as exc:
            where = record.unit_field or record.value_field
            return _Problem(exc.code, f"{where}: {exc} for {quantity}", where, record.item)
        value = factor(record.value)
        if not spec.in_range(value):
            detail = (
                f"{record.value_field}: {record.value:g} {unit} = {value:g} "
                f"{spec.canonical_unit} is outside {quantity}'s plausible range "
                f"{spec.minimum:g} to {spec.maximum:g} {spec.canonical_unit}"
            )
            return _Problem("out_of_range", detail, record.value_field, record.item)
        return ReadingRow(
            project=info.project,
            site=info.site,
            device=info.device,
            seq=record.time_ms,  # no sequence number in these formats: the time is its place
            quantity=quantity,
            time_ms=record.time_ms,
            value=value,
            kind=spec.default_kind.value,
            interval_s=None,
            raw_value=record.value,
            raw_unit=unit,
            historical=False,
            received_ms=message.received_ms,
        )

    def _time_problem(
        self, record: payloads.Record, info: DeviceInfo, now_ms: int
    ) -> _Problem | None:
        """Why a record's time cannot be its device's: before 2000, before installation,
        after removal, a retired device, the future (the native message's checks)."""
        time_ms, item = record.time_ms, record.item
        where = record.time_field or item
        when = format_ms(time_ms)
        installed, removed_end = info.installed_from_ms, info.retired_from_ms
        if time_ms < info.life_from_ms or (removed_end is not None and time_ms >= removed_end):
            if (installed is None or time_ms >= installed) and time_ms < EARLIEST_READING_MS:
                detail = f"{where}: {when} is before {EARLIEST}: the device's clock is not set"
                return _Problem("before_2000", detail, where, item)
            if removed_end is not None and time_ms >= removed_end:
                removed = format_ms(removed_end - DAY_MS)[:10]
                detail = f"{where}: {when} is after device {info.device!r} was removed ({removed})"
                return _Problem("after_removal", detail, where, item)
            day = format_ms(installed or info.life_from_ms)[:10]
            detail = f"{where}: {when} is before device {info.device!r} was installed ({day})"
            return _Problem("before_installation", detail, where, item)
        if not info.accepts(time_ms):
            detail = f"device {info.device!r} is retired in project {info.project!r}"
            return _Problem("device_retired", detail, where, item)
        if time_ms > now_ms + self._future_tolerance_ms:
            ahead = (time_ms - now_ms) / 1000
            return _Problem(
                "future_time", f"{where}: {when} is {ahead:.0f} s in the future", where, item
            )
        return None

    def _message_problem(
        self,
        msg: ReadingMessage,
        time_ms: int,
        now_ms: int,
        info: DeviceInfo | None,
        source: _Source,
        at: _Element,
    ) -> _Problem | None:
        """Why a valid message as a whole cannot be taken from this topic, if it cannot:
        another device's, an unregistered or retired device, the wrong site, the future."""
        device_id, project, prefix = source.device, source.project, at.prefix
        if msg.device != device_id:
            detail = f"{prefix}device: {msg.device!r} does not match the topic's {device_id!r}"
            return _Problem("device_mismatch", detail, f"{prefix}device", at.where)
        if info is None:
            detail = f"device {device_id!r} is not registered in project {project!r}"
            return _Problem("unknown_device", detail, f"{prefix}device", at.where)
        if info.site != source.site:
            detail = f"topic site {source.site!r} is not device {device_id!r}'s site {info.site!r}"
            return _Problem("wrong_topic", detail, "topic", at.where)
        if time_ms < info.life_from_ms or (
            info.retired_from_ms is not None and time_ms >= info.retired_from_ms
        ):
            return _life_problem(msg, time_ms, info, at)
        if not info.accepts(time_ms):
            detail = f"device {device_id!r} is retired in project {project!r}"
            return _Problem("device_retired", detail, f"{prefix}device", at.where)
        if time_ms > now_ms + self._future_tolerance_ms:
            detail = (
                f"{prefix}time: {msg.time.isoformat()} is "
                f"{(time_ms - now_ms) / 1000:.0f} s in the future"
            )
            return _Problem("future_time", detail, f"{prefix}time", at.where)
        return None

    def _conversion(
        self, reading: Reading, j: int, info: DeviceInfo, at: _Element
    ) -> Conversion | _Problem:
        """How a reading's quantity and unit convert for this device, or why they cannot:
        a quantity not in the catalogue or not the device's, a unit that does not
        convert. (The value's range is checked per reading: ``_range_problem``.)"""
        # The field's name is built only for a problem: labels cost more than a row.
        spec = quantities.get(reading.quantity)
        if spec is None:
            detail = f"{reading.quantity!r} is not in the catalogue"
            return _reading_problem("unknown_quantity", at, j, "quantity", detail)
        if reading.quantity not in info.quantities:
            detail = f"device {info.device!r} does not measure {reading.quantity!r} in its plan"
            return _reading_problem("unknown_quantity", at, j, "quantity", detail)
        try:
            factor = self._factor(reading.unit, spec, info)
        except UnitError as exc:
            detail = f"{exc} for {reading.quantity}"
            return _reading_problem(exc.code, at, j, "unit", detail)
        return spec, factor, spec.default_kind.value


def _range_problem(
    reading: Reading, value: float, spec: quantities.QuantitySpec, j: int, at: _Element
) -> _Problem:
    """A reading whose canonical value is outside its quantity's plausible range."""
    detail = (
        f"{reading.value:g} {reading.unit} = {value:g} "
        f"{spec.canonical_unit} is outside {reading.quantity}'s plausible range "
        f"{spec.minimum:g} to {spec.maximum:g} {spec.canonical_unit}"
    )
    return _reading_problem("out_of_range", at, j, "value", detail)


@dataclass(frozen=True, slots=True)
class _Source:
    """Where a message came from, by its topic."""

    project: str
    site: str
    device: str


@dataclass(frozen=True, slots=True)
class _Element:
    """One message of a payload: an element of a backfill array (``index``) or the whole
    payload (None); how its problems are named."""

    index: int | None

    @property
    def where(self) -> str:
        return f"[{self.index}]" if self.index is not None else "message"

    @property
    def prefix(self) -> str:
        return f"[{self.index}]." if self.index is not None else ""


@dataclass(frozen=True, slots=True)
class _Problem:
    """Why (part of) a message is quarantined: reason code, a sentence, the field at fault,
    and which part (``message``, ``[3]``, ``readings[0]``...)."""

    reason: str
    detail: str
    field: str | None
    item: str = "message"


#: The whole payload is one message (not an element of a backfill array).
_WHOLE = _Element(None)


def _quarantined(
    message: Inbound, problem: _Problem, source: _Source | None = None, seq: int | None = None
) -> QuarantineItem:
    return QuarantineItem(
        topic=message.topic,
        payload=message.payload,
        received_ms=message.received_ms,
        reason=problem.reason,
        detail=problem.detail,
        item=problem.item,
        field=problem.field,
        project=source.project if source else None,
        device=source.device if source else None,
        seq=seq,
        content_type=message.content_type,
    )


def _life_problem(msg: ReadingMessage, time_ms: int, info: DeviceInfo, at: _Element) -> _Problem:
    """Why a message's time is outside its device's life: before the device was
    installed, before 2000 (whatever the plan says: a clock that lost its time), after the
    day the device was removed. Dates are UTC days, as the plan's are."""
    installed, removed_end = info.installed_from_ms, info.retired_from_ms
    if (installed is None or time_ms >= installed) and time_ms < EARLIEST_READING_MS:
        detail = (
            f"{at.prefix}time: {msg.time.isoformat()} is before {EARLIEST}: "
            "the device's clock is not set"
        )
        return _Problem("before_2000", detail, f"{at.prefix}time", at.where)
    if removed_end is not None and time_ms >= removed_end:
        detail = (
            f"{at.prefix}time: {msg.time.isoformat()} is after device {info.device!r} was "
            f"removed ({format_ms(removed_end - DAY_MS)[:10]})"
        )
        return _Problem("after_removal", detail, f"{at.prefix}time", at.where)
    detail = (
        f"{at.prefix}time: {msg.time.isoformat()} is before device {info.device!r} was "
        f"installed ({format_ms(installed or info.life_from_ms)[:10]})"
    )
    return _Problem("before_installation", detail, f"{at.prefix}time", at.where)


def _reading_problem(reason: str, at: _Element, j: int, key: str, detail: str) -> _Problem:
    """A problem with the ``key`` of reading ``j``, named as ``[3].readings[0].unit``."""
    field_ = f"{at.prefix}readings[{j}].{key}"
    return _Problem(reason, f"{field_}: {detail}", field_, reading_item(at.index, j))


def _seq(item: object) -> int | None:
    """A message's sequence number if it has a valid one (to ack what is quarantined)."""
    if isinstance(item, ReadingMessage):
        return item.seq
    seq = item.get("seq") if isinstance(item, dict) else None
    return seq if type(seq) is int and 0 <= seq <= SEQ_MAX else None


def _signature_problem(item: object, key: Ed25519PublicKey, at: _Element) -> _Problem | None:
    """Why a message of a device whose messages must be signed is not signed by it."""
    if not isinstance(item, dict):
        return None  # not a message at all: validation says what is wrong with it
    why = message_signed(item, key)
    if why is None:
        return None
    return _Problem(
        "signature", f"{at.prefix}{SIGNATURE_FIELD}: {why}", f"{at.prefix}sig", at.where
    )


def _parse_items(payload: bytes) -> tuple[list[Any], bool] | _Problem:
    """The payload's items, and whether they are validated messages already (the hot path:
    pydantic-core parses and validates one object straight from bytes); anything it
    rejects takes the slow path, which says exactly what is wrong."""
    if payload[:1] == b"{" and len(payload) <= MAX_PAYLOAD_BYTES:
        try:
            return [ReadingMessage.model_validate_json(payload)], True
        except ValidationError:
            pass
    try:
        return decode_items(payload), False
    except DecodeError as exc:
        return _Problem(exc.code, str(exc), exc.field)


def _format_of(message: Inbound, info: DeviceInfo | None) -> str:
    """The payload's format: SenML by its MQTT 5 content type, else the device's plan."""
    if message.content_type is not None:
        media = message.content_type.split(";", 1)[0].strip().lower()
        if media == payloads.SENML_CONTENT_TYPE:
            return "senml"
    return info.payload if info is not None else "native"


def _device_problem(source: _Source, info: DeviceInfo | None) -> _Problem | None:
    """Why a standard payload cannot be taken from this topic: the device is the topic's,
    and it must be registered at the topic's site."""
    if info is None:
        detail = f"device {source.device!r} is not registered in project {source.project!r}"
        return _Problem("unknown_device", detail, "topic")
    if info.site != source.site:
        detail = f"topic site {source.site!r} is not device {source.device!r}'s site {info.site!r}"
        return _Problem("wrong_topic", detail, "topic")
    return None


def _status_problem(
    status: StatusMessage, source: _Source, info: DeviceInfo | None
) -> _Problem | None:
    if status.device != source.device:
        detail = f"device: {status.device!r} does not match the topic's {source.device!r}"
        return _Problem("device_mismatch", detail, "device")
    if info is None or info.site != source.site:
        detail = (
            f"device {source.device!r} at site {source.site!r} is not registered in "
            f"{source.project!r}"
        )
        return _Problem("unknown_device", detail, "device")
    return None
