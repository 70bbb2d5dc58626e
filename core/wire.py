"""The wire contract between devices and the gateway (SPEC section 3).

One module, imported by the gateway, the simulator and the tests. Topics, reading
messages (one object or a backfill array), status messages and the gateway's ack.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    model_validator,
)

from core.errors import first_problem
from core.quantities import Kind
from core.signing import sign_message
from core.times import format_time

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ID_RE = re.compile(ID_PATTERN)
ID_RULE = "an id is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
TOPIC_ROOT = "mrv/v1"
READINGS_FILTER = f"{TOPIC_ROOT}/+/+/+/readings"
STATUS_FILTER = f"{TOPIC_ROOT}/+/+/+/status"
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_READINGS_PER_MESSAGE = 256
MAX_MESSAGES_PER_BATCH = 10_000
SEQ_MAX = 2**63 - 1

Id = Annotated[str, Field(pattern=ID_PATTERN)]


def readings_topic(project: str, site: str, device: str) -> str:
    return f"{TOPIC_ROOT}/{project}/{site}/{device}/readings"


def status_topic(project: str, site: str, device: str) -> str:
    return f"{TOPIC_ROOT}/{project}/{site}/{device}/status"


def ack_topic(project: str, site: str, device: str) -> str:
    return f"{TOPIC_ROOT}/{project}/{site}/{device}/ack"


def shared_filter(group: str) -> str:
    return f"$share/{group}/{READINGS_FILTER}"


class TopicError(ValueError):
    pass


def parse_topic(topic: str) -> tuple[str, str, str, str]:
    """Split ``mrv/v1/{project}/{site}/{device}/{kind}``; raise TopicError if malformed."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != "mrv" or parts[1] != "v1":
        raise TopicError(f"topic {topic!r} is not mrv/v1/{{project}}/{{site}}/{{device}}/...")
    _, _, project, site, device, kind = parts
    for label, value in (("project", project), ("site", site), ("device", device)):
        if not ID_RE.match(value):
            raise TopicError(f"topic {label} {value!r} does not match {ID_PATTERN}")
    return project, site, device, kind


class Reading(BaseModel):
    """One quantity in a reading message."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    quantity: Id
    value: float
    unit: Annotated[str, Field(max_length=32)]
    kind: Kind | None = None
    interval_s: Annotated[float, Field(gt=0, le=31 * 86400)] | None = None

    @model_validator(mode="after")
    def _interval_needs_length(self) -> Reading:
        if self.kind is Kind.INTERVAL and self.interval_s is None:
            raise ValueError("interval_s is required when kind is 'interval'")
        return self


class ReadingMessage(BaseModel):
    """A device's reading message: one sequence number, one time, one or more readings."""

    model_config = ConfigDict(extra="ignore")

    device: Id
    seq: Annotated[StrictInt, Field(ge=0, le=SEQ_MAX)]
    # RFC 3339 with an offset, or epoch seconds (pydantic reads numbers as epoch, UTC)
    time: AwareDatetime
    historical: bool = False
    readings: Annotated[list[Reading], Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)]

    def to_wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True)
        data["time"] = format_time(self.time)
        return data


class StatusMessage(BaseModel):
    """Device birth / last will, published retained on the status topic."""

    model_config = ConfigDict(extra="ignore")

    device: Id
    state: Literal["online", "offline"]
    firmware: str | None = None
    buffered: int | None = None
    time: AwareDatetime | None = None


class AckMessage(BaseModel):
    """Gateway → device: these sequence numbers are durably kept (stored or quarantined)."""

    device: Id
    seq_ranges: list[tuple[int, int]]
    time: AwareDatetime

    def seqs(self) -> set[int]:
        return {s for lo, hi in self.seq_ranges for s in range(lo, hi + 1)}

    @classmethod
    def of(cls, device: str, seqs: set[int] | list[int], time: datetime) -> AckMessage:
        """The ack of ``seqs`` (compressed into ranges) kept for ``device`` at ``time``."""
        return cls(device=device, seq_ranges=seq_ranges(seqs), time=time)

    def encode(self) -> bytes:
        """Compact JSON as devices read it, ``time`` in epoch seconds (SPEC section 3)."""
        return json.dumps(
            {
                "device": self.device,
                "seq_ranges": [list(r) for r in self.seq_ranges],
                "time": self.time.timestamp(),
            },
            separators=(",", ":"),
        ).encode()


def seq_ranges(seqs: set[int] | list[int]) -> list[tuple[int, int]]:
    """Compress sequence numbers into inclusive ranges: {1,2,3,7} -> [(1,3),(7,7)]."""
    ranges: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], s)
        else:
            ranges.append((s, s))
    return ranges


def encode(
    message: ReadingMessage | list[ReadingMessage], key: Ed25519PrivateKey | None = None
) -> bytes:
    """Serialise a message (or a backfill batch) to the exact bytes a device sends; with
    the device's ``key``, each message carries its signature (``core.signing``)."""

    def wire(m: ReadingMessage) -> dict[str, Any]:
        return sign_message(key, m.to_wire()) if key is not None else m.to_wire()

    if isinstance(message, list):
        return json.dumps([wire(m) for m in message], separators=(",", ":")).encode()
    return json.dumps(wire(message), separators=(",", ":")).encode()


class DecodeError(ValueError):
    """A payload that is not a valid message; ``field`` names where, ``code`` says what."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def describe_validation_error(exc: ValidationError, prefix: str = "") -> tuple[str, str]:
    """The first problem of a pydantic error as (field path, human message)."""
    first = first_problem(exc, prefix)
    return first.field, str(first)


def decode_items(payload: bytes) -> list[Any]:
    """Parse a payload into JSON items (one object, or the elements of a backfill array).

    Raises DecodeError for anything that is not UTF-8 JSON of the right outer shape;
    per-item validation is left to :func:`validate_item` so that one broken element of
    a backfill batch does not take its valid neighbours down with it.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(
            "too_large", f"payload is {len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("not_utf8", f"payload is not UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DecodeError("invalid_json", f"payload is not JSON: {exc}") from exc
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            raise DecodeError("schema", "message: the backfill array is empty", "message")
        if len(data) > MAX_MESSAGES_PER_BATCH:
            raise DecodeError(
                "too_large",
                f"backfill array has {len(data)} messages, limit {MAX_MESSAGES_PER_BATCH}",
                "message",
            )
        return data
    raise DecodeError("schema", "message: must be a JSON object or an array of objects", "message")


def validate_item(item: Any, index: int | None = None) -> ReadingMessage:
    prefix = f"[{index}]" if index is not None else ""
    if not isinstance(item, dict):
        raise DecodeError("schema", f"{prefix or 'message'} must be a JSON object", prefix)
    try:
        return ReadingMessage.model_validate(item)
    except ValidationError as exc:
        field, text = describe_validation_error(exc, prefix)
        raise DecodeError("schema", text, field) from exc
