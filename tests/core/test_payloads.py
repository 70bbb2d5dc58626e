"""Standard payloads parsed into records (core.payloads): SenML conformance against the
examples of RFC 8428 section 5.1 (their JSON copied from the RFC), Telegraf's json
serializer and ThingsBoard telemetry as their documentation shows them, and every
malformed record refused with the field named in the payload's own terms."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.payloads import (
    MAX_RECORDS,
    match_field,
    parse,
    parse_senml,
    parse_telegraf,
    parse_thingsboard,
    pint_spelling,
)
from core.units import conversion

NOW_MS = 1_795_672_800_000  # the receive time ("now") in these tests

# --- RFC 8428 section 5.1, verbatim ---------------------------------------------------------

SINGLE_DATAPOINT = """
[
  {"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}
]
"""
MULTIPLE_DATAPOINTS = """
[
  {"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
  {"n":"current","u":"A","v":1.2}
]
"""
MULTIPLE_DATAPOINTS_TIMED = """
[
  {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,
   "bu":"A","bver":5,
   "n":"voltage","u":"V","v":120.1},
  {"n":"current","t":-5,"v":1.2},
  {"n":"current","t":-4,"v":1.3},
  {"n":"current","t":-3,"v":1.4},
  {"n":"current","t":-2,"v":1.5},
  {"n":"current","t":-1,"v":1.6},
  {"n":"current","v":1.7}
]
"""
MULTIPLE_MEASUREMENTS = """
[
  {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,
   "bu":"%RH","v":20},
  {"u":"lon","v":24.30621},
  {"u":"lat","v":60.07965},
  {"t":60,"v":20.3},
  {"u":"lon","t":60,"v":24.30622},
  {"u":"lat","t":60,"v":60.07965},
  {"t":120,"v":20.7},
  {"u":"lon","t":120,"v":24.30623},
  {"u":"lat","t":120,"v":60.07966},
  {"u":"%EL","t":150,"v":98},
  {"t":180,"v":21.2},
  {"u":"lon","t":180,"v":24.30628},
  {"u":"lat","t":180,"v":60.07967}
]
"""
RESOLVED_DATA = """
[
  {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067464e+09,
   "v":20},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067464e+09,
   "v":24.30621},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067464e+09,
   "v":60.07965},
  {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067524e+09,
   "v":20.3},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067524e+09,
   "v":24.30622},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067524e+09,
   "v":60.07965},
  {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067584e+09,
   "v":20.7},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067584e+09,
   "v":24.30623},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067584e+09,
   "v":60.07966},
  {"n":"urn:dev:ow:10e2073a01080063","u":"%EL","t":1.320067614e+09,
   "v":98},
  {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067644e+09,
   "v":21.2},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067644e+09,
   "v":24.30628},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067644e+09,
   "v":60.07967}
]
"""
MULTIPLE_DATA_TYPES = """
[
  {"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
  {"n":"label","vs":"Machine Room"},
  {"n":"open","vb":false},
  {"n":"nfc-reader","vd":"aGkgCg"}
]
"""
COLLECTION_OF_RESOURCES = """
[
  {"bn":"2001:db8::2/","bt":1.320078429e+09,
   "n":"temperature","u":"Cel","v":25.2},
  {"n":"humidity","u":"%RH","v":30},
  {"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},
  {"n":"humidity","u":"%RH","v":67}
]
"""
SETTING_AN_ACTUATOR = """
[
  {"bn":"urn:dev:ow:10e2073a01080063:"},
  {"n":"temp","u":"Cel","v":23.1},
  {"n":"heat","u":"/","v":1},
  {"n":"fan","u":"/","v":0}
]
"""
SYNCHRONIZED_LIGHTS_OFF = """
[
  {"bt":1.320078429e+09,"bu":"/","n":"2001:db8::3","v":0.5},
  {"n":"2001:db8::4","v":0.5},
  {"n":"2001:db8::3","t":0.1,"v":0},
  {"n":"2001:db8::4","t":0.1,"v":0}
]
"""


def resolved(text: str) -> list[tuple[str, str | None, float, int]]:
    records, problems = parse_senml(json.loads(text), NOW_MS)
    assert problems == []
    return [(r.name, r.unit, r.value, r.time_ms) for r in records]


def test_senml_single_datapoint_is_now() -> None:
    assert resolved(SINGLE_DATAPOINT) == [("urn:dev:ow:10e2073a01080063", "Cel", 23.1, NOW_MS)]


def test_senml_multiple_datapoints_join_base_name_and_name() -> None:
    assert resolved(MULTIPLE_DATAPOINTS) == [
        ("urn:dev:ow:10e2073a01080063:voltage", "V", 120.1, NOW_MS),
        ("urn:dev:ow:10e2073a01080063:current", "A", 1.2, NOW_MS),
    ]


def test_senml_base_time_and_relative_times_and_base_unit() -> None:
    """Tue Jun 8 18:01:16.001 UTC 2010, and each second of the 5 before it, in bu A."""
    base = 1_276_020_076_001
    assert resolved(MULTIPLE_DATAPOINTS_TIMED) == [
        ("urn:dev:ow:10e2073a0108006:voltage", "V", 120.1, base),
        *[
            ("urn:dev:ow:10e2073a0108006:current", "A", value, base - back * 1000)
            for back, value in [(5, 1.2), (4, 1.3), (3, 1.4), (2, 1.5), (1, 1.6), (0, 1.7)]
        ],
    ]


def test_senml_multiple_measurements_resolve_to_the_rfcs_resolved_records() -> None:
    assert resolved(MULTIPLE_MEASUREMENTS) == resolved(RESOLVED_DATA)
    assert len(resolved(RESOLVED_DATA)) == 13
    assert resolved(RESOLVED_DATA)[9] == ("urn:dev:ow:10e2073a01080063", "%EL", 98, 1320067614000)


def test_senml_string_boolean_and_data_values_are_no_readings() -> None:
    records, problems = parse_senml(json.loads(MULTIPLE_DATA_TYPES), NOW_MS)
    assert [(r.name, r.value, r.value_field) for r in records] == [
        ("urn:dev:ow:10e2073a01080063:temp", 23.1, "[0].v")
    ]
    assert [(p.field, p.item, p.reason) for p in problems] == [
        ("[1].vs", "[1]", "schema"),
        ("[2].vb", "[2]", "schema"),
        ("[3].vd", "[3]", "schema"),
    ]
    assert "a string value, not a number" in problems[0].detail


def test_senml_collection_of_resources_keeps_base_time_across_base_names() -> None:
    at = 1_320_078_429_000
    assert resolved(COLLECTION_OF_RESOURCES) == [
        ("2001:db8::2/temperature", "Cel", 25.2, at),
        ("2001:db8::2/humidity", "%RH", 30, at),
        ("2001:db8::1/temperature", "Cel", 12.3, at),
        ("2001:db8::1/humidity", "%RH", 67, at),
    ]


def test_senml_record_of_base_fields_alone_is_no_reading() -> None:
    assert resolved(SETTING_AN_ACTUATOR) == [
        ("urn:dev:ow:10e2073a01080063:temp", "Cel", 23.1, NOW_MS),
        ("urn:dev:ow:10e2073a01080063:heat", "/", 1, NOW_MS),
        ("urn:dev:ow:10e2073a01080063:fan", "/", 0, NOW_MS),
    ]


def test_senml_fractional_times_after_an_absolute_base() -> None:
    at = 1_320_078_429_000
    assert [t for *_, t in resolved(SYNCHRONIZED_LIGHTS_OFF)] == [at, at, at + 100, at + 100]
    assert {u for _, u, _, _ in resolved(SYNCHRONIZED_LIGHTS_OFF)} == {"/"}


def test_senml_relative_below_two_to_the_28_absolute_from_it() -> None:
    pack = [{"n": "a", "t": 2**28 - 1, "v": 1}, {"n": "b", "t": 2**28, "v": 2},
            {"n": "c", "bt": -60, "v": 3}, {"n": "d", "t": 10, "v": 4}]  # fmt: skip
    times = [t for *_, t in resolved(json.dumps(pack))]
    assert times == [NOW_MS + (2**28 - 1) * 1000, 2**28 * 1000, NOW_MS - 60_000, NOW_MS - 50_000]


def test_senml_base_value_is_added_to_the_value() -> None:
    pack = [{"bn": "m:", "bv": 1000, "n": "e", "v": 0.5}, {"n": "e", "t": 60, "v": 1.5}]
    values = [v for _, _, v, _ in resolved(json.dumps(pack))]
    assert values == [1000.5, 1001.5]


@pytest.mark.parametrize(
    ("pack", "field", "item"),
    [
        ([{"n": "a", "v": "12"}], "[0].v", "[0]"),
        ([{"n": "a", "v": True}], "[0].v", "[0]"),
        ([{"n": "a"}], "[0].v", "[0]"),
        ([{"n": "a", "s": 10}], "[0].s", "[0]"),
        ([{"n": "a", "v": 1, "vs": "x"}], "[0].vs", "[0]"),
        ([{"n": "a", "v": 1, "t": "now"}], "[0].t", "[0]"),
        ([{"n": 7, "v": 1}], "[0].n", "[0]"),
        ([{"n": "bad name!", "v": 1}], "[0].n", "[0]"),
        ([{"n": "", "v": 1}], "[0].n", "[0]"),
        ([{"n": "-a", "v": 1}], "[0].n", "[0]"),
        ([{"n": "a", "u": 5, "v": 1}], "[0].u", "[0]"),
        ([{"n": "a", "u": "x" * 33, "v": 1}], "[0].u", "[0]"),
        ([{"n": "a", "v": 1, "bver": 11}], "[0].bver", "[0]"),
        ([{"n": "a", "v": 1, "bver": 0}], "[0].bver", "[0]"),
        ([{"n": "a", "v": 1, "bver": 10}, {"n": "b", "v": 1, "bver": 9}], "[1].bver", "[1]"),
        ([{"n": "a", "v": 1, "new_": 1}], "[0].new_", "[0]"),
        ([{"n": "a", "v": 1, "t": 1e308, "bt": 1e308}], "[0].t", "[0]"),
        ([{"n": "a", "v": 1, "t": 4e11}], "[0].t", "[0]"),
        ([{"n": "a", "v": 1e308, "bv": 1e308}], "[0].v", "[0]"),
        ([{}], "[0]", "[0]"),
        ([7], "[0]", "[0]"),
        ([], "message", "message"),
        ({"n": "a", "v": 1}, "message", "message"),
    ],
)
def test_senml_malformed_record_names_its_field(pack: object, field: str, item: str) -> None:
    records, problems = parse_senml(pack, NOW_MS)
    assert item not in [r.item for r in records]
    assert [(p.field, p.item) for p in problems] == [(field, item)], problems
    assert problems[0].detail.startswith(field)


def test_senml_a_broken_base_field_refuses_the_records_that_rely_on_it() -> None:
    pack = [{"bn": "d:", "bt": "yesterday", "n": "a", "v": 1}, {"n": "b", "v": 2},
            {"bt": 1.8e9, "n": "c", "v": 3}, {"bu": 4, "n": "d", "u": "kW", "v": 4},
            {"n": "e", "v": 5}]  # fmt: skip
    records, problems = parse_senml(pack, NOW_MS)
    assert [(p.field, p.item) for p in problems] == [
        ("[0].bt", "[0]"), ("[0].bt", "[1]"), ("[3].bu", "[3]"), ("[3].bu", "[4]")
    ]  # fmt: skip
    assert [r.name for r in records] == ["d:c"]


def test_senml_record_count_is_bounded() -> None:
    records, problems = parse_senml([{"n": "a", "v": 1}] * (MAX_RECORDS + 1), NOW_MS)
    assert records == [] and [p.reason for p in problems] == ["too_large"]


def test_senml_units_read_by_the_registry() -> None:
    assert conversion(pint_spelling("Cel"), "degC").scale == 1.0
    assert conversion(pint_spelling("/"), "1").scale == 1.0
    assert conversion(pint_spelling("%RH"), "1").scale == pytest.approx(0.01)
    assert conversion(pint_spelling("m3/s"), "m**3/hour").scale == pytest.approx(3600)


def test_field_names_match_the_end_of_a_resolved_name() -> None:
    fields = {"power": 1, "energy": 2, "urn:x:energy": 3}
    assert match_field("power", fields) == "power"
    assert match_field("urn:dev:ow:10e2:power", fields) == "power"
    assert match_field("site/meter/power", fields) == "power"
    assert match_field("activepower", fields) is None
    assert match_field("urn:x:energy", fields) == "urn:x:energy"
    assert match_field("a:urn:x:energy", fields) == "urn:x:energy"  # the longest that fits
    assert match_field("voltage", fields) is None


# --- Telegraf json output (its serializer's documentation) ----------------------------------

TELEGRAF_ONE = """
{
    "fields": {
        "field_1": 30,
        "field_2": 4,
        "field_N": 59,
        "n_images": 660
    },
    "name": "docker",
    "tags": {
        "host": "raynor"
    },
    "timestamp": 1458229140
}
"""


def test_telegraf_single_metric() -> None:
    records, problems = parse_telegraf(json.loads(TELEGRAF_ONE))
    assert problems == []
    assert [(r.name, r.value, r.time_ms, r.value_field) for r in records] == [
        ("field_1", 30, 1458229140000, "fields.field_1"),
        ("field_2", 4, 1458229140000, "fields.field_2"),
        ("field_N", 59, 1458229140000, "fields.field_N"),
        ("n_images", 660, 1458229140000, "fields.n_images"),
    ]
    assert {(r.item, r.time_field, r.unit) for r in records} == {("message", "timestamp", None)}


def test_telegraf_batch_and_timestamp_units() -> None:
    one = json.loads(TELEGRAF_ONE)
    batch = {"metrics": [one, {**one, "timestamp": 1458229200}]}
    records, problems = parse_telegraf(batch)
    assert problems == []
    assert [(r.item, r.value_field) for r in records][4] == (
        "metrics[1]",
        "metrics[1].fields.field_1",
    )
    assert records[4].time_ms == 1458229200000 and records[4].time_field == "metrics[1].timestamp"
    for unit, stamp in [
        ("ms", 1458229140123),
        ("us", 1458229140123456),
        ("ns", 1458229140123456789),
    ]:
        got, _ = parse_telegraf({**one, "timestamp": stamp}, unit)
        assert got[0].time_ms == 1458229140123


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"fields": {"p": "on", "q": 1}, "timestamp": 1.8e9}, ["fields.p"]),
        ({"fields": {"p": True}, "timestamp": 1.8e9}, ["fields.p"]),
        ({"fields": {"p": None}, "timestamp": 1.8e9}, ["fields.p"]),
        ({"fields": {}, "timestamp": 1.8e9}, ["fields"]),
        ({"fields": [1], "timestamp": 1.8e9}, ["fields"]),
        ({"fields": {"p": 1}}, ["timestamp"]),
        ({"fields": {"p": 1}, "timestamp": "2026-01-01"}, ["timestamp"]),
        ({"fields": {"p": 1}, "timestamp": -5}, ["timestamp"]),
        ({"metrics": [{"fields": {"p": 1}, "timestamp": 1.8e9}, 3]}, ["metrics[1]"]),
        ({"metrics": [{"fields": {"p": "x"}, "timestamp": 1.8e9}]}, ["metrics[0].fields.p"]),
        ({"metrics": []}, ["metrics"]),
        ({"metrics": {"a": 1}}, ["metrics"]),
        ([1, 2], ["message"]),
    ],
)
def test_telegraf_malformed_names_its_field(payload: object, fields: list[str]) -> None:
    _, problems = parse_telegraf(payload)
    assert [p.field for p in problems] == fields


# --- ThingsBoard telemetry (its device API's documentation) -----------------------------------


def test_thingsboard_values_with_and_without_ts() -> None:
    timed, problems = parse_thingsboard(
        json.loads('{"ts":1451649600512, "values":{"temperature":42, "humidity":73}}'), NOW_MS
    )
    assert problems == []
    assert [(r.name, r.value, r.time_ms, r.value_field, r.time_field) for r in timed] == [
        ("temperature", 42, 1451649600512, "values.temperature", "ts"),
        ("humidity", 73, 1451649600512, "values.humidity", "ts"),
    ]
    now, _ = parse_thingsboard(json.loads('{"temperature":42, "humidity":73}'), NOW_MS)
    assert [(r.name, r.time_ms, r.value_field, r.time_field) for r in now] == [
        ("temperature", NOW_MS, "temperature", None),
        ("humidity", NOW_MS, "humidity", None),
    ]
    arrays, _ = parse_thingsboard(
        json.loads(
            '[{"ts":1451649600512,"values":{"t":1}},{"ts":1451649601512,"values":{"t":2}},{"h":3}]'
        ),
        NOW_MS,
    )
    assert [(r.item, r.value_field, r.time_ms) for r in arrays] == [
        ("[0]", "[0].values.t", 1451649600512),
        ("[1]", "[1].values.t", 1451649601512),
        ("[2]", "[2].h", NOW_MS),
    ]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"ts": 1451649600512, "values": {"t": "42"}}, ["values.t"]),
        ({"ts": "today", "values": {"t": 1}}, ["ts"]),
        ({"ts": 1451649600512}, ["values"]),
        ({"ts": 1451649600512, "values": []}, ["values"]),
        ({"t": False, "h": 1}, ["t"]),
        ([{"ts": 1451649600512, "values": {"t": 1}}, "x"], ["[1]"]),
        ([{"ts": -1, "values": {"t": 1}}], ["[0].ts"]),
        ([], ["message"]),
        ({}, ["message"]),
        ("x", ["message"]),
    ],
)
def test_thingsboard_malformed_names_its_field(payload: object, fields: list[str]) -> None:
    _, problems = parse_thingsboard(payload, NOW_MS)
    assert [p.field for p in problems] == fields


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "n",
                    "bn",
                    "v",
                    "t",
                    "bt",
                    "u",
                    "bu",
                    "bv",
                    "bver",
                    "vs",
                    "x_",
                    "ts",
                    "values",
                    "fields",
                    "timestamp",
                    "metrics",
                    "p",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(data=JSON, fmt=st.sampled_from(["senml", "telegraf", "thingsboard"]))
def test_any_json_gives_records_or_named_problems(data: object, fmt: str) -> None:
    records, problems = parse(fmt, data, NOW_MS, "ms")
    for record in records:
        assert math.isfinite(record.value) and 0 <= record.time_ms <= 253_402_300_799_999
        assert record.value_field and record.item
    for problem in problems:
        assert problem.field and problem.detail.startswith(problem.field), problem
