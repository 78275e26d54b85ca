"""The loader: new raw objects → ``raw.events`` exactly once, bad input quarantined, never dropped.

One run: take the advisory lock (a second run exits saying so), migrate ``raw``, discover objects
(the newest loaded partition minus a lookback, or an explicit range/prefix), skip those already in
the manifest, GET the rest in parallel threads, parse and enrich them, and write bounded
batches with ``COPY`` — each batch's rows, quarantined events and manifest entries in one
transaction, while the next batch is being read.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import itertools
import json
import logging
import queue
import re
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import orjson
import psycopg
from psycopg import errors as psycopg_errors
from psycopg.types.json import Jsonb

from loader import enrich, logs
from loader.config import IngestSettings, LoaderSettings, WarehouseSettings
from loader.contract import (
    CONTRACT_VERSION,
    ContractError,
    encode_event,
    iso_utc,
    loads,
    normalize_event,
    parse_instant,
)
from loader.privacy import anonymize_stored_ip
from loader.rawstore import RawObject, RawStore, StoreError
from loader.schema import migrate
from loader.warehouse import connect

T = TypeVar("T")
LOCK_KEY = 7_233_172_546_110_573  # pg advisory lock shared by every run that writes raw.* or the marts
_PARTITION = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
# As iso_utc() writes it; ASCII digits only (int() would read any Unicode digit).
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z\Z", re.ASCII)
# A line of a collector object (``_collector_rows``) starts with the event's id and ends with its _ingest block.
_COLLECTOR_HEAD = re.compile(rb'\{"eventId":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",')
_INGEST_MEMBER = b',"_ingest":{'
# The same event in two batches in flight on both writers: the loser waits, then fails; once the winner has
# committed, a retry sees its row and de-duplicates. Anything still conflicting after that fails the run.
_CONFLICTS = (psycopg.IntegrityError, psycopg_errors.DeadlockDetected)
_CONFLICT_RETRIES = 5
# Values the warehouse will not take (data exceptions; JSON nested deeper than its stack allows).
_REFUSED = (psycopg.DataError, psycopg_errors.StatementTooComplex)
MAX_OBJECT_BYTES = 64 * 1024 * 1024  # the collector writes at most ~1 MB per object; bigger ones are quarantined
# raw.events rows go in COPY's binary format: no escaping in Python, no scanning or text parsing of the values
# in the warehouse. A row: its field count, then each field's length and value (``_row``).
_COPY_EVENTS = (
    "copy raw.events (event_id, received_at, event_at, payload, source_key, load_id) from stdin (format binary)"
)
BINARY_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
BINARY_COPY_TRAILER = b"\xff\xff"
# Field count; event_id (16 bytes); received_at and event_at (microseconds since 2000-01-01 UTC); the payload's
# length and jsonb's format version (1: JSON text follows).
_ROW_HEAD = struct.Struct(">hi16siqiqib")
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_DEFAULT_PRIVACY = IngestSettings()
_COPY_REJECTED = "copy raw.rejected_events (source_key, position, reason, raw_text, load_id) from stdin"


@dataclass
class LoadSummary:
    """What a run did; printed as one line on the CLI and returned as JSON to Lambda."""

    status: str  # succeeded | partial | failed | skipped
    load_id: int | None = None
    objects: int = 0
    bytes: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed_objects: int = 0
    seconds: float = 0.0
    message: str | None = None
    discovery: str | None = None

    @property
    def events_per_second(self) -> float:
        return round(self.events / self.seconds, 1) if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_second": self.events_per_second}

    def line(self) -> str:
        if self.status == "skipped":
            return f"load skipped: {self.message}"
        text = (
            f"load {self.status}: {self.objects:,} objects, {self.events:,} events, {self.duplicates:,} duplicates, "
            f"{self.rejected:,} rejected in {self.seconds:.1f}s ({self.events_per_second:,.0f} events/s)"
        )
        if self.failed_objects:
            text += f"; {self.failed_objects:,} objects could not be read and will be retried"
        return text + (f" — {self.message}" if self.message else "")


@dataclass
class ParsedObject:
    """One object, parsed: COPY-ready rows and quarantined pieces."""

    obj: RawObject
    rows: list[tuple[str, str, bytes]] = field(default_factory=list)  # event_id, received_at, binary COPY row (_row)
    rejects: list[tuple[int | None, str, str]] = field(default_factory=list)  # position, reason, raw text
    body: bytes | None = None  # kept when the rows were taken without parsing each event: see _collector_rows


def try_run_lock(conn: Any) -> bool:
    """Take the run lock on this (autocommit) connection for its lifetime; False if another run has it."""
    return bool(conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0])


def release_run_lock(conn: Any) -> None:
    """Release the run lock before closing its connection: the server drops a session's locks only when its
    process exits, a moment after the client hangs up, and a run starting in that moment would be skipped."""
    if not conn.closed:
        with contextlib.suppress(psycopg.Error):
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))


@contextlib.contextmanager
def run_lock(warehouse: WarehouseSettings) -> Iterator[tuple[Any, bool]]:
    """An autocommit connection and whether it holds the run lock, for the block."""
    with connect(warehouse, autocommit=True) as conn:
        acquired = try_run_lock(conn)
        try:
            yield conn, acquired
        finally:
            if acquired:
                release_run_lock(conn)


def lock_holder(conn: Any) -> str:
    """Who holds the run lock, and for how long: for the message of a skipped run."""
    row = conn.execute(
        """
        select activity.pid, activity.application_name, activity.client_addr::text,
               extract(epoch from now() - activity.backend_start)::int
        from pg_locks as locks join pg_stat_activity as activity using (pid)
        where locks.locktype = 'advisory' and locks.granted
          and (locks.classid::bigint << 32) | locks.objid::bigint = %s
        """,
        (LOCK_KEY,),
    ).fetchone()
    if row is None:
        return "another run holds the lock"
    pid, application, address, seconds = row
    return (
        f"another run holds the lock (PostgreSQL pid {pid}, {application or 'unknown application'}"
        f"{' from ' + address if address else ''}, connected {seconds // 60} min {seconds % 60} s ago)"
    )


def partition_hour(key: str) -> datetime | None:
    match = _PARTITION.search(key)
    if not match:
        return None
    try:
        year, month, day, hour = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


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
    obj: RawObject, body: bytes, load_id: int, *, careful: bool = False, privacy: IngestSettings = _DEFAULT_PRIVACY
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
    suffix = _row_suffix(obj.key, load_id)
    if not careful and (rows := _collector_rows(body, suffix)) is not None:
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
        parsed.rows.append((event_id, received, _row(event_id, received_us, event_us, suffix, payload)))
    return parsed


def _row(
    event_id: str, received_us: int, event_us: int, suffix: bytes, payload: bytes, enrichment: bytes = b""
) -> bytes:
    """One raw.events row in COPY's binary format: the payload is ``payload`` and ``enrichment`` (its last
    member, if not in ``payload``), the instants are microseconds since 2000-01-01 UTC (``_instant_micros``),
    ``suffix`` is ``_row_suffix``."""
    head = _ROW_HEAD.pack(
        6, 16, bytes.fromhex(event_id.replace("-", "")), 8, received_us, 8, event_us,
        1 + len(payload) + len(enrichment), 1,
    )  # fmt: skip
    return b"".join((head, payload, enrichment, suffix))


def _row_suffix(key: str, load_id: int) -> bytes:
    """The last two fields of an object's rows: source_key and load_id."""
    encoded = key.encode()
    return b"".join((struct.pack(">i", len(encoded)), encoded, struct.pack(">iq", 8, load_id)))


