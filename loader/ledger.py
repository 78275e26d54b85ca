"""The run ledger: a row per run in raw.load_runs, the objects to read again in raw.load_failures, and which
objects raw.load_manifest holds already."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from loader import logs
from loader.rawstore import RawObject

if TYPE_CHECKING:
    from loader.load import LoadSummary


def mark_aborted_runs(conn: psycopg.Connection[Any]) -> None:
    """Runs that died holding no lock: count what their committed batches did."""
    conn.execute(
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


def start_run(conn: psycopg.Connection[Any], trigger: str, params: dict[str, Any]) -> int:
    """A new run, status running: its load_id."""
    row = conn.execute(
        "insert into raw.load_runs (trigger, params) values (%s, %s) returning load_id",
        (trigger, json.dumps(params, default=str)),
    ).fetchone()
    assert row is not None  # insert … returning gives the row
    return int(row[0])


def finish_run(conn: psycopg.Connection[Any], summary: LoadSummary) -> None:
    """The run's status and counts, as ``summary`` has them."""
    with contextlib.suppress(psycopg.Error):  # if the warehouse went away, the next run marks it aborted
        conn.execute(
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
                summary.load_id,
            ),
        )


def record_failure(conn: psycopg.Connection[Any], obj: RawObject, error: str) -> None:
    """An object this run could not read: every later run tries it again until it is loaded."""
    conn.execute(
        "insert into raw.load_failures (source_key, size, etag, last_error) values (%s, %s, %s, %s) "
        "on conflict (source_key) do update set attempts = load_failures.attempts + 1, "
        "last_failed_at = now(), last_error = excluded.last_error, size = excluded.size, "
        "etag = excluded.etag",
        (obj.key, obj.size, obj.etag, error),
    )


def failed_objects(conn: psycopg.Connection[Any]) -> list[RawObject]:
    """The objects earlier runs could not read, in key order."""
    return [
        RawObject(key, size, etag)
        for key, size, etag in conn.execute(
            "select source_key, size, etag from raw.load_failures order by source_key"
        ).fetchall()
    ]


def note_params(conn: psycopg.Connection[Any], load_id: int, params: dict[str, Any]) -> None:
    """Add to the run's params (what discovery did)."""
    conn.execute("update raw.load_runs set params = params || %s where load_id = %s", (json.dumps(params), load_id))


def safety_net_due(conn: psycopg.Connection[Any], every_hours: int) -> bool:
    """Whether no run listed the safety net's days within ``every_hours`` (0: always due)."""
    row = conn.execute(
        "select coalesce(max(started_at) < now() - make_interval(hours => %s), true) from raw.load_runs"
        " where params ->> 'safety_net' = 'true' and status in ('succeeded', 'partial')",
        (every_hours,),
    ).fetchone()
    return every_hours == 0 or bool(row and row[0])


def in_manifest(conn: psycopg.Connection[Any], keys: list[str]) -> set[str]:
    """Which of ``keys`` the manifest holds (loaded, or quarantined whole)."""
    return {
        key
        for (key,) in conn.execute(
            "select source_key from raw.load_manifest where source_key = any(%s)", (keys,)
        ).fetchall()
    }


def newest_partition(conn: psycopg.Connection[Any], prefix: str) -> datetime | None:
    """The newest partition hour loaded under ``prefix``, or None if nothing is."""
    row = conn.execute(  # partitions of this prefix only, and none from a clock in the future
        "select max(partition_hour) from raw.load_manifest "
        "where starts_with(source_key, %s) and partition_hour <= now() + interval '1 hour'",
        (prefix,),
    ).fetchone()
    newest: datetime | None = None if row is None else row[0]
    return newest


def new_objects(conn: psycopg.Connection[Any], listing: Iterable[RawObject]) -> Iterator[RawObject]:
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


def _chunks(items: Iterable[RawObject], size: int) -> Iterator[list[RawObject]]:
    chunk: list[RawObject] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
