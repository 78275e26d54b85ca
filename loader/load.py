"""The loader: new raw objects → ``raw.events`` exactly once, bad input quarantined, never dropped.

A run (``Loader.run``) discovers the objects to load and pipes them through parsing to the writers.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg

from loader import enrich, ledger, logs
from loader.config import IngestSettings, LoaderSettings, WarehouseSettings
from loader.notifications import Notified, ObjectQueue
from loader.parse import DEFAULT_PRIVACY, ParsedObject, parse_object
from loader.rawstore import RawObject, RawStore, StoreError, hour_prefix
from loader.runlock import holds_run_lock
from loader.schema import migrate
from loader.writers import Writers

T = TypeVar("T")
MAX_OBJECT_BYTES = 64 * 1024 * 1024  # the collector writes at most ~1 MB per object; bigger ones are quarantined


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
    out_of_time: bool = False  # stopped taking objects at the run's deadline; the next run continues
    notified: int = 0  # objects the notification queue announced (with one configured)
    missed_by_notifications: int = 0  # objects the safety net's listing found that no notification announced
    agents_parsed: int = 0  # new user agents parsed in this run
    agents_unparsed: int = 0  # events stored with an unparsed agent: the run's parsing budget was spent

    @classmethod
    def lock_taken(cls) -> LoadSummary:
        """A run that did not start: another run holds the lock."""
        return cls(status="skipped", message="another run holds the lock; nothing to do")

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


class Loader:
    """Loads the lake into schema ``raw``.

    One run, under the run lock its caller holds (``runlock.run_lock``): migrate ``raw``, discover objects
    (the newest loaded partition minus a lookback, or an explicit range/prefix), skip those already in
    the manifest, GET the rest in parallel threads, parse and enrich them, and write bounded
    batches with ``COPY`` — each batch's rows, quarantined events and manifest entries in one
    transaction, while the next batch is being read.
    """

    def __init__(
        self,
        store: RawStore,
        warehouse: WarehouseSettings,
        settings: LoaderSettings,
        *,
        trigger: str = "cli",
        privacy: IngestSettings = DEFAULT_PRIVACY,
        queue: ObjectQueue | None = None,
    ) -> None:
        self.store = store
        self.queue = queue  # the bucket's object notifications: the scheduled run's discovery
        self.notification_delay = timedelta(minutes=5)  # S3 delivers within seconds; the safety net waits longer
        self._notified = Notified()
        self.privacy = privacy  # CLICKSTREAM_IP_MODE, for addresses in the old pipeline's objects
        self.warehouse = warehouse
        self.settings = settings
        self.trigger = trigger

    # -- discovery --------------------------------------------------------------------------
    def discover(
        self, conn: psycopg.Connection[Any], *, since: datetime | None, until: datetime | None, prefix: str | None
    ) -> tuple[Iterator[RawObject], str]:
        """The listing to load, in key order, and a description of it.

        Objects a previous run could not read come first, whatever their partition.
        """
        base = self.store.prefix
        retries = ledger.failed_objects(conn)
        if self.queue is not None and prefix is None and since is None and until is None:
            listing, description = self._notified_objects(conn)
        elif prefix is not None:
            listing, description = self.store.list(prefix), f"prefix {prefix}"
        else:
            if since is None and until is None:
                newest = ledger.newest_partition(conn, base)
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
            start_after = hour_prefix(base, since) if since else None
            listing = self.store.list(base, start_after)
            if until is not None:  # keys are listed in order: stop at the first one past the range
                stop = hour_prefix(base, until + timedelta(hours=1))
                listing = itertools.takewhile(lambda obj: obj.key < stop, listing)
        if retries:
            description += f", and {len(retries):,} objects earlier runs could not read"
        return _retries_first(retries, listing), description

    def _notified_objects(self, conn: psycopg.Connection[Any]) -> tuple[Iterator[RawObject], str]:
        """The objects the queue announced, in key order; when the safety net is due, then the objects of its
        listing that no notification announced (loaded, and reported: they point at a broken notification)."""
        assert self.queue is not None
        self._notified = notified = self.queue.receive()
        objects = sorted(notified.objects.values(), key=lambda obj: obj.key)
        description = f"{len(objects):,} objects from the notification queue"
        missed: list[RawObject] = []
        if ledger.safety_net_due(conn, self.settings.safety_net_every_hours):
            now = datetime.now(UTC)
            settled = now - self.notification_delay  # younger ones may still have a notification on its way
            listing = self.store.list(self.store.prefix, hour_prefix(self.store.prefix,
                                                                     now - timedelta(days=self.settings.safety_net_days)))  # fmt: skip
            unannounced = (
                obj
                for obj in listing
                if obj.key not in notified.objects and (obj.last_modified is None or obj.last_modified < settled)
            )
            missed = list(ledger.new_objects(conn, unannounced))
            description += f", and the safety net's listing of the last {self.settings.safety_net_days} days"
            notified.safety_net, notified.missed = True, len(missed)
            if missed:
                logs.log("safety net: objects no notification announced; loading them — check the bucket's"
                         " notification and the dead-letter queue", level=logging.WARNING, objects=len(missed),
                         keys=[obj.key for obj in missed[:10]])  # fmt: skip
        return iter([*objects, *missed]), description

    def _forget_notified(self, conn: psycopg.Connection[Any]) -> None:
        """Delete the messages of the objects now in the manifest (loaded or quarantined), and those announcing
        nothing to load; the others come back after the queue's visibility timeout."""
        if self.queue is None:
            return
        notified = self._notified
        in_manifest = ledger.in_manifest(conn, list(notified.receipts))
        self.queue.delete([*notified.done, *(r for key in in_manifest for r in notified.receipts[key])])
        self._notified = Notified()

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
        conn: psycopg.Connection[Any],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        prefix: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        deadline: float | None = None,
    ) -> LoadSummary:
        """Load new objects. ``conn``: an autocommit connection holding the run lock, from ``runlock.run_lock``.
        ``deadline`` (``time.monotonic()``): no object is taken after it (the first batch always is); what was
        taken commits, the run is ``partial``, and the next run continues where it stopped (objects are taken in
        key order, and discovery starts behind the newest loaded partition)."""
        if prefix is not None and (since is not None or until is not None):
            raise ValueError("give either a prefix or a time range (since/until), not both")
        started = time.perf_counter()
        if not holds_run_lock(conn):
            raise ValueError("Loader.run takes a connection holding the run lock: take it with runlock.run_lock()")
        migrate(conn)
        enrich.remember(
            dict(
                conn.execute(
                    "select user_agent, parsed from raw.user_agents where parsed_at > now() - interval '180 days'"
                ).fetchall()
            )
        )
        ledger.mark_aborted_runs(conn)
        load_id = ledger.start_run(conn, self.trigger, {"since": since, "until": until, "prefix": prefix})
        summary = LoadSummary(status="running", load_id=load_id)
        try:
            listing, summary.discovery = self.discover(conn, since=since, until=until, prefix=prefix)
            summary.notified, summary.missed_by_notifications = len(self._notified.objects), self._notified.missed
            if self._notified.safety_net:
                ledger.note_params(conn, load_id, {"safety_net": True})
            tuning = self.settings
            with enrich.parse_budget(
                tuning.ua_parse_seconds, tuning.ua_parse_us_per_event / 1e6, tuning.ua_max_chars
            ) as budget:
                try:
                    self._pipeline(conn, load_id, listing, summary, on_progress, deadline)
                finally:
                    summary.agents_parsed, summary.agents_unparsed = budget.parsed, budget.unparsed
            self._forget_notified(conn)
            summary.status = "partial" if summary.failed_objects or summary.out_of_time else "succeeded"
            if summary.failed_objects:
                summary.message = "some objects could not be read; they are not marked loaded"
            elif summary.out_of_time:
                summary.message = "stopped at the run's time budget with objects left; the next run continues"
            if summary.agents_unparsed:
                logs.log("user-agent parsing budget spent: events stored with their agent unparsed",
                         level=logging.WARNING, events=summary.agents_unparsed, parsed=summary.agents_parsed)  # fmt: skip
        except Exception as error:
            summary.status, summary.message = "failed", f"{type(error).__name__}: {error}"
            raise
        finally:
            summary.seconds = round(time.perf_counter() - started, 2)
            ledger.finish_run(conn, summary)
            logs.log(
                "load",
                level=logging.INFO if summary.status == "succeeded" else logging.WARNING,
                **summary.as_dict(),
            )
        return summary

    def _pipeline(
        self,
        conn: psycopg.Connection[Any],
        load_id: int,
        listing: Iterator[RawObject],
        summary: LoadSummary,
        on_progress: Callable[[int, int], None] | None,
        deadline: float | None,
    ) -> None:
        def written(totals: dict[str, int]) -> None:
            for name in ("objects", "bytes", "events", "duplicates", "rejected"):
                setattr(summary, name, getattr(summary, name) + totals[name])
            if on_progress:
                on_progress(totals["objects"], totals["events"])

        threads = self.settings.threads
        with ThreadPoolExecutor(threads, thread_name_prefix="raw-get") as pool:
            writer = Writers(self.warehouse, self.settings.writers, load_id, written, self.privacy)
            try:
                batch: list[ParsedObject] = []
                batch_bytes = 0
                # Pool threads only GET (I/O); parsing stays on this thread; writer threads COPY.
                submitted = False
                for obj, body in _bounded_map(pool, self._fetch, ledger.new_objects(conn, listing), threads * 2):
                    if submitted and deadline is not None and time.monotonic() >= deadline:
                        summary.out_of_time = True  # this object and the rest: the next run
                        break
                    if isinstance(body, StoreError):
                        summary.failed_objects += 1
                        logs.log("object could not be read; the next run tries again", level=logging.WARNING,
                                 key=obj.key, error=str(body))  # fmt: skip
                        ledger.record_failure(conn, obj, str(body))
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
                        batch, batch_bytes, submitted = [], 0, True
                if batch:
                    writer.submit(batch)
            finally:
                writer.close()