def _row_payload(row: bytes) -> bytes:
    """The payload's text in a row made by ``_row``."""
    return row[_ROW_HEAD.size : _ROW_HEAD.size - 1 + _ROW_HEAD.unpack_from(row)[-2]]


def _instant_micros(value: Any) -> int | None:
    """An instant as ``iso_utc`` writes it (2026-05-04T12:34:56.789Z), and a real one (not 2026-02-30), as
    PostgreSQL's binary timestamptz: microseconds since 2000-01-01 UTC. None if it is not one."""
    if type(value) is not str or _INSTANT.match(value) is None or (minute := _minute_micros(value[:16])) is None:
        return None
    return minute + int(value[17:19] + value[20:23]) * 1000


@functools.lru_cache(maxsize=4096)
def _minute_micros(minute: str) -> int | None:
    try:
        start = datetime.fromisoformat(minute).replace(tzinfo=UTC)
    except ValueError:  # not a real date
        return None
    return _micros(start)


def _micros(moment: datetime) -> int:
    """``moment`` to the millisecond, as ``iso_utc`` writes it, as ``_instant_micros`` reads it."""
    return (moment - _PG_EPOCH) // _MILLISECOND * 1000


def _collector_rows(body: bytes, suffix: bytes) -> list[tuple[str, str, bytes]] | None:
    """The rows of an object as the collector writes it (``encode_object``), or None: read it the careful way.

    Each line is one event, ``{"eventId":"<uuid>",…,"_ingest":{…}}``, stamped with this contract. Only the id
    at its start and the ``_ingest`` block at its end are parsed here; the event's text is stored as written,
    the enrichment appended as its last member (jsonb keeps the last of repeated keys). The warehouse parses
    the text as jsonb and refuses the batch if a line is not valid JSON; the object is then read again the
    careful way (``_Writers``). In valid JSON the columns match the payload: with no ``\\u`` escape a key is
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
        if type(ingest) is not dict or (stamped := _stamped_instants(ingest)) is None:
            return None
        received, received_us, event_us = stamped
        agent = ingest.get("userAgent")
        payload = body[start : close - 1]  # without the event's closing brace: the enrichment closes it
        event_id = head.group(1).decode()
        enrichment = enrich.enrichment_member(agent if type(agent) is str else None)
        rows.append((event_id, received, _row(event_id, received_us, event_us, suffix, payload, enrichment)))
        start = stop + 1
    if body.count(b'"eventId"') != len(rows):  # one per line, in its head: none elsewhere (one scan, not 50)
        return None
    return rows


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
    """(event_id, received_at as written, received_at and event_at as ``_instant_micros``, payload) of one
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
        received, received_us, event_us = iso_utc(received_time), _micros(received_time), _micros(event_time)
    event["_enriched"] = enrich.enrichment(ingest.get("userAgent"))
    return str(event_id), str(received), received_us, event_us, encode_event(event)


