"""The shop database → raw_shop sync, against real PostgreSQL: the shop is a database of its own on the session's
embedded server (Prisma's tables, ``create_prisma_tables``), the warehouse is ``dw``; every sync holds the run lock
as the ETL does."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loader.config import ShopDatabaseSettings, WarehouseSettings
from loader.runlock import run_lock
from loader.shop_database import create_prisma_tables
from loader.shop_schema import SHOP_TABLES
from loader.shop_sync import ShopSyncSummary, sync_shop
from loader.warehouse import connect
from tests.conftest import free_port

T0 = datetime(2025, 6, 1, 8, 0)
TABLES = [table.name for table in SHOP_TABLES]
SEEDED = {
    "brands": 2,
    "categories": 2,
    "product_categories": 3,
    "users": 3,
    "products": 4,
    "orders": 4,
    "order_items": 7,
}


def at(minutes: float) -> datetime:
    """An instant of the shop's "updatedAt" clock: minutes after T0 (UTC, as Prisma writes it)."""
    return T0 + timedelta(minutes=minutes)


# A small shop: o1 and o3 belong to u1, o2 to u2, o4 is a guest's; u3 and p4 have no orders.
SEED = """
insert into "Brand" (id, name, slug) values ('b1', 'Logitech', 'logitech'), ('b2', 'Asus', 'asus');
insert into "Category" (id, title, slug) values ('c1', 'Bàn phím', 'ban-phim'), ('c2', 'Laptop', 'laptop');
insert into "Product" (id, name, slug, price, "brandId", variant, images, "updatedAt") values
    ('p1', 'MX Keys', 'mx-keys', 2490000, 'b1', 'keyboard', array['mx-keys.jpg'], {t1}),
    ('p2', 'Zenbook 14', 'zenbook-14', 25990000, 'b2', 'laptop', null, {t2}),
    ('p3', 'K380', 'k380', 790000, 'b1', 'keyboard', array[]::text[], {t3}),
    ('p4', 'Old mouse', 'old-mouse', 150000, null, null, null, {t2});
insert into "ProductCategory" (id, "productId", "categoryId") values ('pc1', 'p1', 'c1'), ('pc2', 'p2', 'c2'),
    ('pc3', 'p3', 'c1');
insert into "User" (id, email, name, "updatedAt") values ('u1', 'an@example.vn', 'An', {t1}),
    ('u2', 'binh@example.vn', null, {t2}), ('u3', 'chi@example.vn', 'Chi', {t3});
insert into "Order" (id, "userId", "orderNumber", status, "totalPrice", "paymentStatus", "updatedAt") values
    ('o1', 'u1', 'DH-0001', 'pending', 2490000, 'pending', {t4}),
    ('o2', 'u2', 'DH-0002', 'pending', 27570000, 'pending', {t6}),
    ('o3', 'u1', 'DH-0003', 'paid', 3280000, 'paid', {t8}),
    ('o4', null, 'DH-0004', 'pending', 26780000, 'pending', {t10});
insert into "OrderItem" (id, "orderId", "productId", quantity, price) values
    ('i1', 'o1', 'p1', 1, 2490000), ('i2', 'o2', 'p2', 1, 25990000), ('i3', 'o2', 'p3', 2, 790000),
    ('i4', 'o3', 'p1', 1, 2490000), ('i5', 'o3', 'p3', 1, 790000), ('i6', 'o4', 'p2', 1, 25990000),
    ('i7', 'o4', 'p3', 1, 790000);
"""


