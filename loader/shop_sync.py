"""The shop database → schema ``raw_shop``: one sync per ETL run, under the run lock, before dbt.

Our own code rather than dlt's ``sql_database``: measured on this shop, dlt added ~40 MiB to the Lambda zip and 2 s
of cold import, cannot see deletes under a cursor, snake_cases names its own way, and its merge took 28-40 s for 600
orders; a binary-COPY prototype of this module loaded 1.2M rows in 7 s in 35 MB.

A sync reads the shop in ONE ``REPEATABLE READ, READ ONLY`` transaction (one snapshot, so orders and their items
agree; SELECT is the only privilege it needs) and writes the warehouse in ONE transaction (rows, deletes, watermarks
and the run's success): a failure or a kill leaves raw_shop as it was, and a retry never duplicates (rows are upserted
by id). Each table's columns are checked in the shop's information_schema first, then read cast to raw_shop's types
with ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)``, piped block by block into a temporary stage in the warehouse:
memory stays bounded and no row becomes a Python object; set-based SQL takes it from the stage.

- ``updated_at`` tables: rows whose "updatedAt" is at or after the watermark minus the overlap (all rows on a first or
  full sync) are upserted; unchanged re-reads are neither rewritten nor counted. Then the key sets are compared per
  bucket of a 64-bit hash of the id (a count and a sum of the hash, on both sides) and only the differing buckets'
  ids are streamed: warehouse rows the shop no longer has are marked deleted (``_deleted_at``: nothing accepted is ever
  removed), shop rows the warehouse lacks (committed behind the overlap) are read again ("repaired").
- ``whole`` tables: every row, every run; rows not read are marked deleted.
- ``with_parent`` tables (order items): read with every order read, joined in the same SELECT; the items those orders
  no longer have and the items of deleted orders are marked deleted; then the same key comparison, as a safety net.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from loader import logs
from loader.config import ConfigError, ShopDatabaseSettings
from loader.runlock import holds_run_lock
from loader.schema import migrate
from loader.shop_schema import SHOP_TABLES, Table
from loader.warehouse import ShopDatabaseError, connect_shop, resolve_shop

COUNTS = ("read", "inserted", "updated", "deleted", "repaired")
REPAIR_BATCH = 10_000  # ids of missing rows asked for per SELECT (the shop is read-only: no temporary table there)
TRUE = sql.SQL("true")

_ABORT = """
    update raw_shop.sync_runs set status = 'aborted', finished_at = coalesce(finished_at, now()),
        error = 'the sync stopped before finishing (killed or lost its connection); nothing of it was applied'
    where status = 'running'
"""
# Per bucket of the key's 64-bit hash (its low byte): the number of keys and the sum of the hash's other 56 bits.
# hashtextextended is PostgreSQL's hash of hash partitioning, kept the same across major versions (pg_upgrade keeps
# hash-partitioned tables), so the shop's server and the warehouse agree; ~5x cheaper than md5. Were they ever to
# disagree, every bucket would differ and the ids be compared one by one: slower, still exact.
_BUCKET_SUMS = """
    select h & 255, count(*), sum(h >> 8)
    from (select hashtextextended({key}, 0) as h from {relation} {where}) as keys group by 1
"""
_UPSERT = """
    with written as (
        insert into raw_shop.{table} as t ({columns}, _sync_id)
        select {columns}, {sync_id} from pg_temp.{stage} order by id  -- in key order: the index pages in turn
        on conflict (id) do update set {assignments}, _sync_id = excluded._sync_id, _synced_at = now(),
            _deleted_at = null
        where ({old}, t._deleted_at) is distinct from ({new}, null::timestamptz)
        returning xmax = 0 as inserted
    )
    select count(*) filter (where inserted), count(*) filter (where not inserted) from written
"""
# A first load into an empty table: nothing to compare with, so a plain insert (no conflict check, nothing returned).
_INSERT = """
    insert into raw_shop.{table} ({columns}, _sync_id)
    select {columns}, {sync_id} from pg_temp.{stage} order by id
