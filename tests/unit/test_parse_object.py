"""Parsing one raw object into COPY rows and quarantined pieces (no services)."""

from __future__ import annotations

import json

import pytest

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
    columns = line.rstrip("\n").split("\t")
    assert columns[0] == event_id and columns[1] == received == "2026-11-24T13:00:00.000Z", "time from the key's hour"
    assert columns[4:] == [KEY, "7"]
    assert json.loads(columns[3])["_contract"] == {"eventIdDerived": True, "receivedAtFromKey": True}


def test_a_single_event_object_of_the_previous_collector_is_one_row() -> None:
    legacy = {**BROWSER_EVENT, "_ingest": {"receivedAt": "2026-11-24T13:05:00.123Z", "userAgent": "curl/8.5.0"}}
    [(event_id, received, line)] = parse(json.dumps(legacy).encode()).rows
    assert (event_id, received) == (BROWSER_EVENT["eventId"], "2026-11-24T13:05:00.123Z")
    assert json.loads(line.split("\t")[3])["_enriched"]["userAgent"]["isBot"] is True


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
