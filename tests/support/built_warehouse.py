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
from loader.shop_orders import ShopOrders, advance_orders
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

    def resend_session_starts_as_earlier_copies(self, sessions: int) -> int:
        """Copies of sessions' first events that reach the collector a moment before the stored copy but carry a
        later event time (no device clock this time): the loader keeps them (earliest received wins), and the
        event moves later, out of first place in its session."""
        rows = self.query(
            """
            select raw.payload, raw.received_at from marts.fct_sessions as sessions
            join marts.fct_events as events on events.session_key = sessions.session_key and events.event_at = sessions.started_at
            join raw.events as raw on raw.event_id = events.event_id
            where raw.received_at - raw.event_at > interval '2 minutes' and sessions.event_count > 2
            order by raw.event_id limit %s
            """,
            sessions,
        )
        for payload, received_at in rows:
            event = {k: v for k, v in payload.items() if k not in ("_ingest", "_enriched", "_contract", "timestamp")}
            self.send(received_at - timedelta(milliseconds=1), event, payload["_ingest"]["userAgent"])
        return len(rows)

    def change_orders_as_the_back_office_does(self, now: datetime) -> None:
        """Late order changes: every order moves on to its state twelve days later (cash on delivery paid, shipped,
        delivered, refunded), a tracked order is refunded, one is deleted with its items, one order moves to another
        user, a line is removed from another, and a late untracked order lands on the day fifteen days before ``now``."""
        with psycopg.connect(**self.shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            assert advance_orders(conn, now) > 0
        later = now.replace(tzinfo=None)
        matched = [order_id for (order_id,) in self.query(
            "select order_id from marts.fct_orders where match_method <> 'none' and revenue > 0 order by order_id limit 4"
        )]  # fmt: skip
        self.shop_execute(
            """update "Order" set status = 'refunded', "paymentStatus" = 'refunded', "updatedAt" = %s where id = %s""",
            later, matched[0],
        )  # fmt: skip
        self.shop_execute('delete from "Order" where id = %s', matched[1])
        self.shop_execute(
            """update "Order" set "userId" = null, "updatedAt" = %s where id = %s""", later, matched[2]
        )  # fmt: skip
        self.shop_execute(
            """delete from "OrderItem" where id = (select min(id) from "OrderItem" where "orderId" = %s)""", matched[3]
        )
        self.shop_execute("""update "Order" set "updatedAt" = %s where id = %s""", later, matched[3])
        self.shop_execute(
            """insert into "Order" values ('late-order', null, 'DH-LATE', 'delivered', 990000, 'paid', %s, %s)""",
            (now - timedelta(days=15)).replace(tzinfo=None), later,
        )  # fmt: skip
        self.shop_execute(
            """insert into "OrderItem" select 'late-order-1', 'late-order', id, 1, 990000 from "Product" limit 1"""
        )
        self.load()

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
