"""Bench section ``shop``: the shop database's sync into raw_shop.

- The first (full) sync of a shop of 200k orders (with their items, users and products) — the whole ``sync_shop``
  call a run waits for, in rows/s — beside a plain binary ``COPY`` of the same rows (the same SELECTs on the shop
  piped into unindexed tables of the warehouse), PostgreSQL's own limit for moving them; alternating rounds,
  medians. Peak Python memory (tracemalloc) of the sync.
- An incremental sync after 1% new orders and 1% status changes, beside the first sync and an incremental sync that
  finds nothing new.

The shop is filled in SQL (generate_series: a second embedded PostgreSQL, database ``bench_shop_200k``, kept for
later runs); the warehouse database is made anew for each round.
"""

from __future__ import annotations

import dataclasses
import time
import tracemalloc
from pathlib import Path
from statistics import median
from typing import Any

Row = dict[str, Any]
ORDERS = 200_000
ROUNDS = 3

# The shop, in SQL: users, products across brands and categories, orders of 1-4 lines, as Prisma stores them.
_FILL = """
insert into "Brand" (id, name, slug) select 'b' || n, 'Brand ' || n, 'brand-' || n from generate_series(1, 40) n;
insert into "Category" (id, title, slug) select 'c' || n, 'Danh mục ' || n, 'category-' || n from generate_series(1, 12) n;
insert into "Product" (id, name, slug, price, "brandId", variant, images, "updatedAt")
select 'p' || n, 'Sản phẩm ' || n, 'product-' || n, 100000 + (n * 7919) % 40000000, 'b' || (1 + n % 40),
       'variant-' || (n % 6), array['/images/p' || n || '.webp'], timestamp '2026-01-01' + n * interval '1 minute'
from generate_series(1, 2000) n;
insert into "ProductCategory" (id, "productId", "categoryId")
select 'pc' || n, 'p' || n, 'c' || (1 + n % 12) from generate_series(1, 2000) n;
insert into "User" (id, email, "createdAt", "updatedAt")
select 'u' || n, 'u' || n || '@example.vn', timestamp '2026-01-01' + n * interval '1 minute',
       timestamp '2026-01-01' + n * interval '1 minute'
from generate_series(1, {users}) n;
insert into "Order" (id, "userId", "orderNumber", status, "totalPrice", "paymentStatus", "createdAt", "updatedAt")
select 'o' || n, 'u' || (1 + n % {users}), 'DH' || lpad(n::text, 8, '0'),
       (array['pending', 'confirmed', 'shipped', 'delivered', 'cancelled'])[1 + n % 5], 990000 + (n::bigint * 104729) % 30000000,
       (array['paid', 'pending', 'paid', 'paid', 'refunded'])[1 + n % 5],
       timestamp '2026-06-01' + n * interval '40 seconds', timestamp '2026-06-01' + n * interval '40 seconds'
from generate_series(1, {orders}) n;
insert into "OrderItem" (id, "orderId", "productId", quantity, price)
select 'o' || n || '-' || line, 'o' || n, 'p' || (1 + (n * 31 + line * 17) % 2000), 1 + (n + line) % 2, 490000
from generate_series(1, {orders}) n, generate_series(1, 1 + n % 4) line;
"""


def _shop(work: Path) -> Any:
    """The shop database with ``ORDERS`` orders (built once, reused)."""
    import psycopg

    from loader.shop_database import create_prisma_tables
    from loader.warehouse import EmbeddedShopDatabase

    server = EmbeddedShopDatabase(work.parent / "home").start()
    shop = dataclasses.replace(server, database=f"bench_shop_{ORDERS // 1000}k")
    admin = {**server.conninfo(), "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        exists = conn.execute("select 1 from pg_database where datname = %s", (shop.database,)).fetchone()
        if exists:
            with psycopg.connect(**shop.conninfo()) as shop_conn:  # type: ignore[arg-type]
                row = shop_conn.execute("""select count(*) from "Order" where id like 'o%'""").fetchone()
            if row and row[0] == ORDERS:
                _reset(shop)
                return shop
        conn.execute(f'drop database if exists "{shop.database}" with (force)')
        conn.execute(f'create database "{shop.database}"')
    print(f"   filling a shop database with {ORDERS:,} orders; this is kept for later runs", flush=True)
    with psycopg.connect(**shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        create_prisma_tables(conn)
        conn.execute(_FILL.format(orders=ORDERS, users=ORDERS // 4))  # type: ignore[arg-type]
        conn.execute("vacuum analyze")
    return shop


def _reset(shop: Any) -> None:
    """Undo a previous run's 1% (its new orders and status changes)."""
    import psycopg

    with psycopg.connect(**shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("""delete from "Order" where id like 'new-%'""")
        conn.execute(
            """update "Order" set
                   status = (array['pending', 'confirmed', 'shipped', 'delivered', 'cancelled'])[1 + substr(id, 2)::int % 5],
                   "paymentStatus" = (array['paid', 'pending', 'paid', 'paid', 'refunded'])[1 + substr(id, 2)::int % 5],
                   "updatedAt" = "createdAt"
               where "updatedAt" > "createdAt" """
        )


def _warehouse(work: Path, name: str) -> Any:
    """A fresh warehouse database, migrated."""
    import psycopg

    from loader.schema import migrate_warehouse
    from loader.warehouse import EmbeddedWarehouse

    server = EmbeddedWarehouse(work.parent / "home").start()
    settings = dataclasses.replace(server, database=name, embedded=False)
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    migrate_warehouse(settings)
    return settings


def _timed_sync(shop: Any, warehouse: Any, *, trace: bool = False) -> tuple[float, int, float]:
    """(seconds, rows read, peak Python memory in MB) of one ``sync_shop`` call under the run lock."""
    from loader.runlock import run_lock
    from loader.shop_sync import sync_shop

    with run_lock(warehouse) as (conn, acquired):
        assert acquired
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        summary = sync_shop(shop, conn, trigger="bench")
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
        if trace:
            tracemalloc.stop()
    assert summary.status == "succeeded", summary.message
    return seconds, sum(counts["read"] for counts in summary.tables.values()), peak


def _plain_copy(shop: Any, warehouse: Any) -> tuple[float, int]:
    """(seconds, rows): the same SELECTs piped with binary COPY into unindexed tables, nothing else."""
    import psycopg
    from psycopg import sql

    from loader.shop_schema import SHOP_TABLES

    rows = 0
    with (
        psycopg.connect(**shop.conninfo()) as source,  # type: ignore[arg-type]
        psycopg.connect(**warehouse.conninfo(), autocommit=True) as target,  # type: ignore[arg-type]
    ):
        for table in SHOP_TABLES:
            columns = sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns)
            target.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(f"plain_{table.name}")))
            target.execute(
                sql.SQL("create table {} as select {} from raw_shop.{} with no data").format(
                    sql.Identifier(f"plain_{table.name}"), columns, sql.Identifier(table.name)
                )
            )
        started = time.perf_counter()
        for table in SHOP_TABLES:
            select = sql.SQL("select {} from {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{}::{}").format(sql.Identifier(column.source), sql.SQL(column.type))
                    for column in table.columns
                ),
                sql.Identifier("public", table.source),
            )
            copy_out = sql.SQL("copy ({}) to stdout (format binary)").format(select)
            copy_in = sql.SQL("copy {} from stdin (format binary)").format(sql.Identifier(f"plain_{table.name}"))
            with target.cursor() as cursor:
                with cursor.copy(copy_in) as sink, source.cursor() as reader, reader.copy(copy_out) as rows_out:
                    for block in rows_out:
                        sink.write(block)
                rows += cursor.rowcount
        return time.perf_counter() - started, rows


