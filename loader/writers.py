"""Writing parsed objects to the warehouse: bounded batches on background connections, each batch's rows,
quarantined events and manifest entries in one transaction, with copies of an event de-duplicated."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors as psycopg_errors
from psycopg.types.json import Jsonb

from loader import enrich, logs
from loader.config import IngestSettings, WarehouseSettings
from loader.contract import parse_instant
from loader.copyrows import BINARY_COPY_HEADER, BINARY_COPY_TRAILER, COPY_EVENTS, row_payload
from loader.parse import DEFAULT_PRIVACY, ParsedObject, parse_object
from loader.rawstore import partition_hour
from loader.warehouse import connect

# The same event in two batches in flight on both writers: the loser waits, then fails; once the winner has
# committed, a retry sees its row and de-duplicates. Anything still conflicting after that fails the run.
_CONFLICTS = (psycopg.IntegrityError, psycopg_errors.DeadlockDetected)
_CONFLICT_RETRIES = 5
# Values the warehouse will not take (data exceptions; JSON nested deeper than its stack allows).
_REFUSED = (psycopg.DataError, psycopg_errors.StatementTooComplex)
_COPY_REJECTED = "copy raw.rejected_events (source_key, position, reason, raw_text, load_id) from stdin"


class Writers:
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
        privacy: IngestSettings = DEFAULT_PRIVACY,
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

    def _run(self, conn: psycopg.Connection[Any]) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is None:
                try:
                    totals = self._write_or_split(conn, batch)
                    with self._lock:
                        self.on_written(totals)
                except BaseException as error:  # surfaced to the main thread on the next submit/close
                    self.error = error

    def _write_or_split(self, conn: psycopg.Connection[Any], batch: list[ParsedObject]) -> dict[str, int]:
        try:
            return self._write_retrying(conn, batch)
        except _REFUSED as batch_error:
            logs.log("batch refused; retrying object by object", level=logging.WARNING, error=str(batch_error))
        totals = dict.fromkeys(("objects", "bytes", "events", "duplicates", "rejected"), 0)
        for parsed in batch:
            for name, value in self._write_alone(conn, parsed).items():
                totals[name] += value
        return totals

    def _write_alone(self, conn: psycopg.Connection[Any], parsed: ParsedObject) -> dict[str, int]:
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
                    "\n".join(row_payload(row).decode() for _, _, row in parsed.rows),
                )
            ]
            return self._write_retrying(conn, [ParsedObject(parsed.obj, [], refused + parsed.rejects)])

    def _write_retrying(self, conn: psycopg.Connection[Any], batch: list[ParsedObject]) -> dict[str, int]:
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

    def _write(self, conn: psycopg.Connection[Any], batch: list[ParsedObject], *, look_up: bool) -> dict[str, int]:
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
            with cur.copy(COPY_EVENTS) as copy:
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
