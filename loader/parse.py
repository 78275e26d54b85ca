"""Parsing one raw object: its events (a JSON array, one event, ``{"events": [...]}`` or NDJSON) under the
contract, enriched, as COPY-ready rows, and whatever cannot be loaded as quarantined pieces."""

from __future__ import annotations

import codecs
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loader import enrich
from loader.collector_format import collector_rows, stamped_instants
from loader.config import IngestSettings
from loader.contract import ContractError, encode_event, iso_utc, loads, normalize_event, parse_instant
from loader.copyrows import copy_row, micros, row_suffix
from loader.privacy import anonymize_stored_ip
from loader.rawstore import RawObject, partition_hour

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
DEFAULT_PRIVACY = IngestSettings()


@dataclass
class ParsedObject:
    """One object, parsed: COPY-ready rows and quarantined pieces."""

    obj: RawObject
    rows: list[tuple[str, str, bytes]] = field(default_factory=list)  # event_id, received_at, COPY row (copy_row)
    rejects: list[tuple[int | None, str, str]] = field(default_factory=list)  # position, reason, raw text
    body: bytes | None = None  # kept when the rows were taken without parsing each event: see collector_rows


def _printable(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _body_text(body: bytes) -> str:
    return _printable(body.decode("utf-8-sig", "replace"))


@dataclass(frozen=True)
class _TimeFallbacks:
    """Where an event without ``_ingest.receivedAt`` gets its time after its payload (``_received_time``)."""

    last_modified: datetime | None
    key_hour: datetime | None


def parse_object(
    obj: RawObject, body: bytes, load_id: int, *, careful: bool = False, privacy: IngestSettings = DEFAULT_PRIVACY
) -> ParsedObject:
    """Parse a JSON array, a single event, ``{"events": [...]}`` or NDJSON; apply the contract; enrich.
    ``careful``: parse every event, even in an object as the collector writes it. ``privacy``: how client
    addresses found in events our collector did not stamp (the old pipeline's) are anonymised.

    Never raises: whatever cannot be loaded is quarantined, so one bad object never blocks later runs.
    """
    try:
        return _parse_object(obj, body, load_id, careful, privacy)
    except Exception as error:  # an input nothing below foresaw: quarantine the object whole
        parsed = ParsedObject(obj)
        reason = f"the loader could not process this object ({type(error).__name__}: {str(error)[:200]})"
        parsed.rejects.append((None, reason, _body_text(body)))
        return parsed


def _parse_object(obj: RawObject, body: bytes, load_id: int, careful: bool, privacy: IngestSettings) -> ParsedObject:
    parsed = ParsedObject(obj)
    suffix = row_suffix(obj.key, load_id)
    if not careful and (rows := collector_rows(body, suffix)) is not None:
        parsed.rows, parsed.body = rows, body
        return parsed
    items = _object_items(body, parsed)
    fallbacks = _TimeFallbacks(obj.last_modified, partition_hour(obj.key))
    derived_ids: Counter[str] = Counter()
    for position, value in items:
        try:
            event_id, received, received_us, event_us, payload = _event_row(value, derived_ids, fallbacks, privacy)
        except ContractError as error:
            parsed.rejects.append((position, str(error), _raw_text(value, body)))
            continue
        except Exception as error:  # as above, for one event
            reason = f"the loader could not process this event ({type(error).__name__}: {str(error)[:200]})"
            parsed.rejects.append((position, reason, _raw_text(value, body)))
            continue
        parsed.rows.append((event_id, received, copy_row(event_id, received_us, event_us, suffix, payload)))
    return parsed


def _object_items(body: bytes, parsed: ParsedObject) -> list[tuple[int, Any]]:
    """The object's events with their positions; an object that holds none is quarantined whole."""
    try:  # the common case: one JSON document, parsed straight from the bytes
        items = _document_items(loads(body.removeprefix(codecs.BOM_UTF8)))
    except (ValueError, RecursionError):
        items = _text_items(body, parsed)
    else:
        if not items:
            parsed.rejects.append((None, "object holds no events", _body_text(body)))
    return items


def _text_items(body: bytes, parsed: ParsedObject) -> list[tuple[int, Any]]:
    """Not one JSON document: NDJSON, or an object quarantined with the reason."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        parsed.rejects.append((None, "object is not UTF-8 text", _body_text(body)))
        return []
    stripped = text.strip()
    if not stripped:
        parsed.rejects.append((None, "object is empty", text))
        return []
    try:
        return _document_items(loads(stripped))  # JSON once Unicode whitespace around it is stripped
    except (ValueError, RecursionError) as error:
        if stripped.startswith("[\n") and stripped.endswith("\n]"):  # the collector's layout with a line broken
            items = _ndjson_items(stripped[2:-2], parsed, separator=",")
        else:
            items = _ndjson_items(stripped, parsed) if "\n" in stripped else []
        if not items:  # not NDJSON either: the object is quarantined whole
            parsed.rejects.clear()
            parsed.rejects.append((None, f"object is not valid JSON: {str(error)[:200]}", _printable(text)))
        return items


def _document_items(document: Any) -> list[tuple[int, Any]]:
    if isinstance(document, list):
        return list(enumerate(document))
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        return list(enumerate(document["events"]))
    return [(0, document)]


def _ndjson_items(text: str, parsed: ParsedObject, separator: str = "") -> list[tuple[int, Any]]:
    """One document per line (``\\n`` only: U+2028 and friends are legal inside JSON strings), each without a
    trailing ``separator``; a bad line is quarantined on its own. Positions are line numbers."""
    items: list[tuple[int, Any]] = []
    for line_number, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            document = loads(line.removesuffix(separator))
        except (ValueError, RecursionError) as error:
            parsed.rejects.append((line_number, f"line is not valid JSON: {str(error)[:200]}", _printable(line)))
            continue
        items.extend((line_number, value) for _, value in _document_items(document))
    return items


def _raw_text(value: Any, body: bytes) -> str:
    try:
        return json.dumps(value, ensure_ascii=True)
    except (ValueError, TypeError, RecursionError):  # e.g. nested too deeply to encode: keep the object's text
        return _body_text(body)


def _received_time(event: dict[str, Any], ingest: dict[str, Any], fallbacks: _TimeFallbacks) -> datetime:
    """When an event not stamped by our collector was received: its ``_ingest.receivedAt``; for an object the
    old pipeline wrote without one, the payload's ``eventTimestamp``, else the store's last-modified time of
    the object, else the start of its key's hour (as the old ETL took it). Flagged in ``_contract.receivedAtFrom``."""
    try:
        return parse_instant("_ingest.receivedAt", ingest.get("receivedAt"))
    except ContractError:
        pass
    source, moment = "eventTimestamp", None
    if event.get("eventTimestamp") is not None:
        moment = parse_instant("eventTimestamp", event["eventTimestamp"])
    elif fallbacks.last_modified is not None:
        source, moment = "lastModified", fallbacks.last_modified
    elif fallbacks.key_hour is not None:
        source, moment = "key", fallbacks.key_hour
    if moment is None:
        raise ContractError(
            "_ingest.receivedAt: missing or invalid; no eventTimestamp, and the key has no hour partition"
        )
    event["_contract"] = {**(event.get("_contract") or {}), "receivedAtFrom": source}
    return moment.astimezone(UTC)


def _event_row(
    value: Any, derived_ids: Counter[str], fallbacks: _TimeFallbacks, privacy: IngestSettings
) -> tuple[str, str, int, int, bytes]:
    """(event_id, received_at as written, received_at and event_at as ``instant_micros``, payload) of one
    event."""
    stamped = _stamped_fields(value)
    if stamped is not None:
        event, ingest = value, value["_ingest"]
        event_id, received, received_us, event_us = stamped
    else:
        event = normalize_event(value, derived_ids=derived_ids)
        event_id = event["eventId"]
        ingest = event.get("_ingest")
        if not isinstance(ingest, dict):  # keep whatever was there, unchanged, inside the block
            ingest = event["_ingest"] = {} if ingest is None else {"original": ingest}
        received_time = _received_time(event, ingest, fallbacks)
        ingest["sourceIp"] = anonymize_stored_ip(ingest.get("sourceIp"), privacy)
        try:
            event_time = parse_instant("_ingest.eventAt", ingest["eventAt"]) if ingest.get("eventAt") else received_time
        except ContractError:
            event_time = received_time
        received, received_us, event_us = iso_utc(received_time), micros(received_time), micros(event_time)
    event["_enriched"] = enrich.enrichment(ingest.get("userAgent"))
    return str(event_id), str(received), received_us, event_us, encode_event(event)


def _stamped_fields(value: Any) -> tuple[str, str, int, int] | None:
    """(event_id, ``stamped_instants``) of an event our collector stored under this contract (so already
    canonical and checked), or None."""
    ingest = value.get("_ingest") if type(value) is dict else None
    if type(ingest) is dict and _is_uuid(event_id := value.get("eventId")) and (stamped := stamped_instants(ingest)):
        return event_id, *stamped
    return None


def _is_uuid(value: Any) -> bool:
    return type(value) is str and _UUID.match(value) is not None