"""
_MARK_DELETED = """
    with gone as (
        update raw_shop.{table} as t set _deleted_at = now(), _synced_at = now(), _sync_id = {sync_id}
        where t._deleted_at is null and {condition}
        returning t.id
    )
    insert into pg_temp.shop_gone (table_name, id) select {name}, id from gone
"""
_SAVE_STATE = """
    insert into raw_shop.sync_state as state (table_name, watermark, last_sync_id) values ({name}, {watermark}, {sync_id})
    on conflict (table_name) do update set watermark = greatest(state.watermark, excluded.watermark),
        last_sync_id = excluded.last_sync_id, updated_at = now()
"""
# The greatest "updatedAt" read, but never past the shop's own clock: a row stamped in the future by a fast app
# server must not make later syncs skip what is written meanwhile.
_WATERMARK = """(
    select case when max(updated_at) > {now} then {now} else max(updated_at) end
    from (select updated_at from pg_temp.{stage} union all select updated_at from pg_temp.{repair}) as read
)"""


class ShopSyncError(RuntimeError):
    """A shop-side problem; the message says what was wrong, where, and what to check."""


@dataclass
class ShopSyncSummary:
    """What a sync did; one line on the CLI, JSON in the ETL's summary."""

    status: Literal["succeeded", "failed", "skipped"]
    sync_id: int | None = None
    seconds: float = 0.0
    tables: dict[str, dict[str, int]] = field(default_factory=dict)  # raw_shop table -> {"read", "inserted", ...}
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.status == "skipped":
            return f"shop sync skipped: {self.message}"
        text = f"shop sync {self.status} in {self.seconds:.1f}s"
        if self.status == "failed":
            return f"{text}: {self.message}"
        labels = {"inserted": "new", "updated": "updated", "deleted": "deleted", "repaired": "repaired"}
        parts = []
        for name, counts in self.tables.items():
            changes = ", ".join(f"{counts[key]:,} {label}" for key, label in labels.items() if counts.get(key))
            parts.append(f"{name} {counts.get('read', 0):,} read" + (f" ({changes})" if changes else ""))
        return f"{text}: {', '.join(parts)}" + (f" — {self.message}" if self.message else "")


def sync_shop(
    shop: ShopDatabaseSettings, conn: psycopg.Connection[Any], *, trigger: str = "cli", full: bool = False
) -> ShopSyncSummary:
    """Copy the shop database into raw_shop. ``conn``: the warehouse's autocommit connection holding the run lock
    (``runlock.run_lock``). Shop-side problems never raise: they return status "failed", recorded in
    raw_shop.sync_runs, with raw_shop left as it was. ``full``: read every row again (and mark the rest deleted);
    also when the last full sync is older than ``shop.full_every_hours``."""
    started = time.perf_counter()
    if not holds_run_lock(conn):
        raise ValueError("sync_shop takes a connection holding the run lock: take it with runlock.run_lock()")
    migrate(conn)
    conn.execute(_ABORT)  # under the run lock, a run still 'running' is one that died
    full = full or _full_sync_due(conn, shop.full_every_hours)
    row = conn.execute(
        "insert into raw_shop.sync_runs (trigger, source, full_resync) values (%s, %s, %s) returning sync_id",
        (trigger, shop.source, full),
    ).fetchone()
    assert row is not None
    sync_id = int(row[0])
    summary = ShopSyncSummary("failed", sync_id=sync_id)
    try:
        settings = resolve_shop(shop)
        source = connect_shop(settings)
        try:
            source.isolation_level, source.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
            summary.tables = _Sync(settings, source, conn, sync_id, full).run()
        finally:
            source.close()  # not commit(): the shop's transaction only read, and a connection lost now changes nothing
        summary.status = "succeeded"
    except (ShopSyncError, ShopDatabaseError, ConfigError) as error:
        summary.message = str(error)
        _record_failure(conn, summary)
    except Exception as error:  # the warehouse failed (or a bug): recorded if the warehouse still answers, raised
        summary.message = f"{type(error).__name__}: {error}"
        with contextlib.suppress(psycopg.Error):
            _record_failure(conn, summary)
        raise
    finally:
        summary.seconds = round(time.perf_counter() - started, 2)
        level = logging.INFO if summary.status == "succeeded" else logging.WARNING
        logs.log("shop sync", level=level, source=shop.source, **summary.as_dict())
    return summary


