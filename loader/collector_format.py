"""The raw objects our collector writes: the writer (``encode_object``) and the loader's fast reader of them
(``collector_rows``), which trusts an object in that exact shape, stamped under this contract."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

import orjson

from loader import enrich
from loader.contract import CONTRACT_VERSION
from loader.copyrows import copy_row, instant_micros

# A line of a collector object (``collector_rows``) starts with the event's id and ends with its _ingest block.
_COLLECTOR_HEAD = re.compile(rb'\{"eventId":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",')
_INGEST_MEMBER = b',"_ingest":{'


def encode_object(encoded_events: Iterable[bytes]) -> bytes:
    """A raw object as the collector writes it: a JSON array with one encoded event per line. Any JSON reader
    takes it whole; the loader can also split it at the newlines (JSON text never holds a raw one). The
    collector encodes each event with its ``eventId`` first and its ``_ingest`` block last."""
    return b"[\n" + b",\n".join(encoded_events) + b"\n]"


def collector_rows(body: bytes, suffix: bytes) -> list[tuple[str, str, bytes]] | None:
    """The rows of an object as the collector writes it (``encode_object``), or None: read it the careful way.

    Each line is one event, ``{"eventId":"<uuid>",…,"_ingest":{…}}``, stamped with this contract. Only the id
    at its start and the ``_ingest`` block at its end are parsed here; the event's text is stored as written,
    the enrichment appended as its last member (jsonb keeps the last of repeated keys). The warehouse parses
    the text as jsonb and refuses the batch if a line is not valid JSON; the object is then read again the
    careful way (``Writers``). In valid JSON the columns match the payload: with no ``\\u`` escape a key is
    spelled as stored, the id is the first member and no other ``"eventId"`` occurs, and a ``,"_ingest":{…}``
    followed only by the event's closing brace is the event's own last member.
    """
    end = len(body) - 2  # the newline before the closing bracket
    # b"\\" first: one byte is found by memchr, many times faster than a two-byte search
    if not body.startswith(b"[\n") or body[end:] != b"\n]" or end <= 2 or (b"\\" in body and b"\\u" in body):
        return None  # no events, or escapes (a key could be spelled otherwise)
    rows = []
    start = 2
    while start < end:
        stop = body.find(b"\n", start)
        close = stop if stop == end else stop - 1  # every line but the last ends with the array's comma
        if close != stop and body[close] != 0x2C:
            return None
        head = _COLLECTOR_HEAD.match(body, start, close)
        if head is None or body[close - 1] != 0x7D:
            return None
        at = body.rfind(_INGEST_MEMBER, head.end() - 1, close)
        if at < 0:
            return None
        try:
            ingest = orjson.loads(body[at + len(_INGEST_MEMBER) - 1 : close - 1])
        except orjson.JSONDecodeError:
            return None
        if type(ingest) is not dict or (stamped := stamped_instants(ingest)) is None:
            return None
        received, received_us, event_us = stamped
        agent = ingest.get("userAgent")
        payload = body[start : close - 1]  # without the event's closing brace: the enrichment closes it
        event_id = head.group(1).decode()
        enrichment = enrich.enrichment_member(agent if type(agent) is str else None)
        rows.append((event_id, received, copy_row(event_id, received_us, event_us, suffix, payload, enrichment)))
        start = stop + 1
    if body.count(b'"eventId"') != len(rows):  # one per line, in its head: none elsewhere (one scan, not 50)
        return None
    return rows


def stamped_instants(ingest: dict[str, Any]) -> tuple[str, int, int] | None:
    """(received_at as written, received_at and event_at as ``instant_micros``) of an ``_ingest`` block the
    collector wrote under this contract, or None."""
    contract, received = ingest.get("contract"), ingest.get("receivedAt")
    if (
        type(contract) is int
        and contract == CONTRACT_VERSION
        and (received_us := instant_micros(received)) is not None
        and (event_us := instant_micros(ingest.get("eventAt"))) is not None
    ):
        return cast(str, received), received_us, event_us  # a string: instant_micros checked it
    return None
