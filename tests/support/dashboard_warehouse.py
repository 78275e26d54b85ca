"""Warehouses for the dashboard tests: a database on the session's embedded PostgreSQL, built like the ETL does, with
a shop database beside it (another database on the same server) holding the orders the traffic placed."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from loader.ad_spend import import_spend
from loader.config import LoaderSettings, ShopDatabaseSettings, WarehouseSettings
from loader.generate import TrafficGenerator
from loader.load import Loader, LoadSummary
from loader.rawstore import LocalStore
from loader.replay import replay
from loader.runlock import run_lock
from loader.schema import migrate
from loader.shop import ad_spend_csv
from loader.shop_database import create_prisma_tables
from loader.shop_orders import ShopOrders
from loader.shop_sync import sync_shop
from loader.transform import BUILD, run_dbt

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
# (events, days, seed): two weeks of traffic, then a busier last three days from a second seed.
TRAFFIC = ((5000, 14, 21), (1500, 3, 22))


def create_database(server: WarehouseSettings) -> WarehouseSettings:
    name = f"dash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'create database "{name}"')
    return dataclasses.replace(server, database=name, embedded=False)


def drop_database(server: WarehouseSettings, settings: WarehouseSettings) -> None:
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{settings.database}" with (force)')
        conn.execute(f'drop database if exists "{settings.database}_shop" with (force)')


def shop_database(settings: WarehouseSettings) -> ShopDatabaseSettings:
    """The shop database of the warehouse ``settings``: ``<database>_shop`` on the same server, created if missing."""
    name = f"{settings.database}_shop"
    with psycopg.connect(**{**settings.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    return ShopDatabaseSettings(settings.host, settings.port, settings.user, settings.password, name, "disable")


def build(settings: WarehouseSettings, root: Path, traffic: Sequence[tuple[int, float, int]] = TRAFFIC) -> None:
    """Generate ``traffic`` into a lake under ``root`` and its orders into the shop database, load and sync them,
    and run dbt build (no traffic: empty marts)."""
    store = LocalStore(root / "lake", fsync=False)
    (root / "lake" / store.prefix).mkdir(parents=True, exist_ok=True)
    shop = shop_database(settings)
    with psycopg.connect(**shop.conninfo(), autocommit=True) as shop_conn:  # type: ignore[arg-type]
        create_prisma_tables(shop_conn)  # empty without traffic
        for events, days, seed in traffic:
            orders = ShopOrders.open(shop_conn, seed=seed, since=NOW - timedelta(days=days), now=NOW)
            replay(
                TrafficGenerator(
                    events=events, days=days, seed=seed, now=NOW, place_order=orders.place_order
                ).requests(),
                store,
            )
            orders.write(shop_conn)
    if traffic:  # the paid campaigns' spend over the traffic's days (ROAS)
        days = max(days for _, days, _ in traffic)
        spend = root / "ad-spend.csv"
        spend.write_text(ad_spend_csv((NOW - timedelta(days=days)).date(), NOW.date()))
        with psycopg.connect(**settings.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            migrate(conn)
            import_spend(conn, spend)
    with run_lock(settings) as (conn, acquired):
        summary = Loader(store, settings, LoaderSettings(threads=4)).run(conn) if acquired else LoadSummary.lock_taken()
        synced = sync_shop(shop, conn, trigger="test") if acquired else None
    assert summary.status in ("succeeded", "skipped"), summary
    assert synced is not None and synced.status == "succeeded", synced
    result = run_dbt([*BUILD, "--quiet"], settings, target_path=root / "target")
    assert result.success, result.failures or result.error


def query(settings: WarehouseSettings, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql``, straight through psycopg (the tests' independent path to the warehouse)."""
    with psycopg.connect(**settings.conninfo()) as conn:  # type: ignore[arg-type]
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
