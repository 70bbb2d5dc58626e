"""Any file given to ``mrv readings import`` either becomes reading messages or is refused
with a TableError naming a line (and, for a cell, its column); nothing else is raised.
Files are drawn near the table (its own header, cells that are almost right) as well as
from any text, in CSV and JSON Lines."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.importer import _messages
from persistence.readings_table import NAMES, TableError, read_csv, read_jsonl

P = "test-proj"

ALMOST = st.sampled_from(
    [
        "",
        " ",
        "em1",
        "s1",
        "energy_export",
        "kWh",
        "1",
        "-1",
        "1.5",
        "1e999",
        "nan",
        "true",
        "False",
        "interval",
        "2026-11-01T00:00:00Z",
        "2026-11-01T00:00:00",
        "2026-02-30T00:00:00Z",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+14:00",
        "99999999999999999999",
        "a/b",
        "é",
        "\x00",
        '"',
        "\r",
        "x" * 300,
    ]
)
CELL = st.one_of(ALMOST, st.text(max_size=12))
HEADER = st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _read_all(text: str, format: str) -> None:
    read = read_csv if format == "csv" else read_jsonl
    try:
        for message in _messages(read(io.StringIO(text), 1000), P):
            assert message.inbound.topic.startswith(f"mrv/v1/{P}/")
            json.loads(message.inbound.payload)
    except TableError as exc:
        assert exc.line >= 1 and str(exc).startswith(f"line {exc.line}")
        # a cell's column, or the header's unknown name (cut short)
        assert exc.column is None or len(exc.column) <= 64


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=HEADER, rows=st.lists(st.lists(CELL, max_size=len(NAMES) + 1), max_size=6))
def test_a_csv_near_the_table_is_read_or_refused_by_line(header, rows) -> None:
    # most rows get as many cells as the header: the cells' own checks are reached
    fitted = [(r + [""] * len(header))[: len(header)] if i % 3 else r for i, r in enumerate(rows)]
    _read_all(_csv_text(header, fitted), "csv")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_as_csv_is_read_or_refused_by_line(text) -> None:
    _read_all(text, "csv")


JSON_CELL = st.one_of(
    CELL,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from([*NAMES, "colour"]), JSON_CELL, max_size=len(NAMES)),
            st.just([]),
            st.text(max_size=20),
        ),
        max_size=6,
    )
)
def test_any_json_lines_are_read_or_refused_by_line(items) -> None:
    lines = [i if isinstance(i, str) else json.dumps(i) for i in items]
    _read_all("\n".join(line.replace("\n", " ") for line in lines) + "\n", "jsonl")