@dataclasses.dataclass
class Shop:
    settings: ShopDatabaseSettings
    conn: psycopg.Connection[Any]  # autocommit, search_path = the shop's schema

    def run(self, statement: str, params: Any = None) -> None:
        self.conn.execute(statement, params)  # type: ignore[arg-type]

    def rows(self, statement: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(statement).fetchall()  # type: ignore[arg-type]


@pytest.fixture
def make_shop(pg_server: WarehouseSettings) -> Iterator[Callable[..., Shop]]:
    """Shop databases on the session's server: Prisma's tables in ``schema``, seeded unless ``seed=False``."""
    admin = {**pg_server.conninfo(), "dbname": "postgres"}
    made: list[tuple[str, psycopg.Connection[Any]]] = []

    def make(schema: str = "public", seed: bool = True) -> Shop:
        name = f"shop_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'create database "{name}"')  # type: ignore[arg-type]
        settings = ShopDatabaseSettings(
            pg_server.host, pg_server.port, "postgres", None, name, "disable", schema=schema
        )
        conn = psycopg.connect(**settings.conninfo(), autocommit=True)  # type: ignore[arg-type]
        made.append((name, conn))
        create_prisma_tables(conn, schema)
        conn.execute(f'set search_path to "{schema}"')  # type: ignore[arg-type]
        if seed:
            conn.execute(sql.SQL(SEED).format(**{f"t{n}": at(n) for n in (1, 2, 3, 4, 6, 8, 10)}))  # type: ignore[arg-type]
        return Shop(settings, conn)

    yield make
    for name, conn in made:
        conn.close()
        with psycopg.connect(**admin, autocommit=True) as admin_conn:  # type: ignore[arg-type]
            admin_conn.execute(f'drop database if exists "{name}" with (force)')  # type: ignore[arg-type]


@pytest.fixture
def shop(make_shop: Callable[..., Shop]) -> Shop:
    return make_shop()


def sync(dw: WarehouseSettings, settings: ShopDatabaseSettings, **kwargs: Any) -> ShopSyncSummary:
    """A sync as the ETL runs it: under the run lock."""
    with run_lock(dw) as (conn, acquired):
        assert acquired
        return sync_shop(settings, conn, **kwargs)


def query(dw: WarehouseSettings, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with connect(dw, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


def changes(summary: ShopSyncSummary) -> dict[str, dict[str, int]]:
    """The counts that mean something was written (not "read"), per table, only where not zero."""
    found = {}
    for name, counts in summary.tables.items():
        if written := {key: value for key, value in counts.items() if key != "read" and value}:
            found[name] = written
    return found


def snapshot(dw: WarehouseSettings) -> dict[str, list[tuple[Any, ...]]]:
    """Everything raw_shop holds but its run log: the tables, bookkeeping included, and the watermarks."""
    found = {name: query(dw, f"select * from raw_shop.{name} order by id") for name in TABLES}
    found["sync_state"] = query(dw, "select * from raw_shop.sync_state order by table_name")
    return found


def data(dw: WarehouseSettings) -> dict[str, list[tuple[Any, ...]]]:
    """raw_shop's rows without the sync's bookkeeping, with whether they are marked deleted."""
    found = {}
    for table in SHOP_TABLES:
        names = ", ".join(column.name for column in table.columns)
        found[table.name] = query(dw, f"select {names}, _deleted_at is not null from raw_shop.{table.name} order by id")
    return found


def assert_mirrors(shop: Shop, dw: WarehouseSettings) -> None:
    """raw_shop's rows not marked deleted are exactly the shop's rows, column for column."""
    for table in SHOP_TABLES:
        read = ", ".join(f'"{column.source}"::{column.type}' for column in table.columns)
        theirs = shop.rows(f'select {read} from "{table.source}" order by 1')
        names = ", ".join(column.name for column in table.columns)
        ours = query(dw, f"select {names} from raw_shop.{table.name} where _deleted_at is null order by 1")
        assert ours == theirs, table.name


def deleted(dw: WarehouseSettings, table: str) -> list[str]:
    return [row[0] for row in query(dw, f"select id from raw_shop.{table} where _deleted_at is not null order by id")]


def test_the_first_load_copies_every_table_with_exact_counts(dw: WarehouseSettings, shop: Shop) -> None:
    summary = sync(dw, shop.settings, trigger="etl")

    assert summary.status == "succeeded", summary.message
    assert {name: counts["read"] for name, counts in summary.tables.items()} == SEEDED
    assert changes(summary) == {name: {"inserted": count} for name, count in SEEDED.items()}
    assert_mirrors(shop, dw)
    assert query(dw, "select price, images, status from raw_shop.products where id = 'p1'") == [
        (2490000, ["mx-keys.jpg"], "active")
    ]
    assert dict(query(dw, "select table_name, watermark from raw_shop.sync_state")) == {
        "users": at(3), "products": at(3), "orders": at(10),
        "brands": None, "categories": None, "product_categories": None, "order_items": None,
    }  # fmt: skip
    assert query(dw, "select sync_id, status, trigger, source, full_resync, tables, error from raw_shop.sync_runs") == [
        (summary.sync_id, "succeeded", "etl", shop.settings.source, True, summary.tables, None)
    ], "the first sync reads everything: a full one"
    assert summary.line().startswith("shop sync succeeded in ")
    assert "orders 4 read (4 new), order_items 7 read (7 new)" in summary.line()


def test_status_changes_reach_raw_shop_as_updates_and_unchanged_rereads_are_not_counted(
    dw: WarehouseSettings, shop: Shop
) -> None:
    first = sync(dw, shop.settings)
    shop.run("""update "Order" set "paymentStatus" = 'paid', "updatedAt" = %s where id = 'o1'""", (at(20),))
    shop.run("""update "Order" set status = 'cancelled', "updatedAt" = %s where id = 'o2'""", (at(21),))
    shop.run("""update "Order" set "paymentStatus" = 'refunded', "updatedAt" = %s where id = 'o3'""", (at(22),))

    second = sync(dw, shop.settings)

    assert second.status == "succeeded", second.message
    assert changes(second) == {"orders": {"updated": 3}}
    assert second.tables["orders"]["read"] == 4  # o4 is inside the overlap: read again, equal, not rewritten
    assert query(dw, "select id, status, payment_status, _sync_id from raw_shop.orders order by id") == [
        ("o1", "pending", "paid", second.sync_id),
        ("o2", "cancelled", "pending", second.sync_id),
        ("o3", "paid", "refunded", second.sync_id),
        ("o4", "pending", "pending", first.sync_id),
    ]
    assert query(dw, "select distinct _sync_id from raw_shop.order_items") == [(first.sync_id,)]
    assert query(dw, "select watermark from raw_shop.sync_state where table_name = 'orders'") == [(at(22),)]
    assert "orders 4 read (3 updated)" in second.line()


def test_an_update_committed_late_with_an_updated_at_inside_the_overlap_is_picked_up(
    dw: WarehouseSettings, shop: Shop
) -> None:
    sync(dw, shop.settings)  # watermark: o4's at(10)
    # A transaction that stamped o2 at at(7) and committed only after that sync.
    shop.run("""update "Order" set status = 'shipped', "updatedAt" = %s where id = 'o2'""", (at(7),))

    summary = sync(dw, shop.settings)

    assert changes(summary) == {"orders": {"updated": 1}}
    assert query(dw, "select status from raw_shop.orders where id = 'o2'") == [("shipped",)]
    assert query(dw, "select watermark from raw_shop.sync_state where table_name = 'orders'") == [(at(10),)]


def a_day_passes(dw: WarehouseSettings) -> None:
    """The syncs recorded so far happened 25 hours earlier."""
    with connect(dw, autocommit=True) as conn:
        conn.execute("update raw_shop.sync_runs set started_at = started_at - interval '25 hours'")


def test_an_update_an_incremental_sync_cannot_see_is_caught_by_the_daily_full_sync(
    dw: WarehouseSettings, shop: Shop
) -> None:
    sync(dw, shop.settings)
    # committed a day behind the watermark with an old "updatedAt" (or by a foreign-key action, which stamps none)
    shop.run("""update "Order" set status = 'cancelled', "updatedAt" = %s where id = 'o2'""", (at(-24 * 60),))
    assert changes(sync(dw, shop.settings)) == {}, "behind the overlap, with the same keys: unseen"
    assert query(dw, "select status from raw_shop.orders where id = 'o2'") == [("pending",)]

    a_day_passes(dw)
    summary = sync(dw, shop.settings)

    assert changes(summary) == {"orders": {"updated": 1}}
    assert query(dw, "select status from raw_shop.orders where id = 'o2'") == [("cancelled",)]
    assert query(dw, "select full_resync from raw_shop.sync_runs where sync_id = %s", (summary.sync_id,)) == [(True,)]
    assert changes(sync(dw, shop.settings)) == {}, "and the next sync is incremental again"
    never = dataclasses.replace(shop.settings, full_every_hours=0)
    a_day_passes(dw)
    assert query(dw, "select full_resync from raw_shop.sync_runs where sync_id = %s", (sync(dw, never).sync_id,)) == [
        (False,)
    ], "SHOP_SYNC_FULL_EVERY_HOURS=0: only when asked"


def test_an_order_committed_far_behind_the_watermark_is_repaired_by_the_key_comparison(
    dw: WarehouseSettings, shop: Shop
) -> None:
    sync(dw, shop.settings)
    shop.run(
        """insert into "Order" (id, "userId", "orderNumber", "totalPrice", "updatedAt")
        values ('o5', 'u2', 'DH-0005', 3280000, %s)""",
        (at(-24 * 60),),  # a day behind: far beyond the 15-minute overlap
    )
    shop.run("""insert into "OrderItem" values ('i8', 'o5', 'p1', 1, 2490000), ('i9', 'o5', 'p3', 1, 790000)""")

    summary = sync(dw, shop.settings)

    assert summary.status == "succeeded", summary.message
    assert changes(summary) == {"orders": {"repaired": 1}, "order_items": {"inserted": 2}}
    assert_mirrors(shop, dw)
    assert query(dw, "select watermark from raw_shop.sync_state where table_name = 'orders'") == [(at(10),)]


def test_deleted_rows_are_marked_deleted_an_order_with_its_items_a_product_and_a_user(
    dw: WarehouseSettings, shop: Shop
) -> None:
    sync(dw, shop.settings)
    shop.run("""delete from "Order" where id = 'o3'""")  # its items go with it (ON DELETE CASCADE)
    shop.run("""delete from "Product" where id = 'p4'""")
    shop.run("""delete from "User" where id = 'u3'""")

    summary = sync(dw, shop.settings)

    assert changes(summary) == {
        "orders": {"deleted": 1}, "order_items": {"deleted": 2}, "products": {"deleted": 1}, "users": {"deleted": 1}
    }  # fmt: skip
    assert (deleted(dw, "orders"), deleted(dw, "order_items")) == (["o3"], ["i4", "i5"])
    assert (deleted(dw, "products"), deleted(dw, "users")) == (["p4"], ["u3"])
    assert query(dw, "select order_number, _sync_id from raw_shop.orders where id = 'o3'") == [
        ("DH-0003", summary.sync_id)  # kept: nothing accepted is ever lost
    ]
    assert_mirrors(shop, dw)


def test_an_item_removed_from_an_order_is_marked_deleted_and_one_added_appears(
    dw: WarehouseSettings, shop: Shop
) -> None:
    sync(dw, shop.settings)
    shop.run("""delete from "OrderItem" where id = 'i3'""")
    shop.run("""insert into "OrderItem" values ('i8', 'o2', 'p1', 1, 2490000)""")
    shop.run("""update "Order" set "totalPrice" = 28480000, "updatedAt" = %s where id = 'o2'""", (at(30),))

    summary = sync(dw, shop.settings)

    assert changes(summary) == {"orders": {"updated": 1}, "order_items": {"inserted": 1, "deleted": 1}}
    assert deleted(dw, "order_items") == ["i3"]
    assert_mirrors(shop, dw)


def test_a_row_deleted_then_created_again_comes_back_undeleted(dw: WarehouseSettings, shop: Shop) -> None:
    sync(dw, shop.settings)
    shop.run("""delete from "Order" where id = 'o1'""")
    assert changes(sync(dw, shop.settings)) == {"orders": {"deleted": 1}, "order_items": {"deleted": 1}}
    shop.run(
        """insert into "Order" (id, "userId", "orderNumber", "totalPrice", "updatedAt")
        values ('o1', 'u1', 'DH-0001', 2490000, %s)""",
        (at(40),),
    )
    shop.run("""insert into "OrderItem" values ('i1', 'o1', 'p1', 1, 2490000)""")

    summary = sync(dw, shop.settings)

    assert changes(summary) == {"orders": {"updated": 1}, "order_items": {"updated": 1}}
    assert deleted(dw, "orders") == deleted(dw, "order_items") == []
    assert_mirrors(shop, dw)


def test_syncing_twice_changes_nothing_the_second_time(dw: WarehouseSettings, shop: Shop) -> None:
    sync(dw, shop.settings)
    before = snapshot(dw)

    again = sync(dw, shop.settings)

    assert again.status == "succeeded"
    assert changes(again) == {}
    after = snapshot(dw)
    assert {name: rows for name, rows in after.items() if name != "sync_state"} == {
        name: rows for name, rows in before.items() if name != "sync_state"
    }  # not one row rewritten: _sync_id and _synced_at unchanged
    assert [row[:2] for row in after["sync_state"]] == [row[:2] for row in before["sync_state"]]
    assert query(dw, "select status from raw_shop.sync_runs order by sync_id") == [("succeeded",), ("succeeded",)]


def test_a_full_resync_gives_the_same_rows(dw: WarehouseSettings, shop: Shop) -> None:
    sync(dw, shop.settings)
    shop.run("""update "Order" set status = 'cancelled', "updatedAt" = %s where id = 'o2'""", (at(20),))
    shop.run("""delete from "Order" where id = 'o3'""")
    shop.run("""update "Brand" set name = 'Logitech G' where id = 'b1'""")
    shop.run(
        """insert into "Order" (id, "orderNumber", "totalPrice", "updatedAt") values ('o5', 'DH-0005', 790000, %s)""",
        (at(-600),),
    )
    shop.run("""insert into "OrderItem" values ('i8', 'o5', 'p3', 1, 790000)""")
    sync(dw, shop.settings)
    incremental = data(dw)

    full = sync(dw, shop.settings, full=True)

    assert full.status == "succeeded", full.message
    assert changes(full) == {}
    assert full.tables["order_items"]["read"] == 6
    assert data(dw) == incremental
    assert_mirrors(shop, dw)
    assert query(dw, "select full_resync from raw_shop.sync_runs order by sync_id") == [(True,), (False,), (True,)]


def test_a_read_only_role_with_select_on_the_seven_tables_is_enough(
    dw: WarehouseSettings, shop: Shop, pg_server: WarehouseSettings
) -> None:
    role = f"shop_reader_{uuid.uuid4().hex[:8]}"
    shop.run(f"create role {role} login")
    try:
        shop.run(f"alter role {role} set default_transaction_read_only = on")
        shop.run(f"grant usage on schema public to {role}")
        for table in SHOP_TABLES:
            shop.run(f'grant select on "{table.source}" to {role}')
        reader = dataclasses.replace(shop.settings, user=role)

        summary = sync(dw, reader)

        assert summary.status == "succeeded", summary.message
        assert {name: counts["inserted"] for name, counts in summary.tables.items()} == SEEDED
        assert_mirrors(shop, dw)

        shop.run(f'revoke select on "OrderItem" from {role}')
        refused = sync(dw, reader)
        assert refused.status == "failed"
        assert f'has no table "OrderItem" in schema public that user {role} can read' in (refused.message or "")
        assert f"{role} has SELECT on the shop's tables" in (refused.message or "")
    finally:
        shop.run(f"drop owned by {role}")
        shop.run(f"drop role {role}")


def test_a_status_declared_as_an_enum_or_varchar_reads_as_text(dw: WarehouseSettings, shop: Shop) -> None:
    shop.run("""create type "OrderStatus" as enum ('pending', 'paid', 'shipped', 'cancelled')""")
    shop.run(
        """alter table "Order" alter column status drop default,
        alter column status type "OrderStatus" using status::"OrderStatus",
        alter column "paymentStatus" type varchar(20)"""
    )

    summary = sync(dw, shop.settings)

    assert summary.status == "succeeded", summary.message
    assert query(dw, "select id, status, payment_status, pg_typeof(status)::text from raw_shop.orders order by id") == [
        ("o1", "pending", "pending", "text"),
        ("o2", "pending", "pending", "text"),
        ("o3", "paid", "paid", "text"),
        ("o4", "pending", "pending", "text"),
    ]


def test_a_prisma_url_schema_parameter_reads_the_tables_in_that_schema(
    dw: WarehouseSettings, make_shop: Callable[..., Shop]
) -> None:
    shop = make_shop(schema="shop")
    s = shop.settings
    settings = ShopDatabaseSettings.from_env(
        {"SHOP_DB_URL": f"postgresql://{s.user}@{s.host}:{s.port}/{s.database}?schema=shop&sslmode=disable"}
    )
    assert settings is not None and settings.schema == "shop"

    summary = sync(dw, settings)

    assert summary.status == "succeeded", summary.message
    assert {name: counts["inserted"] for name, counts in summary.tables.items()} == SEEDED
    assert_mirrors(shop, dw)


def test_a_missing_required_column_fails_naming_it_and_leaves_raw_shop_untouched(
    dw: WarehouseSettings, shop: Shop
) -> None:
    sync(dw, shop.settings)
    before = snapshot(dw)
    shop.run("""alter table "Order" drop column "paymentStatus" """)
    shop.run("""update "Order" set status = 'paid', "updatedAt" = %s where id = 'o1'""", (at(20),))

    summary = sync(dw, shop.settings)

    assert summary.status == "failed"
    message = summary.message or ""
    where = f"{shop.settings.database} at {shop.settings.host}:{shop.settings.port}"
    assert f'{where} lacks "Order"."paymentStatus" in schema public' in message
    assert "SHOP_DB_URL" in message
    assert summary.line() == f"shop sync failed in {summary.seconds:.1f}s: {message}"
    assert snapshot(dw) == before
    assert query(dw, "select status, error from raw_shop.sync_runs order by sync_id") == [
        ("succeeded", None),
        ("failed", message),
    ]


def test_a_missing_optional_column_reads_as_null_with_one_warning_and_extra_columns_are_ignored(
    dw: WarehouseSettings, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    shop.run("""alter table "Product" drop column description, add column "weightGrams" integer""")
    logger = logging.getLogger("clickstream")
    handler = None if logger.propagate else caplog.handler  # logs.configure() stops propagation to the root
    if handler:
        logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="clickstream"):
            summary = sync(dw, shop.settings)
    finally:
        if handler:
            logger.removeHandler(handler)

    assert summary.status == "succeeded", summary.message
    assert query(dw, "select count(*), count(description) from raw_shop.products") == [(4, 0)]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert [(record.getMessage(), record.fields["columns"]) for record in warnings] == [  # type: ignore[attr-defined]
        ("shop columns missing: raw_shop gets nulls for them", ['"Product"."description"'])
    ]
    ignored = [record.fields["columns"] for record in caplog.records if "not copied" in record.getMessage()]  # type: ignore[attr-defined]
    assert len(ignored) == 1 and '"Product"."weightGrams"' in ignored[0]


def test_a_value_the_shop_cannot_cast_fails_the_sync_and_nothing_of_it_is_applied(
    dw: WarehouseSettings, shop: Shop
) -> None:
    sync(dw, shop.settings)
    before = snapshot(dw)
    shop.run("""update "Brand" set name = 'Logitech G' where id = 'b1'""")  # copied before the items fail
    shop.run("""alter table "OrderItem" alter column price type text""")
    shop.run("""update "OrderItem" set price = 'free' where id = 'i3'""")

    summary = sync(dw, shop.settings)

    assert summary.status == "failed"
    assert 'reading "OrderItem" in schema public from the shop database' in (summary.message or "")
    assert 'invalid input syntax for type numeric: "free"' in (summary.message or "")
    assert snapshot(dw) == before


def test_an_unreachable_shop_fails_clearly_and_records_a_failed_run(dw: WarehouseSettings) -> None:
    port = free_port()  # nothing listens there
    settings = ShopDatabaseSettings("127.0.0.1", port, "postgres", None, "shop", "disable")

    summary = sync(dw, settings)

    assert summary.status == "failed"
    assert (summary.message or "").startswith(f"cannot connect to the shop database at 127.0.0.1:{port}")
    assert "SHOP_DB_URL" in (summary.message or "")
    assert query(dw, "select status, error, finished_at is not null from raw_shop.sync_runs") == [
        ("failed", summary.message, True)
    ]
    assert all(query(dw, f"select count(*) from raw_shop.{name}") == [(0,)] for name in TABLES)


def test_a_sync_without_the_run_lock_is_refused(dw: WarehouseSettings, shop: Shop) -> None:
    with connect(dw, autocommit=True) as conn, pytest.raises(ValueError, match="holding the run lock"):
        sync_shop(shop.settings, conn)


def test_a_sync_killed_midway_applies_nothing_and_the_next_run_marks_it_aborted(
    dw: WarehouseSettings, shop: Shop
) -> None:
    blocker = psycopg.connect(**shop.settings.conninfo())  # type: ignore[arg-type]
    blocker.execute('lock table "OrderItem" in access exclusive mode')  # the sync waits there, mid-transaction
    outcome: list[BaseException | ShopSyncSummary] = []
    backend: list[int] = []

    def run() -> None:
        try:
            with run_lock(dw) as (conn, _):
                backend.append(conn.info.backend_pid)
                outcome.append(sync_shop(shop.settings, conn))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not shop.rows(
            "select 1 from pg_stat_activity where application_name = 'clickstream-shop-sync' and wait_event_type = 'Lock'"
        ):
            assert time.monotonic() < deadline, "the sync never reached the locked table"
            time.sleep(0.05)
        assert query(dw, "select pg_terminate_backend(%s)", (backend[0],)) == [(True,)]  # the warehouse side dies
    finally:
        blocker.rollback()
        blocker.close()
        thread.join(30)

    assert len(outcome) == 1 and isinstance(outcome[0], psycopg.OperationalError), outcome
    assert all(query(dw, f"select count(*) from raw_shop.{name}") == [(0,)] for name in TABLES)
    assert query(dw, "select status from raw_shop.sync_runs") == [("running",)]

    summary = sync(dw, shop.settings)

    assert summary.status == "succeeded", summary.message
    assert query(
        dw, "select status, error like 'the sync stopped before finishing%' from raw_shop.sync_runs order by sync_id"
    ) == [
        ("aborted", True),
        ("succeeded", None),
    ]
    assert_mirrors(shop, dw)


def test_a_first_load_of_200k_order_items_streams_in_bounded_memory(
    dw: WarehouseSettings, make_shop: Callable[..., Shop]
) -> None:
    shop = make_shop(seed=False)
    shop.run("set session_replication_role = replica")  # no foreign-key checks while generating: a faster test
    shop.run(
        """insert into "Product" (id, name, slug, price, "updatedAt") values ('p1', 'MX', 'mx', 2490000, %s)""", (T0,)
    )
    shop.run(
        """insert into "Order" (id, "orderNumber", "totalPrice", "updatedAt")
        select 'cm' || substr(md5(g::text), 1, 23), 'DH-' || g, 1000 * g, %s::timestamp + g * interval '1 second'
        from generate_series(1, 50000) as g""",
        (T0,),
    )
    shop.run(
        """insert into "OrderItem" (id, "orderId", "productId", quantity, price)
        select 'cm' || substr(md5('item' || g), 1, 23), 'cm' || substr(md5((g % 50000 + 1)::text), 1, 23), 'p1',
            1 + g % 3, 100000 + g
        from generate_series(1, 200000) as g"""
    )
    size = shop.rows(
        """select (select sum(pg_column_size(o.*)) from "Order" as o) + (select sum(pg_column_size(i.*)) from "OrderItem" as i)"""
    )[0][0]

    tracemalloc.start()
    try:
        summary = sync(dw, shop.settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert summary.status == "succeeded", summary.message
    assert (summary.tables["orders"]["inserted"], summary.tables["order_items"]["inserted"]) == (50_000, 200_000)
    assert size > 20 * 2**20
    assert peak < 2 * 2**20, f"Python's peak was {peak / 2**20:.1f} MiB for {size / 2**20:.0f} MiB of rows"