def _full_sync_due(conn: psycopg.Connection[Any], every_hours: int) -> bool:
    """Whether the last successful full sync is older than ``every_hours`` (or there was none): a full sync also
    catches what an incremental one cannot see (an update committed after the overlap with an old "updatedAt", a
    foreign-key action, an item edited without touching its order)."""
    if every_hours <= 0:
        return False
    row = conn.execute(
        "select coalesce(max(started_at) < now() - make_interval(hours => %s), true) from raw_shop.sync_runs"
        " where status = 'succeeded' and full_resync",
        (every_hours,),
    ).fetchone()
    return bool(row and row[0])


def _record_failure(conn: psycopg.Connection[Any], summary: ShopSyncSummary) -> None:
    conn.execute(
        "update raw_shop.sync_runs set status = 'failed', finished_at = clock_timestamp(), error = %s"
        " where sync_id = %s",
        (summary.message, summary.sync_id),
    )


def _stage(table: Table) -> str:
    return f"shop_stage_{table.name}"  # the rows read by the main read (and, for children, with their parents)


def _repair(table: Table) -> str:
    return f"shop_repair_{table.name}"  # rows read again because the key comparison found them missing


def _keys(table: Table) -> str:
    return f"shop_keys_{table.name}"  # the shop's ids in the buckets whose sums differ


def _not_in(stage: str) -> sql.Composable:
    return sql.SQL("not exists (select from pg_temp.{} as s where s.id = t.id)").format(sql.Identifier(stage))


def _in_buckets(key: sql.Composable, buckets: list[int]) -> sql.Composable:
    return sql.SQL("hashtextextended({}, 0) & 255 = any({})").format(key, sql.Literal(buckets))


def _names(table: Table, prefix: str = "") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(column.name) for column in table.columns[1:])