def _stamped_fields(value: Any) -> tuple[str, str, int, int] | None:
    """(event_id, ``_stamped_instants``) of an event our collector stored under this contract (so already
    canonical and checked), or None."""
    ingest = value.get("_ingest") if type(value) is dict else None
    if type(ingest) is dict and _is_uuid(event_id := value.get("eventId")) and (stamped := _stamped_instants(ingest)):
        return event_id, *stamped
    return None


def _stamped_instants(ingest: dict[str, Any]) -> tuple[str, int, int] | None:
    """(received_at as written, received_at and event_at as ``_instant_micros``) of an ``_ingest`` block the
    collector wrote under this contract, or None."""
    contract, received = ingest.get("contract"), ingest.get("receivedAt")
    if (
        type(contract) is int
        and contract == CONTRACT_VERSION
        and (received_us := _instant_micros(received)) is not None
        and (event_us := _instant_micros(ingest.get("eventAt"))) is not None
    ):
        return cast(str, received), received_us, event_us  # a string: _instant_micros checked it
    return None


def _is_uuid(value: Any) -> bool:
    return type(value) is str and _UUID.match(value) is not None


class _Writers:
    """Write batches on ``count`` connections in background threads, one transaction per batch.

    Batches commit in any order (dbt's staging reads raw.events by transaction-id window, so that is
    safe). A conflict with the other writer (the same event in two batches in flight) is retried. If the
    warehouse refuses a value (``_REFUSED``), the batch is retried object by object: a refused object is read
    again event by event if its events went unparsed, or else quarantined whole, so one bad object never
    blocks later runs.
    """

    def __init__(
        self,
        settings: WarehouseSettings,
        count: int,
        load_id: int,
        on_written: Callable[[dict[str, int]], None],
        privacy: IngestSettings = _DEFAULT_PRIVACY,
    ) -> None:
        self.load_id = load_id
        self.privacy = privacy
        self.on_written = on_written
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._nothing_stored_last = True  # the last look-up found no stored copies: try the next batch without
        self._queue: queue.Queue[list[ParsedObject] | None] = queue.Queue(maxsize=count)
        self._connections = [connect(settings) for _ in range(count)]
        self._threads = [
            threading.Thread(target=self._run, args=(conn,), name=f"raw-writer-{i}", daemon=True)
            for i, conn in enumerate(self._connections)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, batch: list[ParsedObject]) -> None:
        if self.error:
            raise self.error
        self._queue.put(batch)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        for conn in self._connections:
            conn.close()
        if self.error:
            raise self.error

    def _run(self, conn: Any) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is None:
                try:
                    totals = self._write_or_split(conn, batch)
                    with self._lock:
                        self.on_written(totals)
                except BaseException as error:  # surfaced to the main thread on the next submit/close
                    self.error = error

    def _write_or_split(self, conn: Any, batch: list[ParsedObject]) -> dict[str, int]:
        try:
            return self._write_retrying(conn, batch)
        except _REFUSED as batch_error:
            logs.log("batch refused; retrying object by object", level=logging.WARNING, error=str(batch_error))
        totals = dict.fromkeys(("objects", "bytes", "events", "duplicates", "rejected"), 0)
        for parsed in batch:
            for name, value in self._write_alone(conn, parsed).items():
                totals[name] += value
        return totals

    def _write_alone(self, conn: Any, parsed: ParsedObject) -> dict[str, int]:
        """One object in its own transaction. If the warehouse refuses it, it is read again event by event when
        its events went unparsed (a line may not be JSON), or else quarantined whole."""
        try:
            return self._write_retrying(conn, [parsed])
        except _REFUSED as error:
            if parsed.body is not None:
                return self._write_alone(
                    conn, parse_object(parsed.obj, parsed.body, self.load_id, careful=True, privacy=self.privacy)
                )
            logs.log("object refused by the warehouse; quarantined", level=logging.WARNING, key=parsed.obj.key)
            refused = [
                (
                    None,
                    f"the warehouse refused this object: {str(error).strip()[:300]}",
                    "\n".join(_row_payload(row).decode() for _, _, row in parsed.rows),
                )
            ]
            return self._write_retrying(conn, [ParsedObject(parsed.obj, [], refused + parsed.rejects)])

    def _write_retrying(self, conn: Any, batch: list[ParsedObject]) -> dict[str, int]:
        # Optimistic: after a batch that found nothing stored already, a batch is COPYed without looking its
        # ids up first; if some turn out to be stored (a unique violation), it is written again with the
        # look-up, and so are the next batches until one finds nothing stored.
        optimistic = self._nothing_stored_last
        conflicts = 0
        while True:
            try:
                return self._write(conn, batch, look_up=not optimistic)
            except _CONFLICTS as error:
                if optimistic and isinstance(error, psycopg_errors.UniqueViolation):
                    optimistic = self._nothing_stored_last = False
                    continue
                conflicts += 1
                if conflicts == _CONFLICT_RETRIES:
                    raise
                time.sleep(0.05 * 2 ** (conflicts - 1))  # the other writer's transaction commits meanwhile

    def _write(self, conn: Any, batch: list[ParsedObject], *, look_up: bool) -> dict[str, int]:
        """One transaction. Copies of an event within the batch are de-duplicated here; ``look_up``: against
        the warehouse too (without it, an event stored already fails the COPY with a unique violation)."""
        duplicates = [0] * len(batch)
        replaced: list[tuple[str, str]] = []  # (event_id, key of the object whose stored copy loses)
        # The earliest-received copy of an event id wins, within the batch and against the warehouse. Contested:
        # every id when looking up, otherwise the ids with more than one copy in the batch (few or none).
        contested = None if look_up else _repeated_ids(batch)
        best = _earliest_copies(batch, duplicates, contested)
        with conn.transaction(), conn.cursor() as cur:
            # A commit lost in a crash loses its manifest rows too: the next run loads those objects again.
            cur.execute("set local synchronous_commit = off")
            if look_up and best:
                stored = cur.execute(
                    "select event_id::text, received_at, source_key from raw.events where event_id = any(%s::uuid[])",
                    ("{" + ",".join(best) + "}",),
                ).fetchall()
                self._nothing_stored_last = not stored
                for event_id, stored_received, stored_key in stored:
                    received, index = best[event_id]
                    if parse_instant("receivedAt", received) < stored_received:
                        replaced.append((event_id, stored_key))  # this copy arrived earlier than the stored one
                    else:
                        del best[event_id]
                        duplicates[index] += 1
            if replaced:
                ids = "{" + ",".join(event_id for event_id, _ in replaced) + "}"
                cur.execute("delete from raw.events where event_id = any(%s::uuid[])", (ids,))
                cur.executemany(  # the object whose copy lost now counts it as a duplicate
                    "update raw.load_manifest set events = events - 1, duplicates = duplicates + 1 where source_key = %s",
                    [(key,) for _, key in replaced],
                )
            kept: list[list[bytes]]  # each object's rows that go in
            if contested == set():  # every row goes in
                kept = [[row for _, _, row in parsed.rows] for parsed in batch]
            else:
                kept = [[] for _ in batch]
                for index, parsed in enumerate(batch):
                    for event_id, received, row in parsed.rows:
                        if contested is not None and event_id not in contested:
                            pass  # the only copy
                        elif best.get(event_id) == (received, index):
                            del best[event_id]  # the winning copy, once
                        else:
                            continue
                        kept[index].append(row)
            events = [len(rows) for rows in kept]
            with cur.copy(_COPY_EVENTS) as copy:
                copy.write(BINARY_COPY_HEADER)
                for rows in kept:  # an object at a time: a block psycopg passes on whole, without copying it
                    copy.write(b"".join(rows))
                copy.write(BINARY_COPY_TRAILER)
            new_agents = enrich.take_unsaved()
            if new_agents:
                cur.executemany(
                    "insert into raw.user_agents (user_agent, parsed) values (%s, %s) "
                    "on conflict (user_agent) do update set parsed = excluded.parsed, parsed_at = now()",
                    [(agent, Jsonb(parsed)) for agent, parsed in new_agents],
                )
            rejects = [
                (parsed.obj.key, position, reason, raw, self.load_id)
                for parsed in batch
                for position, reason, raw in parsed.rejects
            ]
            if rejects:
                with cur.copy(_COPY_REJECTED) as copy:
                    for reject in rejects:
                        copy.write_row(reject)
            keys = [p.obj.key for p in batch]
            # An object changed since it was loaded (same key, new content) is loaded again: its counts add up.
            cur.execute(
                """
                insert into raw.load_manifest
                    (source_key, size, etag, partition_hour, load_id, events, duplicates, rejected)
                select * from unnest(
                    %s::text[], %s::bigint[], %s::text[], %s::timestamptz[], %s::bigint[], %s::int[], %s::int[],
                    %s::int[]
                )
                on conflict (source_key) do update set
                    size = excluded.size, etag = excluded.etag, load_id = excluded.load_id,
                    events = load_manifest.events + excluded.events,
                    duplicates = load_manifest.duplicates + excluded.duplicates,
                    rejected = load_manifest.rejected + excluded.rejected, loaded_at = now()
                """,
                (
                    keys,
                    [p.obj.size for p in batch],
                    [p.obj.etag for p in batch],
                    [partition_hour(key) for key in keys],
                    [self.load_id] * len(batch),
                    events,
                    duplicates,
                    [len(p.rejects) for p in batch],
                ),
            )
            cur.execute("delete from raw.load_failures where source_key = any(%s)", (keys,))
        return {  # a replacement adds no event: the run counts it as a duplicate, like the losing object does
            "objects": len(batch),
            "bytes": sum(p.obj.size for p in batch),
            "events": sum(events) - len(replaced),
            "duplicates": sum(duplicates) + len(replaced),
            "rejected": len(rejects),
        }