def _one_percent(shop: Any) -> int:
    """1% new orders (with their lines) and 1% status changes, as the back office makes them; returns the orders."""
    import psycopg

    count = ORDERS // 100
    with psycopg.connect(**shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        newest = conn.execute("""select max("updatedAt") from "Order" """).fetchone()[0]  # type: ignore[index]
        conn.execute(
            """insert into "Order" select 'new-' || n, "userId", 'NEW' || n, 'pending', "totalPrice", 'pending',
                   %(at)s, %(at)s from "Order", generate_series(1, %(count)s) n where id = 'o' || n""",
            {"at": newest, "count": count},
        )
        conn.execute(
            """insert into "OrderItem" select 'new-' || n || '-1', 'new-' || n, 'p' || (1 + n %% 2000), 1, 490000
               from generate_series(1, %s) n""",
            (count,),
        )
        conn.execute(
            """update "Order" set status = 'delivered', "paymentStatus" = 'paid', "updatedAt" = %s
               where id in (select 'o' || n from generate_series(1, %s * 100, 100) n)""",
            (newest, count),
        )
    return count * 2


def shop(work: Path) -> list[Row]:
    """The shop sync: its first load beside a plain COPY of the same rows, and the cost of 1% new and changed orders."""
    work.mkdir(parents=True, exist_ok=True)
    shop_db = _shop(work)
    syncs: list[float] = []
    copies: list[float] = []
    peaks: list[float] = []
    rows = copied = 0
    for round_number in range(ROUNDS):  # alternating, so the machine's noise hits both alike
        warehouse = _warehouse(work, "bench_shop_sync")
        seconds, rows, peak = _timed_sync(shop_db, warehouse, trace=round_number == 0)
        syncs.append(seconds)
        peaks.append(peak)
        copy_seconds, copied = _plain_copy(shop_db, warehouse)
        copies.append(copy_seconds)
        print(f"   round {round_number + 1}: sync {seconds:.1f}s, plain COPY {copy_seconds:.1f}s", flush=True)
    first, ceiling = median(syncs), median(copies)
    nothing, _, _ = _timed_sync(shop_db, warehouse)
    changed = _one_percent(shop_db)
    incremental, read, _ = _timed_sync(shop_db, warehouse)
    _reset(shop_db)
    print(f"   incremental: nothing new {nothing:.2f}s, +1% ({changed:,} orders new or changed) {incremental:.2f}s")
    return [
        {"name": f"shop sync, first load of {ORDERS // 1000}k orders ({rows:,} rows, all tables)",
         "value": round(rows / first, 1), "unit": "rows/s", "reference": round(copied / ceiling, 1),
         "reference_name": "plain binary COPY of the same rows", "ratio": round(ceiling / first, 3)},
        {"name": "shop sync, first load: peak Python memory (tracemalloc)", "value": round(peaks[0], 2), "unit": "MB"},
        {"name": f"shop sync after 1% new orders and 1% status changes on {ORDERS // 1000}k ({read:,} rows read)",
         "value": round(incremental, 2), "unit": "s", "reference": round(first, 2),
         "reference_name": "first load", "ratio": round(incremental / first, 3)},
        {"name": f"shop sync with nothing new on {ORDERS // 1000}k orders (the key comparison's cost)",
         "value": round(nothing, 2), "unit": "s", "reference": round(first, 2), "reference_name": "first load",
         "ratio": round(nothing / first, 3)},
    ]  # fmt: skip
