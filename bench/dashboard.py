"""Bench section ``dashboard``: p95 latency of every dashboard query on a warehouse of 1M events.

Each query runs ``runs`` times with varied filters (ranges of 1 to 14 days ending on different days, every login
state and device class, all); the reference, measured in the same run, is ``select count(*) from marts.fct_events``.
The warehouse (generate → load → shop sync → dbt build, several minutes) is kept in database ``bench_dashboard`` of
the bench's embedded PostgreSQL and reused while it holds the dataset. Its shop orders (for the Revenue page) are
those the generated checkouts placed, written into database ``bench_dashboard_shop`` beside it and synced; its ad
spend (for ROAS on the Acquisition page) the demo's paid campaigns over the dataset's 14 days.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

Row = dict[str, Any]
DATABASE = "bench_dashboard"
SHOP_DATABASE = "bench_dashboard_shop"
GOAL_MS = 150


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]


def _add_orders(server: Any, settings: Any, events_total: int) -> int:
    """The shop's orders for the bench's traffic, synced into the warehouse ``settings``: the generator that made the
    dataset (same seed and clock) replayed for its checkouts, each placing an order in a fresh shop database on
    ``server`` (plus the orders of visitors who blocked the tracker). The dataset's events carry no order ids, so
    orders match by user and time, as with a storefront that does not send them."""
    import psycopg

    from bench.sections import NOW
    from loader.config import ShopDatabaseSettings
    from loader.generate import TrafficGenerator
    from loader.runlock import run_lock
    from loader.shop_orders import ShopOrders
    from loader.shop_sync import sync_shop

    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f"drop database if exists {SHOP_DATABASE} with (force)")
        conn.execute(f"create database {SHOP_DATABASE}")
    shop = ShopDatabaseSettings(server.host, server.port, server.user, server.password, SHOP_DATABASE, "disable")
    with psycopg.connect(**shop.conninfo(), autocommit=True) as shop_conn:  # type: ignore[arg-type]
        orders = ShopOrders.open(shop_conn, seed=42, since=NOW - timedelta(days=14), now=NOW)
        generator = TrafficGenerator(events=events_total, days=14, seed=42, now=NOW, place_order=orders.place_order)
        for _ in generator.requests():
            pass
        written = orders.write(shop_conn)
    with run_lock(settings) as (conn, acquired):
        assert acquired, "another run holds the bench warehouse's run lock"
        synced = sync_shop(shop, conn, trigger="bench")
    assert synced.status == "succeeded", synced
    return written.orders


def _add_spend(settings: Any, work: Path) -> int:
    """The demo's ad spend for the dataset's days, imported into ``raw.ad_spend`` of ``settings`` (as
    ``clickstream ad-spend import`` does): rows imported."""
    import psycopg

    from bench.sections import NOW
    from loader.ad_spend import import_spend
    from loader.schema import migrate
    from loader.shop import ad_spend_csv

    path = work / "ad-spend.csv"
    path.write_text(ad_spend_csv((NOW - timedelta(days=14)).date(), NOW.date()))
    with psycopg.connect(**settings.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        migrate(conn)
        added, replaced = import_spend(conn, path)
    return added + replaced


def _warehouse(work: Path, events_total: int) -> Any:
    """Settings of a database holding ``events_total`` generated events, loaded and built (cached)."""
    import psycopg

    from bench.sections import _dataset, _fresh, _layout, _project_fingerprint, _settle
    from loader.config import LoaderSettings
    from loader.load import Loader, LoadSummary
    from loader.rawstore import LocalStore
    from loader.runlock import run_lock
    from loader.transform import BUILD, run_dbt
    from loader.warehouse import EmbeddedWarehouse

    server = EmbeddedWarehouse(work.parent / "home").start()
    settings = dataclasses.replace(server, database=DATABASE, embedded=False)
    admin = {**server.conninfo(), "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchall()
        if not exists:
            conn.execute(f"create database {DATABASE}")
    with psycopg.connect(**settings.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        loaded = 0
        if conn.execute("select to_regclass('raw.load_manifest') is not null").fetchall()[0][0]:
            loaded = conn.execute("select count(*) from raw.load_manifest").fetchall()[0][0]
        built = conn.execute("select to_regclass('marts.retention_weekly') is not null").fetchall()[0][0]
        has_orders = conn.execute("select to_regclass('raw_shop.orders') is not null").fetchall()[0][0]
        if has_orders:  # names a table only once it exists (a fresh database has no schema raw_shop yet)
            has_orders = conn.execute("select exists (select 1 from raw_shop.orders)").fetchall()[0][0]
        has_spend = conn.execute("select to_regclass('raw.ad_spend') is not null").fetchall()[0][0]
        if has_spend:
            has_spend = conn.execute("select exists (select 1 from raw.ad_spend)").fetchall()[0][0]
    fingerprint = work / "fingerprint"
    if built and (not fingerprint.exists() or fingerprint.read_text() != _project_fingerprint()):
        print("   the dbt project changed: rebuilding the marts", flush=True)
        result = run_dbt([*BUILD, "--quiet", "--full-refresh"], settings, target_path=work / "target")
        assert result.success, result.failures or result.error
        _settle(settings)
        fingerprint.write_text(_project_fingerprint())
    objects = -(-events_total // 50)
    if loaded != objects:
        print(f"   building the {events_total:,}-event warehouse (cached afterwards; several minutes)", flush=True)
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f"drop database if exists {DATABASE} with (force)")
            conn.execute(f"create database {DATABASE}")
        store = LocalStore(_fresh(work / "lake"), fsync=False)
        for key, body in _layout(_dataset(work, events_total), 50):
            store.put(key, body)
        started = time.perf_counter()
        with run_lock(settings) as (conn, acquired):
            summary = Loader(store, settings, LoaderSettings()).run(conn) if acquired else LoadSummary.lock_taken()
        assert summary.status == "succeeded", summary
        print(f"   loaded {summary.events:,} events in {time.perf_counter() - started:.0f}s", flush=True)
        built, has_orders, has_spend = False, False, False
    if not has_orders:
        started = time.perf_counter()
        orders = _add_orders(server, settings, events_total)
        print(f"   {orders:,} shop orders placed and synced in {time.perf_counter() - started:.0f}s", flush=True)
        built = False
    if not has_spend:
        print(f"   {_add_spend(settings, work):,} days × campaigns of ad spend imported", flush=True)
        built = False
    if not built:
        started = time.perf_counter()
        result = run_dbt([*BUILD, "--quiet"], settings, target_path=work / "target")
        assert result.success, result.failures or result.error
        _settle(settings)
        fingerprint.write_text(_project_fingerprint())
        print(f"   dbt build in {time.perf_counter() - started:.0f}s", flush=True)
    return settings


def _filter_variants(pool: Any, count: int, seed: int = 7) -> list[Any]:
    from dashboard import vocabulary
    from dashboard.filters import Filters
    from dashboard.warehouse import data_bounds

    bounds = data_bounds(pool)
    first, last = bounds["first_date"], bounds["last_date"]
    assert first is not None and last is not None, "the bench warehouse has no sessions"
    shop = vocabulary.read(pool)  # the filters' choices, as the dashboard offers them
    login_states, device_classes = list(shop.login_states), list(shop.device_classes)
    rng = random.Random(seed)
    variants = []
    for index in range(count):
        days = (1, 3, 7, 7, 14)[index % 5]
        end = last - timedelta(days=rng.randrange(0, max(1, (last - first).days - days + 2)))
        variants.append(
            Filters(
                start=max(first, end - timedelta(days=days - 1)),
                end=end,
                login_state=rng.choice((None, None, *login_states)),
                device_class=rng.choice((None, None, *device_classes[:3])),
            )
        )
    return variants


def _queries(pool: Any) -> dict[str, Callable[[Any], Any]]:
    from dashboard import (
        acquisition_queries,
        customers,
        events,
        freshness,
        funnel,
        health,
        journeys,
        overview,
        products,
        retention,
        revenue,
        warehouse,
    )

    with pool.connection() as conn:
        client = conn.execute(
            "select client_id from marts.dim_clients order by event_count desc, client_id limit 1"
        ).fetchone()[0]
    return {
        "warehouse_state": lambda f: warehouse.state(pool),
        "data_bounds": lambda f: warehouse.data_bounds(pool),
        "pipeline_status": lambda f: freshness.pipeline_status(pool),
        "kpis (with previous period)": lambda f: overview.kpis(pool, f),
        "timeseries": lambda f: overview.timeseries(pool, f),
        "revenue state": lambda f: revenue.state(pool),
        "revenue order bounds": lambda f: revenue.order_bounds(pool),
        "revenue kpis (with previous period)": lambda f: revenue.kpis(pool, f),
        "revenue untracked orders": lambda f: revenue.untracked(pool, f),
        "revenue by day": lambda f: revenue.daily(pool, f),
        "revenue by device class": lambda f: revenue.by_segment(pool, f, "device_class"),
        "revenue by login state": lambda f: revenue.by_segment(pool, f, "login_state"),
        "abandoned carts": lambda f: revenue.carts(pool, f),
        "products by revenue": lambda f: revenue.products(pool, f),
        "acquisition state": lambda f: acquisition_queries.state(pool),
        "acquisition kpis (with previous period)": lambda f: acquisition_queries.kpis(pool, f),
        "acquisition by channel": lambda f: acquisition_queries.traffic(pool, f, "channel"),
        "acquisition by source / medium": lambda f: acquisition_queries.traffic(pool, f, "source_medium"),
        "acquisition by campaign": lambda f: acquisition_queries.traffic(pool, f, "campaign"),
        "attribution, every model by channel": lambda f: acquisition_queries.attribution(pool, f),
        "attribution by campaign (one model)": lambda f: acquisition_queries.attribution_campaigns(pool, f, "markov"),
        "attributed orders": lambda f: acquisition_queries.attributed_orders(pool, f),
        "funnel": lambda f: funnel.steps(pool, f),
        "products": lambda f: products.ranking(pool, f, "product"),
        "categories (top 10)": lambda f: products.ranking(pool, f, "category", "add_to_carts", 10),
        "brands (top 10)": lambda f: products.ranking(pool, f, "brand", "views", 10),
        "journeys": lambda f: journeys.transitions(pool, f),
        "retention": lambda f: retention.cohorts(pool, f),
        "customers state": lambda f: customers.state(pool),
        "customers kpis (all)": lambda f: customers.kpis(pool, f),
        "customers kpis (first order in the range, with previous period)": lambda f: customers.kpis(
            pool, f, "acquired"
        ),
        "customers by RFM segment": lambda f: customers.segments(pool, f),
        "customers R × FM grid": lambda f: customers.score_grid(pool, f),
        "customers by first order's channel": lambda f: customers.first_orders(pool, f, "channel"),
        "customers by first order's device (first order in the range)": lambda f: customers.first_orders(
            pool, f, "device_class", "acquired"
        ),
        "client lifecycle by week": lambda f: customers.lifecycle(pool, f),
        "events page 1": lambda f: events.newest(pool, f),
        "events page 20": lambda f: events.newest(pool, f, page=19),
        "events search client id": lambda f: events.newest(pool, f, client),
        "events search event name": lambda f: events.newest(pool, f, "checkout_complete"),
        "health state": lambda f: health.state(pool),
        "health hours": lambda f: health.hours(pool, f),
        "health status now": lambda f: health.status(pool),
        "health etl runs": lambda f: health.runs(pool),
        "health rejected by reason": lambda f: health.rejected(pool, f),
    }


def dashboard(work: Path, events_total: int = 1_000_000, runs: int = 30) -> list[Row]:
    """p95 of each dashboard query at ``events_total`` events vs ``count(*)`` of fct_events, same run."""
    from dashboard.db import open_pool

    work.mkdir(parents=True, exist_ok=True)
    settings = _warehouse(work, events_total)
    pool = open_pool(settings)  # the dashboard's own pool (4 connections)
    try:
        with pool.connection() as conn:
            events, sessions, orders, carts = conn.execute(
                "select (select count(*) from marts.fct_events), (select count(*) from marts.fct_sessions),"
                " (select count(*) from marts.fct_orders), (select count(*) from marts.fct_carts)"
            ).fetchall()[0]
        variants = _filter_variants(pool, runs)

        def measure(call: Callable[[Any], Any]) -> float:
            call(variants[0])  # warm: plans, caches
            samples = []
            for filters in variants:
                started = time.perf_counter()
                call(filters)
                samples.append((time.perf_counter() - started) * 1000)
            return _p95(samples)

        def count_events(_: Any) -> None:
            with pool.connection() as conn:
                conn.execute("select count(*) from marts.fct_events").fetchone()

        reference = measure(count_events)
        reference_name = "select count(*) from marts.fct_events, p95"
        rows: list[Row] = [
            {
                "name": f"dashboard warehouse: {events:,} events, {sessions:,} sessions, {orders:,} orders,"
                f" {carts:,} carts in the marts",
                "value": events,
                "unit": "events",
            },
            {"name": reference_name, "value": round(reference, 2), "unit": "ms"},
        ]
        for name, call in _queries(pool).items():
            value = measure(call)
            rows.append(
                {
                    "name": f"dashboard query {name}, p95",
                    "value": round(value, 2),
                    "unit": "ms",
                    "reference": round(reference, 2),
                    "reference_name": reference_name,
                    "ratio": round(value / reference, 3),
                    "goal": f"<= {GOAL_MS} ms",
                }
            )
            print(f"   {name}: p95 {value:.1f} ms (reference {reference:.1f} ms)", flush=True)
        return rows
    finally:
        pool.close()


if __name__ == "__main__":
    import sys

    ROOT = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(ROOT))
    for row in dashboard(ROOT / ".clickstream" / "bench" / "dashboard"):
        print(row)