class _Sync:
    """One sync: ``shop`` in its snapshot transaction, ``warehouse`` the autocommit connection with the run lock."""

    def __init__(
        self,
        settings: ShopDatabaseSettings,
        shop: psycopg.Connection[Any],
        warehouse: psycopg.Connection[Any],
        sync_id: int,
        full: bool,
    ) -> None:
        self.settings, self.shop, self.wh, self.sync_id, self.full = settings, shop, warehouse, sync_id, full
        self.place = f"the shop database {settings.database} at {settings.host}:{settings.port}"
        self.counts = {table.name: dict.fromkeys(COUNTS, 0) for table in SHOP_TABLES}
        self.present: dict[str, set[str]] = {}  # the shop's columns, per table
        self.state: dict[str, datetime | None] = {}  # raw_shop.sync_state: the watermark per table synced before
        self.shop_now = datetime.min

    def run(self) -> dict[str, dict[str, int]]:
        self._check_columns()
        with self.wh.transaction():
            self.state = dict(self.wh.execute("select table_name, watermark from raw_shop.sync_state").fetchall())
            self._create_stages()
            for table in SHOP_TABLES:
                self._sync_table(table)
            self.wh.execute(
                "update raw_shop.sync_runs set status = 'succeeded', finished_at = clock_timestamp(), source = %s,"
                " tables = %s where sync_id = %s",
                (self.settings.source, Jsonb(self.counts), self.sync_id),
            )
        return self.counts

    # -- the shop --------------------------------------------------------------------------------------------------
    def _what(self, table: Table) -> str:
        return f'"{table.source}" in schema {self.settings.schema}'

    def _shop_error(self, error: psycopg.Error, what: str) -> ShopSyncError:
        s = self.settings
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error, errors.InsufficientPrivilege):
            hint = f"grant the user {s.user} SELECT on the shop's tables and USAGE on schema {s.schema}"
        elif isinstance(error, errors.QueryCanceled):
            hint = "cut short by the shop's statement timeout or cancelled: check the shop database's load; the next run retries"
        elif isinstance(error, psycopg.OperationalError):
            hint = "check that the shop database is up and reachable (SHOP_DB_URL or SHOP_PG_HOST/SHOP_PG_PORT); the next run retries"
        else:
            hint = "each column is read cast to raw_shop's type (loader/shop_schema.py): check that column's type and values in the shop"
        return ShopSyncError(f"reading {what} from {self.place} failed: {detail} ({hint})")

    def _shop_rows(self, query: sql.Composable | str, params: Any, what: str) -> list[tuple[Any, ...]]:
        try:
            return self.shop.execute(query, params).fetchall()  # type: ignore[arg-type]
        except psycopg.Error as error:
            raise self._shop_error(error, what) from error

    def _relation(self, table: Table) -> sql.Composable:
        return sql.Identifier(self.settings.schema, table.source)

    def _check_columns(self) -> None:
        """The shop's columns: a missing table or required column stops the sync naming it; a missing optional one
        reads as null (one warning); columns raw_shop does not list are ignored (one info line)."""
        s = self.settings
        self.shop_now = self._shop_rows("select (now() at time zone 'UTC')::timestamp(3)", None, "the clock")[0][0]
        rows = self._shop_rows(
            "select table_name::text, column_name::text from information_schema.columns"
            " where table_schema = %s and table_name = any(%s)",
            (s.schema, [table.source for table in SHOP_TABLES]),
            f"the tables' columns (information_schema) in schema {s.schema}",
        )
        found: dict[str, set[str]] = {}
        for table_name, column_name in rows:
            found.setdefault(table_name, set()).add(column_name)
        if absent := [f'"{table.source}"' for table in SHOP_TABLES if table.source not in found]:
            raise ShopSyncError(
                f"{self.place} has no table {', '.join(absent)} in schema {s.schema} that user {s.user} can read "
                f"(check that SHOP_DB_URL, or SHOP_PG_DATABASE and SHOP_PG_SCHEMA, name the shop's database and schema "
                f"— a Prisma URL's ?schema= counts — and that {s.user} has SELECT on the shop's tables)"
            )
        missing = [
            (table, column)
            for table in SHOP_TABLES
            for column in table.columns
            if column.source not in found[table.source]
        ]
        if required := [f'"{table.source}"."{column.source}"' for table, column in missing if column.required]:
            raise ShopSyncError(
                f"{self.place} lacks {', '.join(required)} in schema {s.schema}, which raw_shop needs (check that "
                "SHOP_DB_URL, or SHOP_PG_DATABASE and SHOP_PG_SCHEMA, point at the shop's database and schema; "
                "loader/shop_schema.py lists the columns read)"
            )
        if optional := [f'"{table.source}"."{column.source}"' for table, column in missing]:
            message = "shop columns missing: raw_shop gets nulls for them"
            logs.log(message, level=logging.WARNING, columns=optional, source=s.source)
        known = {table.source: {column.source for column in table.columns} for table in SHOP_TABLES}
        if extra := [f'"{name}"."{column}"' for name in known for column in sorted(found[name] - known[name])]:
            logs.log("shop columns not copied (loader/shop_schema.py does not list them)", columns=extra)
        self.present = found

    def _select(self, table: Table, condition: sql.Composable, parent: Table | None = None) -> sql.Composable:
        """``table``'s columns cast to raw_shop's types (null for a missing optional one), its rows as ``p``, or,
        with ``parent``, the rows of the parent rows (``p``) that ``condition`` selects."""
        alias = sql.SQL("c" if parent else "p")
        columns = sql.SQL(", ").join(
            sql.SQL("{}.{}::{}").format(alias, sql.Identifier(column.source), sql.SQL(column.type))
            if column.source in self.present[table.source]
            else sql.SQL("null::{}").format(sql.SQL(column.type))
            for column in table.columns
        )
        query = sql.SQL("select {} from {} as {}").format(columns, self._relation(table), alias)
        if parent is not None:
            link = sql.Identifier(table.column(table.parent_key or "").source)
            query += sql.SQL(" join {} as p on p.{} = c.{}").format(
                self._relation(parent), sql.Identifier(parent.key.source), link
            )
        return query + sql.SQL(" where ") + condition

    def _pipe(self, query: sql.Composable, into: str, what: str) -> int:
        """Stream the shop's rows of ``query`` into the warehouse's temporary table ``into``, block by block."""
        copy_in = sql.SQL("copy pg_temp.{} from stdin (format binary)").format(sql.Identifier(into))
        copy_out = sql.SQL("copy ({}) to stdout (format binary)").format(query)
        side = "shop"
        with self.wh.cursor() as target_cursor:
            with target_cursor.copy(copy_in) as target:
                try:
                    with self.shop.cursor() as source_cursor, source_cursor.copy(copy_out) as source:
                        for block in source:
                            side = "warehouse"
                            target.write(block)
                            side = "shop"
                except psycopg.Error as error:
                    if side == "warehouse":
                        raise
                    raise self._shop_error(error, what) from error
            return target_cursor.rowcount

    def _read(self, table: Table, condition: sql.Composable, into: str) -> int:
        """Stage ``table``'s rows that ``condition`` selects, and the rows of its children that follow it."""
        read = self._pipe(self._select(table, condition), into, self._what(table))
        for child in SHOP_TABLES:
            if child.parent == table.name and not self._full(child):
                query = self._select(child, condition, parent=table)
                self.counts[child.name]["read"] += self._pipe(query, _stage(child), self._what(child))
        return read

    # -- the warehouse ---------------------------------------------------------------------------------------------
    def _full(self, table: Table) -> bool:
        return self.full or table.name not in self.state

    def _create_stages(self) -> None:
        for table in SHOP_TABLES:
            names = sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns)
            for stage in (_stage(table), _repair(table)):
                self.wh.execute(
                    sql.SQL("create temp table {} on commit drop as select {} from raw_shop.{} with no data").format(
                        sql.Identifier(stage), names, sql.Identifier(table.name)
                    )
                )
            keys = sql.SQL("create temp table {} (id text) on commit drop").format(sql.Identifier(_keys(table)))
            self.wh.execute(keys)
        self.wh.execute("create temp table shop_gone (table_name text, id text) on commit drop")

    def _sync_table(self, table: Table) -> None:
        counts, stage, full = self.counts[table.name], _stage(table), self._full(table)
        if table.sync == "updated_at" and not full and (watermark := self.state[table.name]) is not None:
            since = watermark - timedelta(minutes=self.settings.overlap_minutes)
            updated = sql.Identifier(table.column("updated_at").source)
            counts["read"] += self._read(table, sql.SQL("p.{} >= {}").format(updated, sql.Literal(since)), stage)
        elif table.sync != "with_parent" or full:  # children that are not read whole came with their parents
            counts["read"] += self._read(table, TRUE, stage)
        first_load = self._empty(table)
        counts["inserted"], counts["updated"] = self._upsert(table, stage, first_load)
        if first_load:
            pass  # nothing was there to delete
        elif full or table.sync == "whole":
            counts["deleted"] += self._mark_deleted(table, _not_in(stage))
        else:
            if table.sync == "with_parent":
                parent = next(candidate for candidate in SHOP_TABLES if candidate.name == table.parent)
                link = sql.Identifier(table.parent_key or "")
                parents_read = sql.SQL(
                    "t.{} in (select id from pg_temp.{} union all select id from pg_temp.{}) and {}"
                ).format(link, sql.Identifier(_stage(parent)), sql.Identifier(_repair(parent)), _not_in(stage))
                counts["deleted"] += self._mark_deleted(table, parents_read)
                parents_gone = sql.SQL("t.{} in (select id from pg_temp.shop_gone where table_name = {})")
                counts["deleted"] += self._mark_deleted(table, parents_gone.format(link, sql.Literal(parent.name)))
            self._reconcile(table)
        watermark_sql: sql.Composable = sql.SQL("null::timestamp(3)")
        if table.sync == "updated_at":
            now = sql.Literal(self.shop_now)
            watermark_sql = sql.SQL(_WATERMARK).format(
                now=now, stage=sql.Identifier(stage), repair=sql.Identifier(_repair(table))
            )
        self.wh.execute(
            sql.SQL(_SAVE_STATE).format(
                name=sql.Literal(table.name), watermark=watermark_sql, sync_id=sql.Literal(self.sync_id)
            )
        )

    def _empty(self, table: Table) -> bool:
        """raw_shop's table has no row: a first load."""
        empty = self.wh.execute(
            sql.SQL("select not exists (select from raw_shop.{})").format(sql.Identifier(table.name))
        )
        return bool(empty.fetchone()[0])  # type: ignore[index]

    def _upsert(self, table: Table, stage: str, first_load: bool = False) -> tuple[int, int]:
        """Upsert the stage: (inserted, updated); rows equal to raw_shop's (and not deleted there) are left alone. A
        ``first_load`` (the table empty) only inserts."""
        query = sql.SQL(_INSERT if first_load else _UPSERT).format(
            table=sql.Identifier(table.name),
            columns=sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns),
            sync_id=sql.Literal(self.sync_id),
            stage=sql.Identifier(stage),
            assignments=sql.SQL(", ").join(
                sql.SQL("{0} = excluded.{0}").format(sql.Identifier(column.name)) for column in table.columns[1:]
            ),
            old=_names(table, "t."),
            new=_names(table, "excluded."),
        )
        try:
            if first_load:
                return self.wh.execute(query).rowcount, 0
            row = self.wh.execute(query).fetchone()
        except (errors.CardinalityViolation, errors.UniqueViolation) as error:  # the shop's id is not unique
            raise ShopSyncError(
                f'{self.place}: "{table.source}" has several rows with the same "{table.key.source}" '
                f"(raw_shop.{table.name} keeps one row per id; check the shop's primary key)"
            ) from error
        assert row is not None
        return int(row[0]), int(row[1])

    def _mark_deleted(self, table: Table, condition: sql.Composable) -> int:
        """Mark raw_shop rows deleted (soft: ``_deleted_at``), remembering their ids in ``shop_gone``."""
        query = sql.SQL(_MARK_DELETED).format(
            table=sql.Identifier(table.name),
            sync_id=sql.Literal(self.sync_id),
            condition=condition,
            name=sql.Literal(table.name),
        )
        return self.wh.execute(query).rowcount

    def _reconcile(self, table: Table) -> None:
        """Compare the key sets per bucket; in the buckets that differ, mark deleted what the shop no longer has and
        read again what the warehouse lacks."""
        counts, what = self.counts[table.name], f"the keys of {self._what(table)}"
        key = sql.SQL("p.{}::text").format(sql.Identifier(table.key.source))
        shop = self._shop_rows(
            sql.SQL(_BUCKET_SUMS).format(key=key, relation=self._relation(table) + sql.SQL(" as p"), where=sql.SQL("")),
            None,
            what,
        )
        mine = self.wh.execute(
            sql.SQL(_BUCKET_SUMS).format(
                key=sql.SQL("t.id"),
                relation=sql.SQL("raw_shop.{} as t").format(sql.Identifier(table.name)),
                where=sql.SQL("where t._deleted_at is null"),
            )
        ).fetchall()
        theirs = {bucket: (n, total) for bucket, n, total in shop}
        ours = {bucket: (n, total) for bucket, n, total in mine}
        differing = sorted(bucket for bucket in theirs.keys() | ours.keys() if theirs.get(bucket) != ours.get(bucket))
        if not differing:
            return
        keys = sql.SQL("select {} from {} as p where {}").format(
            key, self._relation(table), _in_buckets(key, differing)
        )
        self._pipe(keys, _keys(table), what)
        gone = _in_buckets(sql.SQL("t.id"), differing) + sql.SQL(" and ") + _not_in(_keys(table))
        counts["deleted"] += self._mark_deleted(table, gone)
        missing = sql.SQL(
            "select k.id from pg_temp.{} as k"
            " where not exists (select from raw_shop.{} as t where t.id = k.id and t._deleted_at is null)"
        ).format(sql.Identifier(_keys(table)), sql.Identifier(table.name))
        with self.wh.cursor(name=f"shop_missing_{table.name}") as cursor:
            cursor.execute(missing)
            while ids := [row[0] for row in cursor.fetchmany(REPAIR_BATCH)]:
                wanted = sql.SQL("{} = any({}::text[])").format(key, sql.Literal(ids))
                counts["read"] += self._read(table, wanted, _repair(table))
        inserted, updated = self._upsert(table, _repair(table))
        counts["repaired"] += inserted + updated
