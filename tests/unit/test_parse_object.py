"""Parsing one raw object into COPY rows and quarantined pieces (no services)."""

from __future__ import annotations

import json

import pytest

from loader.contract import encode_object
from loader.load import ParsedObject, parse_object
from loader.rawstore import RawObject
from tests.unit.test_contract import BROWSER_EVENT

KEY = "events/2026/11/24/13/events-x.json"


def parse(body: bytes) -> ParsedObject:
    return parse_object(RawObject(KEY, len(body), "etag"), body, load_id=7)


def event(**changes: object) -> dict[str, object]:
    return {**BROWSER_EVENT, "eventId": None, **changes}


@pytest.mark.parametrize(
    "body",
    [
        json.dumps([event(eventName="a"), event(eventName="b")]),
        json.dumps({"events": [event(eventName="a"), event(eventName="b")]}),
        json.dumps(event(eventName="a")) + "\n" + json.dumps(event(eventName="b")) + "\n",
        json.dumps([event(eventName="a")]) + "\n" + json.dumps([event(eventName="b")]),
    ],
)
def test_arrays_batches_and_ndjson_give_one_row_per_event(body: str) -> None:
    parsed = parse(body.encode())
    assert len(parsed.rows) == 2 and parsed.rejects == []
    event_id, received, line = parsed.rows[0]
    columns = line.decode().rstrip("\n").split("\t")
    assert columns[0] == event_id and columns[1] == received == "2026-11-24T13:00:00.000Z", "time from the key's hour"
    assert columns[4:] == [KEY, "7"]
    assert json.loads(columns[3])["_contract"] == {"eventIdDerived": True, "receivedAtFromKey": True}


def test_a_single_event_object_of_the_previous_collector_is_one_row() -> None:
    legacy = {**BROWSER_EVENT, "_ingest": {"receivedAt": "2026-11-24T13:05:00.123Z", "userAgent": "curl/8.5.0"}}
    [(event_id, received, line)] = parse(json.dumps(legacy).encode()).rows
    assert (event_id, received) == (BROWSER_EVENT["eventId"], "2026-11-24T13:05:00.123Z")
    assert json.loads(line.decode().split("\t")[3])["_enriched"]["userAgent"]["isBot"] is True


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "object is empty"),
        (b"\xff\xfe", "object is not UTF-8 text"),
        (b"{not json", "object is not valid JSON"),
        (b"{not json\n{nor this", "object is not valid JSON"),
        (b"[]", "object holds no events"),
    ],
)
def test_an_object_that_is_not_events_is_quarantined_whole(body: bytes, reason: str) -> None:
    parsed = parse(body)
    assert parsed.rows == [] and len(parsed.rejects) == 1
    position, got, _ = parsed.rejects[0]
    assert position is None and got.startswith(reason)


def test_a_bad_event_or_line_is_quarantined_alone_with_its_position() -> None:
    body = json.dumps(event()) + "\n{oops\n" + json.dumps({"eventName": "click"}) + "\n"
    parsed = parse(body.encode())
    assert len(parsed.rows) == 1
    assert [(position, reason.split(":")[0], raw) for position, reason, raw in parsed.rejects] == [
        (1, "line is not valid JSON", "{oops"),
        (2, "clientId", '{"eventName": "click"}'),
    ]


def stamped(event_id: str, **ingest: object) -> dict[str, object]:
    """An event as the collector stores it (contract 1, instants as it writes them)."""
    return {
        **BROWSER_EVENT,
        "eventId": event_id,
        "orderRef": 12345678901234567890123,  # beyond 64 bits: its digits must survive
        "note": 'a "quoted" back\\slash and unicode: bàn phím',
        "_ingest": {
            "receivedAt": "2026-11-24T13:05:00.123Z",
            "eventAt": "2026-11-24T13:04:59.000Z",
            "userAgent": "curl/8.5.0",
            "contract": 1,
            **ingest,
        },
    }


def columns(parsed: ParsedObject) -> list[tuple[object, ...]]:
    """Each row's COPY columns, the payload as JSON (as the warehouse reads it: the last of repeated keys wins)."""
    rows = []
    for _, _, line in parsed.rows:
        event_id, received, event_at, payload, key, load_id = line.decode().rstrip("\n").split("\t")
        rows.append((event_id, received, event_at, json.loads(payload.replace("\\\\", "\\")), key, load_id))
    return rows


EVENT_IDS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]


def test_an_object_as_the_collector_writes_it_keeps_each_events_text_and_gains_its_enrichment() -> None:
    events = [
        json.dumps(stamped(event_id), separators=(",", ":"), ensure_ascii=False).encode() for event_id in EVENT_IDS
    ]
    written = parse(encode_object(events))
    assert written.rejects == [] and [row[0] for row in written.rows] == EVENT_IDS
    compact = parse(b"[" + b",".join(events) + b"]")  # the same events, read the careful way
    assert columns(written) == columns(compact)
    payload = columns(written)[0][3]
    assert isinstance(payload, dict) and payload["orderRef"] == 12345678901234567890123
    assert payload["_enriched"]["userAgent"]["isBot"] is True
    assert b'"orderRef":12345678901234567890123' in written.rows[0][2], "stored as written, not re-encoded"


@pytest.mark.parametrize(
    "second",
    [
        json.dumps({**stamped(EVENT_IDS[1]), "_ingest": {"receivedAt": "2026-11-24T13:05:00.123Z"}}),  # not stamped
        json.dumps(stamped(EVENT_IDS[1], eventAt="2026-02-30T11:55:00.000Z")),  # impossible date
        json.dumps(stamped(EVENT_IDS[1], eventId="NOT-A-UUID")).replace('"eventId": "2', '"eventId":\t"2'),
        json.dumps(stamped(EVENT_IDS[1])) + " ",  # not compact
        json.dumps(stamped(EVENT_IDS[1], userAgent="nul \u0000 in it")),
    ],
    ids=["not-stamped", "impossible-date", "tab", "trailing-space", "nul"],
)
def test_a_collector_object_with_a_line_out_of_shape_is_read_the_careful_way(second: str) -> None:
    events = [json.dumps(stamped(EVENT_IDS[0])).encode(), second.encode()]
    assert columns(parse(encode_object(events))) == columns(parse(b"[" + b",".join(events) + b"]"))
    assert parse(encode_object(events)).rejects == parse(b"[" + b",".join(events) + b"]").rejects


def test_a_collector_object_cut_short_or_with_a_trailing_comma_is_not_taken_whole() -> None:
    body = encode_object([json.dumps(stamped(event_id)).encode() for event_id in EVENT_IDS])
    trailing_comma = parse(body[:-2] + b",\n]")
    assert trailing_comma.rows == [] and trailing_comma.rejects[0][1].startswith("object is not valid JSON")
    cut_short = parse(body[:-2])  # read line by line: the intact last line loads, the others are quarantined
    assert [row[0] for row in cut_short.rows] == EVENT_IDS[1:]
    assert [(position, reason.split(":")[0]) for position, reason, _ in cut_short.rejects] == [
        (0, "line is not valid JSON"),
        (1, "line is not valid JSON"),
    ]
    missing_comma = parse(body.replace(b"},\n{", b"}\n{", 1))  # not one array either: read line by line
    assert [(position, reason.split(":")[0]) for position, reason, _ in missing_comma.rejects] == [
        (0, "line is not valid JSON"),
        (3, "line is not valid JSON"),
    ]
