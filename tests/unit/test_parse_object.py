"""Parsing one raw object into COPY rows and quarantined pieces (no services)."""

from __future__ import annotations

import json
import struct
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from loader.collector_format import encode_object
from loader.contract import CONTRACT_VERSION
from loader.parse import ParsedObject, parse_object
from loader.rawstore import RawObject
from tests.unit.test_contract import BROWSER_EVENT

KEY = "events/2026/11/24/13/events-x.json"


def parse(body: bytes) -> ParsedObject:
    return parse_object(RawObject(KEY, len(body), "etag"), body, load_id=7)


def event(**changes: object) -> dict[str, object]:
    return {**BROWSER_EVENT, "eventId": None, **changes}


def decode_row(row: bytes) -> tuple[object, ...]:
    """A raw.events row in COPY's binary format: (event_id, received_at, event_at, payload as JSON, source_key,
    load_id); the payload as the warehouse reads it (the last of repeated keys wins)."""
    (count,), offset, fields = struct.unpack_from(">h", row), 2, []
    for _ in range(count):
        (size,) = struct.unpack_from(">i", row, offset)
        fields.append(row[offset + 4 : offset + 4 + size])
        offset += 4 + size
    assert offset == len(row), "nothing after the last field"
    event_id, received, event_at, payload, key, load_id = fields
    assert payload[:1] == b"\x01", "jsonb's text format version"

    def instant(value: bytes) -> datetime:
        return datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=struct.unpack(">q", value)[0])

    return (
        str(uuid.UUID(bytes=event_id)),
        instant(received),
        instant(event_at),
        json.loads(payload[1:]),
        key.decode(),
        struct.unpack(">q", load_id)[0],
    )


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
    event_id, received, row = parsed.rows[0]
    columns = decode_row(row)
    assert received == "2026-11-24T13:00:00.000Z", "time from the key's hour"
    assert columns[:2] == (event_id, datetime(2026, 11, 24, 13, tzinfo=UTC))
    assert columns[4:] == (KEY, 7)
    assert columns[3]["_contract"] == {"eventIdDerived": True, "receivedAtFrom": "key"}


def test_a_single_event_object_of_the_previous_collector_is_one_row() -> None:
    legacy = {**BROWSER_EVENT, "_ingest": {"receivedAt": "2026-11-24T13:05:00.123Z", "userAgent": "curl/8.5.0"}}
    [(event_id, received, row)] = parse(json.dumps(legacy).encode()).rows
    assert (event_id, received) == (BROWSER_EVENT["eventId"], "2026-11-24T13:05:00.123Z")
    columns = decode_row(row)
    moment = datetime(2026, 11, 24, 13, 5, 0, 123_000, tzinfo=UTC)
    assert columns[:3] == (event_id, moment, moment), "no eventAt: the time it was received"
    assert columns[3]["_enriched"]["userAgent"]["isBot"] is True


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
    """An event as the collector stores it: its id first, then the tracker's fields, then ``_ingest`` (this
    contract, instants as it writes them)."""
    return {
        "eventId": event_id,
        **{name: value for name, value in BROWSER_EVENT.items() if name != "eventId"},
        "orderRef": 12345678901234567890123,  # beyond 64 bits: its digits must survive
        "note": 'a "quoted" back\\slash and unicode: bàn phím',
        "_ingest": {
            "receivedAt": "2026-11-24T13:05:00.123Z",
            "eventAt": "2026-11-24T13:04:59.000Z",
            "userAgent": "curl/8.5.0",
            "contract": CONTRACT_VERSION,
            **ingest,
        },
    }


