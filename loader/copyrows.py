"""raw.events rows in COPY's binary format, and the instants in them (PostgreSQL's binary timestamptz)."""

from __future__ import annotations

import functools
import re
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

# raw.events rows go in COPY's binary format: no escaping in Python, no scanning or text parsing of the values
# in the warehouse. A row: its field count, then each field's length and value (``copy_row``).
COPY_EVENTS = (
    "copy raw.events (event_id, received_at, event_at, payload, source_key, load_id) from stdin (format binary)"
)
BINARY_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
BINARY_COPY_TRAILER = b"\xff\xff"
# Field count; event_id (16 bytes); received_at and event_at (microseconds since 2000-01-01 UTC); the payload's
# length and jsonb's format version (1: JSON text follows).
_ROW_HEAD = struct.Struct(">hi16siqiqib")
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
# As iso_utc() writes it; ASCII digits only (int() would read any Unicode digit).
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z\Z", re.ASCII)


def copy_row(
    event_id: str, received_us: int, event_us: int, suffix: bytes, payload: bytes, enrichment: bytes = b""
) -> bytes:
    """One raw.events row in COPY's binary format: the payload is ``payload`` and ``enrichment`` (its last
    member, if not in ``payload``), the instants are microseconds since 2000-01-01 UTC (``instant_micros``),
    ``suffix`` is ``row_suffix``."""
    head = _ROW_HEAD.pack(
        6, 16, bytes.fromhex(event_id.replace("-", "")), 8, received_us, 8, event_us,
        1 + len(payload) + len(enrichment), 1,
    )  # fmt: skip
    return b"".join((head, payload, enrichment, suffix))


def row_suffix(key: str, load_id: int) -> bytes:
    """The last two fields of an object's rows: source_key and load_id."""
    encoded = key.encode()
    return b"".join((struct.pack(">i", len(encoded)), encoded, struct.pack(">iq", 8, load_id)))


def row_payload(row: bytes) -> bytes:
    """The payload's text in a row made by ``copy_row``."""
    return row[_ROW_HEAD.size : _ROW_HEAD.size - 1 + _ROW_HEAD.unpack_from(row)[-2]]


def row_instants(row: bytes) -> tuple[datetime, datetime]:
    """received_at and event_at of a row made by ``copy_row``."""
    fields = _ROW_HEAD.unpack_from(row)
    return _PG_EPOCH + timedelta(microseconds=fields[4]), _PG_EPOCH + timedelta(microseconds=fields[6])


def instant_micros(value: Any) -> int | None:
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
    return micros(start)


def micros(moment: datetime) -> int:
    """``moment`` to the millisecond, as ``iso_utc`` writes it, as ``instant_micros`` reads it."""
    return (moment - _PG_EPOCH) // _MILLISECOND * 1000