def _repeated_ids(batch: list[ParsedObject]) -> set[str]:
    ids = [event_id for parsed in batch for event_id, _, _ in parsed.rows]
    if len(set(ids)) == len(ids):
        return set()
    return {event_id for event_id, count in Counter(ids).items() if count > 1}


def _earliest_copies(
    batch: list[ParsedObject], duplicates: list[int], only: set[str] | None
) -> dict[str, tuple[str, int]]:
    """event_id -> (received_at, object index) of its earliest-received copy in the batch, for the ids in
    ``only`` (all if None); the other copies count as duplicates of their objects."""
    best: dict[str, tuple[str, int]] = {}
    if only == set():
        return best
    for index, parsed in enumerate(batch):
        for event_id, received, _ in parsed.rows:
            if only is not None and event_id not in only:
                continue
            current = best.get(event_id)
            if current is None or received < current[0]:
                if current is not None:
                    duplicates[current[1]] += 1
                best[event_id] = (received, index)
            else:
                duplicates[index] += 1
    return best


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[RawObject], T], items: Iterable[RawObject], window: int
) -> Iterator[T]:
    """``pool.map`` that keeps at most ``window`` items in flight (memory stays bounded)."""
    pending: deque[Future[T]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _retries_first(retries: list[RawObject], listing: Iterable[RawObject]) -> Iterator[RawObject]:
    retried = {obj.key for obj in retries}
    yield from retries
    yield from (obj for obj in listing if obj.key not in retried)


def _chunks(items: Iterable[RawObject], size: int) -> Iterator[list[RawObject]]:
    chunk: list[RawObject] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Loader:
    """Loads the lake into schema ``raw``; see the module docstring."""

    def __init__(
        self,
        store: RawStore,
        warehouse: WarehouseSettings,
        settings: LoaderSettings,
        *,
        trigger: str = "cli",
        privacy: IngestSettings = _DEFAULT_PRIVACY,
    ) -> None:
        self.store = store
        self.privacy = privacy  # CLICKSTREAM_IP_MODE, for addresses in the old pipeline's objects
        self.warehouse = warehouse
        self.settings = settings
        self.trigger = trigger

    # -- discovery --------------------------------------------------------------------------
    def discover(
        self, conn: Any, *, since: datetime | None, until: datetime | None, prefix: str | None
    ) -> tuple[Iterator[RawObject], str]:
        """The listing to load, in key order, and a description of it.

        Objects a previous run could not read come first, whatever their partition.
        """
        base = self.store.prefix
        retries = [
            RawObject(key, size, etag)
            for key, size, etag in conn.execute(
                "select source_key, size, etag from raw.load_failures order by source_key"
            ).fetchall()
        ]
        if prefix is not None:
            listing, description = self.store.list(prefix), f"prefix {prefix}"
        else:
            if since is None and until is None:
                newest = conn.execute(  # partitions of this prefix only, and none from a clock in the future
                    "select max(partition_hour) from raw.load_manifest "
                    "where starts_with(source_key, %s) and partition_hour <= now() + interval '1 hour'",
                    (base,),
                ).fetchone()[0]
                if newest is None:
                    description = f"everything under {base} (nothing loaded yet)"
                else:
                    since = newest - timedelta(hours=self.settings.lookback_hours)
                    description = (
                        f"from {since.astimezone(UTC):%Y-%m-%d %H}:00 UTC "
                        f"({self.settings.lookback_hours}h before the newest loaded partition)"
                    )
            else:
                description = f"from {since.astimezone(UTC):%Y-%m-%d %H}:00 UTC" if since else "from the beginning"
                description += f" to {until.astimezone(UTC):%Y-%m-%d %H}:59 UTC" if until else " onwards"
            start_after = f"{base}{since.astimezone(UTC):%Y/%m/%d/%H}/" if since else None
            listing = self.store.list(base, start_after)
            if until is not None:  # keys are listed in order: stop at the first one past the range
                stop = f"{base}{(until.astimezone(UTC) + timedelta(hours=1)):%Y/%m/%d/%H}/"
                listing = itertools.takewhile(lambda obj: obj.key < stop, listing)
        if retries:
            description += f", and {len(retries):,} objects earlier runs could not read"
        return _retries_first(retries, listing), description

    def _new_objects(self, conn: Any, listing: Iterator[RawObject]) -> Iterator[RawObject]:
        """Objects not in the manifest, or changed since they were loaded (same key, other etag or size)."""
        for chunk in _chunks(listing, 1000):
            loaded = {
                key: (size, etag)
                for key, size, etag in conn.execute(
                    "select source_key, size, etag from raw.load_manifest where source_key = any(%s)",
                    ([o.key for o in chunk],),
                )
            }
            for obj in chunk:
                if obj.key not in loaded:
                    yield obj
                elif loaded[obj.key] != (obj.size, obj.etag):
                    logs.log("object changed since it was loaded; loading it again", level=logging.WARNING,
                             key=obj.key, loaded=loaded[obj.key], now=(obj.size, obj.etag))  # fmt: skip
                    yield obj

    def _fetch(self, obj: RawObject) -> tuple[RawObject, bytes | ParsedObject | StoreError]:
        """GET one object (in a pool thread): its body, a quarantined object if too big, or the error."""
        if obj.size > MAX_OBJECT_BYTES:
            reason = f"object is {obj.size:,} bytes, over the {MAX_OBJECT_BYTES:,}-byte limit; it stays in the lake"
            return obj, ParsedObject(obj, rejects=[(None, reason, "")])
        try:
            return obj, self.store.get(obj.key)
        except StoreError as error:
            return obj, error

    # -- a run ------------------------------------------------------------------------------
    def run(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        prefix: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        locked_connection: Any = None,
    ) -> LoadSummary:
        """Load new objects. ``locked_connection``: an autocommit connection already holding the run lock."""
        if prefix is not None and (since is not None or until is not None):
            raise ValueError("give either a prefix or a time range (since/until), not both")
        started = time.perf_counter()
        lock_conn = locked_connection or connect(self.warehouse, autocommit=True)
        acquired = False
        try:
            if locked_connection is None:
                acquired = try_run_lock(lock_conn)
                if not acquired:
                    return LoadSummary(status="skipped", message="another run holds the lock; nothing to do")
            migrate(lock_conn)
            enrich.remember(
                dict(
                    lock_conn.execute(
                        "select user_agent, parsed from raw.user_agents where parsed_at > now() - interval '180 days'"
                    ).fetchall()
                )
            )
            lock_conn.execute(  # runs that died holding no lock: count what their committed batches did
                """
                update raw.load_runs as runs set status = 'aborted', finished_at = now(),
                    objects = done.objects, bytes = done.bytes, events = done.events,
                    duplicates = done.duplicates, rejected = done.rejected,
                    error = 'the run stopped before finishing (killed or lost its connection); open batches were rolled back'
                from (
                    select runs.load_id, count(manifest.source_key) as objects, coalesce(sum(manifest.size), 0) as bytes,
                        coalesce(sum(manifest.events), 0) as events, coalesce(sum(manifest.duplicates), 0) as duplicates,
                        coalesce(sum(manifest.rejected), 0) as rejected
                    from raw.load_runs as runs left join raw.load_manifest as manifest using (load_id)
                    where runs.status = 'running' group by runs.load_id
                ) as done
                where runs.load_id = done.load_id
                """
            )
            params = {"since": since, "until": until, "prefix": prefix}
            load_id = lock_conn.execute(
                "insert into raw.load_runs (trigger, params) values (%s, %s) returning load_id",
                (self.trigger, json.dumps(params, default=str)),
            ).fetchone()[0]
            summary = LoadSummary(status="running", load_id=load_id)
            try:
                listing, summary.discovery = self.discover(lock_conn, since=since, until=until, prefix=prefix)
                self._pipeline(lock_conn, load_id, listing, summary, on_progress)
                summary.status = "partial" if summary.failed_objects else "succeeded"
                if summary.failed_objects:
                    summary.message = "some objects could not be read; they are not marked loaded"
            except Exception as error:
                summary.status, summary.message = "failed", f"{type(error).__name__}: {error}"
                raise
            finally:
                summary.seconds = round(time.perf_counter() - started, 2)
                with contextlib.suppress(psycopg.Error):  # if the warehouse went away, the next run marks it aborted
                    lock_conn.execute(
                        "update raw.load_runs set status = %s, finished_at = now(), objects = %s, bytes = %s, events = %s, "
                        "duplicates = %s, rejected = %s, failed_objects = %s, error = %s where load_id = %s",
                        (
                            summary.status,
                            summary.objects,
                            summary.bytes,
                            summary.events,
                            summary.duplicates,
                            summary.rejected,
                            summary.failed_objects,
                            summary.message,
                            load_id,
                        ),
                    )
                logs.log(
                    "load",
                    level=logging.INFO if summary.status == "succeeded" else logging.WARNING,
                    **summary.as_dict(),
                )
            return summary
        finally:
            if locked_connection is None:
                if acquired:
                    release_run_lock(lock_conn)
                lock_conn.close()

    def _pipeline(
        self,
        lock_conn: Any,
        load_id: int,
        listing: Iterator[RawObject],
        summary: LoadSummary,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        def written(totals: dict[str, int]) -> None:
            for name in ("objects", "bytes", "events", "duplicates", "rejected"):
                setattr(summary, name, getattr(summary, name) + totals[name])
            if on_progress:
                on_progress(totals["objects"], totals["events"])

        threads = self.settings.threads
        with ThreadPoolExecutor(threads, thread_name_prefix="raw-get") as pool:
            writer = _Writers(self.warehouse, self.settings.writers, load_id, written, self.privacy)
            try:
                batch: list[ParsedObject] = []
                batch_bytes = 0
                # Pool threads only GET (I/O); parsing stays on this thread; writer threads COPY.
                for obj, body in _bounded_map(pool, self._fetch, self._new_objects(lock_conn, listing), threads * 2):
                    if isinstance(body, StoreError):
                        summary.failed_objects += 1
                        logs.log("object could not be read; the next run tries again", level=logging.WARNING,
                                 key=obj.key, error=str(body))  # fmt: skip
                        lock_conn.execute(
                            "insert into raw.load_failures (source_key, size, etag, last_error) values (%s, %s, %s, %s) "
                            "on conflict (source_key) do update set attempts = load_failures.attempts + 1, "
                            "last_failed_at = now(), last_error = excluded.last_error, size = excluded.size, "
                            "etag = excluded.etag",
                            (obj.key, obj.size, obj.etag, str(body)),
                        )
                        continue
                    parsed = (
                        body
                        if isinstance(body, ParsedObject)
                        else parse_object(obj, body, load_id, privacy=self.privacy)
                    )
                    batch.append(parsed)
                    batch_bytes += parsed.obj.size
                    if len(batch) >= self.settings.batch_objects or batch_bytes >= self.settings.batch_bytes:
                        writer.submit(batch)
                        batch, batch_bytes = [], 0
                if batch:
                    writer.submit(batch)
            finally:
                writer.close()