def line(value: object) -> bytes:
    """One event's line, encoded as the collector encodes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def columns(parsed: ParsedObject) -> list[tuple[object, ...]]:
    return [decode_row(row) for _, _, row in parsed.rows]


def careful(body: bytes) -> ParsedObject:
    return parse_object(RawObject(KEY, len(body), "etag"), body, load_id=7, careful=True)


EVENT_IDS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]


def test_an_object_as_the_collector_writes_it_keeps_each_events_text_and_gains_its_enrichment() -> None:
    body = encode_object([line(stamped(event_id)) for event_id in EVENT_IDS])
    written = parse(body)
    assert written.body is body, "taken without parsing each event"
    assert written.rejects == [] and [row[0] for row in written.rows] == EVENT_IDS
    assert columns(written) == columns(careful(body))
    payload = columns(written)[0][3]
    assert isinstance(payload, dict) and payload["orderRef"] == 12345678901234567890123
    assert payload["_enriched"]["userAgent"]["isBot"] is True
    assert b'"orderRef":12345678901234567890123' in written.rows[0][2], "stored as written, not re-encoded"


def nested_event_id(event_id: str) -> dict[str, object]:
    value = stamped(event_id)
    value["product"] = {"eventId": EVENT_IDS[0]}
    return value


def ingest_not_last(event_id: str) -> dict[str, object]:
    value = stamped(event_id)
    value["_ingest"] = value.pop("_ingest")
    return {**value, "after": 1}


@pytest.mark.parametrize(
    "second",
    [
        line({**stamped(EVENT_IDS[1]), "_ingest": {"receivedAt": "2026-11-24T13:05:00.123Z"}}),  # not stamped
        line(stamped(EVENT_IDS[1], contract=CONTRACT_VERSION - 1)),
        line(stamped(EVENT_IDS[1], eventAt="2026-02-30T11:55:00.000Z")),  # impossible date
        line(stamped(EVENT_IDS[1], receivedAt="2026-11-24 13:05:00")),
        line(stamped(EVENT_IDS[1], receivedAt="2026-11-24T13:05:0\u0663.123Z")),  # an Arabic-Indic digit
        line(stamped(EVENT_IDS[1])) + b" ",  # not compact
        line(stamped(EVENT_IDS[1]))[:-1] + b"]",  # the event not closed
        line(stamped(EVENT_IDS[1], userAgent="nul \u0000 in it")),
        line(stamped(EVENT_IDS[1], userAgent="escaped \u0001")),
        line({"eventName": "page_view", **stamped(EVENT_IDS[1])}),  # the previous collector: the id not first
        line(stamped("NOT-A-UUID")),
        line(nested_event_id(EVENT_IDS[1])),
        line(ingest_not_last(EVENT_IDS[1])),
        line(stamped(EVENT_IDS[1])).replace(b'"eventId":"2', b'"eventId": "2'),
    ],
    ids=[
        "not-stamped", "other-contract", "impossible-date", "not-an-instant", "non-ascii-digit", "trailing-space", "not-closed", "nul",
        "escape", "id-not-first", "id-not-a-uuid", "another-eventId", "ingest-not-last", "space-after-colon",
    ],
)  # fmt: skip
def test_a_collector_object_with_a_line_out_of_shape_is_read_the_careful_way(second: bytes) -> None:
    assert parse(encode_object([line(stamped(EVENT_IDS[0]))] * 2)).body is not None, "in shape: taken whole"
    body = encode_object([line(stamped(EVENT_IDS[0])), second])
    parsed, expected = parse(body), careful(body)
    assert parsed.body is None
    assert columns(parsed) == columns(expected) and parsed.rejects == expected.rejects


@pytest.mark.parametrize(
    "broken",
    [
        line(stamped(EVENT_IDS[1])).replace(b'"note":"a', b'"note":a', 1),
        line({**stamped(EVENT_IDS[1]), "note": "a\ttab"}).replace(b"\\t", b"\t"),  # a raw tab inside a string
    ],
    ids=["unquoted", "raw-tab"],
)
def test_a_collector_line_that_is_not_json_is_left_to_the_warehouse_and_read_carefully_if_it_refuses(
    broken: bytes,
) -> None:
    body = encode_object([line(stamped(EVENT_IDS[0])), broken])
    assert parse(body).body is body, "the warehouse parses the text; a refusal brings it back here"
    again = careful(body)
    assert [row[0] for row in again.rows] == EVENT_IDS[:1]
    assert [(position, reason.split(":")[0]) for position, reason, _ in again.rejects] == [
        (1, "line is not valid JSON")
    ]


def test_a_collector_object_cut_short_or_with_its_commas_wrong_loads_what_is_intact() -> None:
    body = encode_object([line(stamped(event_id)) for event_id in EVENT_IDS])
    for damaged in (body[:-2] + b",\n]", body.replace(b"},\n{", b"}\n{", 1)):  # a trailing comma, one missing
        parsed = parse(damaged)
        assert [row[0] for row in parsed.rows] == EVENT_IDS and parsed.rejects == []
    cut_short = parse(body[:-2])  # read line by line: the intact last line loads, the others are quarantined
    assert [row[0] for row in cut_short.rows] == EVENT_IDS[1:]
    assert [(position, reason.split(":")[0]) for position, reason, _ in cut_short.rejects] == [
        (0, "line is not valid JSON"),
        (1, "line is not valid JSON"),
    ]


# -- objects the old pipeline wrote -----------------------------------------------------------------------------
def test_an_old_object_without_ingest_takes_its_time_from_the_payload_then_the_store() -> None:
    modified = datetime(2026, 11, 24, 13, 41, 7, tzinfo=UTC)
    body = json.dumps(
        [event(eventName="a", event_timestamp="2026-11-24T20:40:00+07:00"), event(eventName="b")]
    ).encode()
    parsed = parse_object(RawObject(KEY, len(body), "etag", last_modified=modified), body, load_id=7)
    (_, first_at, _), (_, second_at, _) = parsed.rows
    assert (first_at, second_at) == ("2026-11-24T13:40:00.000Z", "2026-11-24T13:41:07.000Z")
    assert [decode_row(row)[3]["_contract"]["receivedAtFrom"] for _, _, row in parsed.rows] == [
        "eventTimestamp",
        "lastModified",
    ]


@pytest.mark.parametrize(
    ("mode", "salt", "expected"),
    [("truncate", None, "113.161.42.0"), ("full", None, "113.161.42.77"), ("hash", "s" * 16, "hashed")],
)
def test_full_addresses_in_old_objects_are_anonymised_as_ingest_does(
    mode: str, salt: str | None, expected: str
) -> None:
    from loader.config import IngestSettings
    from loader.privacy import anonymize_ip

    old = event(eventName="a", _ingest={"receivedAt": "2026-11-24T13:05:00.123Z", "sourceIp": "113.161.42.77"})
    already = event(eventName="b", _ingest={"receivedAt": "2026-11-24T13:05:00.123Z", "sourceIp": "ab" * 16})
    body = json.dumps([old, already]).encode()
    privacy = IngestSettings(ip_mode=mode, ip_salt=salt)  # type: ignore[arg-type]
    parsed = parse_object(RawObject(KEY, len(body), "etag"), body, load_id=7, privacy=privacy)
    addresses = [decode_row(row)[3]["_ingest"]["sourceIp"] for _, _, row in parsed.rows]
    if expected == "hashed":
        expected = str(anonymize_ip("113.161.42.77", "hash", salt))
    assert addresses == [expected, "ab" * 16], "an address anonymised; a stored hash left alone"
