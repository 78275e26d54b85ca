"""A warehouse built step by step like the ETL does (load, shop sync, dbt build), for the dbt tests: traffic and the
orders it placed, hand-made requests and shop rows, snapshots to compare incremental runs with a full refresh."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

from loader import breaks as breaks_module
from loader.config import IngestSettings, LoaderSettings, ShopDatabaseSettings, WarehouseSettings
from loader.generate import TrafficGenerator
from loader.ingest import Collector, HttpRequest
from loader.load import Loader
from loader.rawstore import LocalStore
from loader.replay import replay
from loader.runlock import run_lock
from loader.shop import BROWSER_SAMPLE
from loader.shop_database import create_prisma_tables, seed_catalog
from loader.shop_orders import ShopOrders
from loader.shop_sync import sync_shop
from loader.transform import BUILD, PROJECT, DbtSummary, run_dbt

T = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
# Columns that legitimately differ between an incremental run and a full refresh (run bookkeeping, not data).
BOOKKEEPING_COLUMNS = {
    "intermediate.int_events_sessionized": ("recomputed_from", "recomputed_until"),
    "intermediate.int_clients_stitched": ("identity_changed_at",),
}
INCREMENTAL_MATERIALIZATIONS = ("clickstream_incremental", "incremental")


def incremental_models(target: Path) -> list[str]:
    """Every model the manifest says is built incrementally (schema.table), found, not listed by hand."""
    manifest = json.loads((target / "manifest.json").read_text())
    return sorted(
        f"{node['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] in INCREMENTAL_MATERIALIZATIONS
    )


class Warehouse:
    """A lake and a warehouse database, loaded and built step by step like the ETL does."""

    def __init__(
        self, home: Path, dw: WarehouseSettings, project: Path = PROJECT, load_since: datetime = T - timedelta(days=30)
    ) -> None:
        self.store = LocalStore(home / "lake", fsync=False)
        self.dw = dw
        self.load_since = load_since
        self.target = home / "target"
        self.project = project
        self.compared: list[str] = []
        self.shop = self._create_shop_database()

    def _create_shop_database(self) -> ShopDatabaseSettings:
        """The shop's database: ``<warehouse database>_shop`` on the same server, with Prisma's tables and the
        catalog (dropped with the warehouse's by the ``dw`` fixture's server at the end of the session)."""
        name = f"{self.dw.database}_shop"
        with psycopg.connect(**{**self.dw.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'drop database if exists "{name}" with (force)')
            conn.execute(f'create database "{name}"')
        shop = ShopDatabaseSettings(self.dw.host, self.dw.port, self.dw.user, self.dw.password, name, "disable")
        with psycopg.connect(**shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            create_prisma_tables(conn)
            seed_catalog(conn)
        return shop

    def add_traffic(
        self, events: int, days: float, seed: int, now: datetime, breaks: Sequence[breaks_module.Break] = ()
    ) -> None:
        """Generated visits through the collector, and the orders their checkouts placed in the shop database;
        loaded and synced. ``breaks``: tracking breaks injected into the traffic (:mod:`loader.breaks`)."""
        with psycopg.connect(**self.shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            orders = ShopOrders.open(conn, seed=seed, since=now - timedelta(days=days), now=now)
            generator = TrafficGenerator(events=events, days=days, seed=seed, now=now, place_order=orders.place_order)
            replay(breaks_module.inject(generator.requests(), breaks, seed), self.store)
            orders.write(conn)
        self.load()

    def shop_execute(self, sql: str, *params: Any) -> None:
        """A change in the shop's database (as the back office makes it), synced by the next :meth:`load`."""
        with psycopg.connect(**self.shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(sql, params)  # type: ignore[arg-type]

    def send(self, received_at: datetime, body: Any, user_agent: str = BROWSER_SAMPLE) -> None:
        """One request through the collector, received at ``received_at``."""
        collector = Collector(self.store, IngestSettings(), clock=lambda: received_at)
        request = HttpRequest("POST", headers={"user-agent": user_agent}, body=json.dumps(body).encode())
        assert collector.handle(request).status == 200

    def load(self) -> None:
        """Load the lake's new objects and sync the shop database, as an ETL run does before dbt."""
        with run_lock(self.dw) as (conn, acquired):
            assert acquired
            summary = Loader(self.store, self.dw, LoaderSettings(threads=4)).run(conn, since=self.load_since)
            synced = sync_shop(self.shop, conn, trigger="test")
        assert summary.status == "succeeded", summary
        assert synced.status == "succeeded", synced

    def build(self, *extra: str) -> DbtSummary:
        summary = run_dbt([*BUILD, "--quiet", *extra], self.dw, project=self.project, target_path=self.target)
        assert summary.success, summary.failures or summary.error
        return summary

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(**self.dw.conninfo()) as conn:  # type: ignore[arg-type]
            return conn.execute(sql, params).fetchall()

    def one(self, sql: str, *params: Any) -> Any:
        return self.query(sql, *params)[0][0]

    def snapshot(self) -> None:
        """Keep every incremental model's rows, to compare with a full refresh."""
        self.compared = incremental_models(self.target)
        with psycopg.connect(**self.dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute("drop schema if exists incremental_result cascade; create schema incremental_result")
            for relation in self.compared:
                conn.execute(
                    f"create table incremental_result.{relation.replace('.', '__')} as select * from {relation}"
                )

    def differences_from_snapshot(self, *, every_table_has_rows: bool = True) -> dict[str, int]:
        differences = {}
        for relation in self.compared:
            excluded = BOOKKEEPING_COLUMNS.get(relation, ())
            schema, table = relation.split(".")
            columns = ", ".join(
                name
                for (name,) in self.query(
                    "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
                    "and column_name <> 'dbt_processed_at' order by ordinal_position",
                    schema,
                    table,
                )
                if name not in excluded
            )
            saved = f"incremental_result.{relation.replace('.', '__')}"
            differences[relation] = self.one(
                f"select count(*) from ((select {columns} from {saved} except all select {columns} from {relation})"
                f" union all (select {columns} from {relation} except all select {columns} from {saved})) as d"
            )
            assert not every_table_has_rows or self.one(f"select count(*) from {relation}") > 0, relation
        return differences
