"""Bench section ``dbt``: the full build on 1M events, and the scheduled incremental ``dbt build`` after new traffic
(and the orders it placed) at 1M and 5M of history, and after 1% new and changed orders alone. The histories are
generated, loaded, synced and built once and kept in databases of the bench's embedded servers."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.sections import NOW, Row, _batched_lake, _project_fingerprint, _settle

DAILY_EVENTS = 1_000_000 / 14  # history grows with time: 1M events = 14 days of the shop's traffic


def _shop_database(work: Path, name: str, *, fresh: bool) -> Any:
    """A shop database (Prisma's tables and the catalog) on the bench's embedded shop server; ``fresh``: emptied."""
    import dataclasses

    import psycopg

    from loader.shop_database import create_prisma_tables, seed_catalog
    from loader.warehouse import EmbeddedShopDatabase

    server = EmbeddedShopDatabase(work.parent / "home").start()
    shop = dataclasses.replace(server, database=name)
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
        if fresh:
            conn.execute(f'drop database if exists "{name}" with (force)')
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    with psycopg.connect(**shop.conninfo(), autocommit=True) as conn:
        create_prisma_tables(conn)
        seed_catalog(conn)
    return shop


def _load_and_sync(settings: Any, lake: Any, shop: Any, since: datetime | None = None) -> Any:
    """Load the lake's new objects and sync the shop database, as an ETL run does before dbt."""
    from loader.config import LoaderSettings
    from loader.load import Loader
    from loader.runlock import run_lock
    from loader.shop_sync import sync_shop

    with run_lock(settings) as (conn, acquired):
        assert acquired
        loaded = Loader(lake, settings, LoaderSettings()).run(conn, since=since)
        synced = sync_shop(shop, conn, trigger="bench")
    assert loaded.status == "succeeded", loaded
    assert synced.status == "succeeded", synced
    return loaded


def _warehouse_with_history(work: Path, events: int) -> tuple[Any, Any, datetime, int, Any]:
    """A database holding ``events`` of history and the orders it placed (loaded, synced and built once, then
    reused), its lake and its shop database."""
    import dataclasses

    import psycopg

    from loader.generate import TrafficGenerator
    from loader.rawstore import LocalStore
    from loader.shop_orders import ShopOrders
    from loader.transform import BUILD, run_dbt
    from loader.warehouse import EmbeddedWarehouse

    days = events / DAILY_EVENTS
    end = NOW
    pool = max(50, events // 18)
    server = EmbeddedWarehouse(work.parent / "home").start()
    database = f"bench_dbt_{events // 1000}k"
    settings = dataclasses.replace(server, database=database)
    shop_name = f"bench_dbt_shop_{events // 1000}k"
    admin = {**server.conninfo(), "dbname": "postgres"}
    lake = LocalStore(work / f"lake-{events // 1000}k", fsync=False)
    target = work / f"target-{events // 1000}k"
    fingerprint = work / f"fingerprint-{events // 1000}k"
    with psycopg.connect(**admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
    if exists:
        with psycopg.connect(**settings.conninfo()) as conn:
            loaded = (
                conn.execute("select to_regclass('raw.events') is not null").fetchone()[0]
                and conn.execute("select count(*) >= %s from raw.events", (events * 0.99,)).fetchone()[0]
                and conn.execute("select to_regclass('raw_shop.orders') is not null").fetchone()[0]
                and conn.execute("select count(*) > 0 from raw_shop.orders").fetchone()[0]
            )
        if loaded:  # continue after the newest event, so this run's new traffic is new
            current = _project_fingerprint()
            if not fingerprint.exists() or fingerprint.read_text() != current:
                print(f"   the dbt project changed: rebuilding {events:,} events of history", flush=True)
                built = run_dbt([*BUILD, "--quiet", "--full-refresh"], settings, target_path=target)
                assert built.success, built.failures
                _settle(settings)
                fingerprint.write_text(current)
            with psycopg.connect(**settings.conninfo()) as conn:
                newest = conn.execute("select max(received_at) from raw.events").fetchone()[0]
            return settings, lake, newest, pool, _shop_database(work, shop_name, fresh=False)
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {database} with (force)")
        conn.execute(f"create database {database}")
    shutil.rmtree(lake.root, ignore_errors=True)
    print(f"   building {events:,} events of history ({days:.0f} days) and their orders; this is cached for later runs",
          flush=True)  # fmt: skip
    shop = _shop_database(work, shop_name, fresh=True)
    with psycopg.connect(**shop.conninfo(), autocommit=True) as shop_conn:
        orders = ShopOrders.open(shop_conn, seed=7, since=end - timedelta(days=days), now=end)
        generator = TrafficGenerator(
            events=events, days=days, seed=7, now=end, client_pool=pool, place_order=orders.place_order
        )
        _batched_lake(generator, lake)
        orders.write(shop_conn)
    _load_and_sync(settings, lake, shop)
    built = run_dbt([*BUILD, "--quiet"], settings, target_path=target)
    assert built.success, built.failures
    _settle(settings)
    fingerprint.write_text(_project_fingerprint())
    return settings, lake, end, pool, shop


# The models behind attribution and customers, rebuilt whole by every build (the Markov chain over its window).
ATTRIBUTION_MODELS = ("int_attribution_chain_paths", "int_markov_removal_effects", "attribution_paths",
                      "attribution_channel_daily", "attribution_campaign_daily", "dim_customers",
                      "client_lifecycle_weekly")  # fmt: skip


# The data health models (marts.data_health_hourly and what only it and the Data health page read).
HEALTH_MODELS = ("stg_clickstream__payload_fields", "stg_clickstream__rejected_events", "stg_clickstream__etl_runs",
                 "int_events_counted_by_hour", "data_health_hourly", "rejected_events_daily", "etl_runs")  # fmt: skip


def _model_seconds(target: Path, names: tuple[str, ...]) -> float:
    """Seconds the last build at ``target`` spent building the models ``names`` (dbt's run_results.json)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return sum(
        r["execution_time"]
        for r in results
        if r["unique_id"].split(".")[-1] in names and r["unique_id"].startswith("model.")
    )


def _timed_build(settings: Any, target: Path, *extra: str) -> float:
    """Seconds of one ``dbt build`` (models and data tests, no unit tests): what the scheduled ETL runs."""
    from loader.transform import BUILD, run_dbt

    built = run_dbt([*BUILD, "--quiet", *extra], settings, target_path=target)
    assert built.success, built.failures
    return built.seconds


def _add_traffic(settings: Any, lake: Any, end: datetime, pool: int, events: int, shop: Any) -> datetime:
    """``events`` new events after ``end`` (the same audience) and the orders they placed, loaded and synced; returns
    the new end."""
    import psycopg

    from loader.generate import TrafficGenerator
    from loader.shop_orders import ShopOrders

    start, end = end, end + timedelta(hours=events / DAILY_EVENTS * 24)
    seed = int(end.timestamp()) % 100_000 + events
    with psycopg.connect(**shop.conninfo(), autocommit=True) as shop_conn:
        orders = ShopOrders.open(shop_conn, seed=seed, since=start, now=end)
        generator = TrafficGenerator(
            events=events, days=events / DAILY_EVENTS, seed=seed, now=end, client_pool=pool,
            place_order=orders.place_order,
        )  # fmt: skip
        _batched_lake(generator, lake)
        orders.write(shop_conn)
    loaded = _load_and_sync(settings, lake, shop, since=end - timedelta(days=2))
    assert loaded.events > events * 0.95, loaded
    return end


def _change_orders(settings: Any, shop: Any, share: float = 0.01) -> tuple[int, float]:
    """``share`` of the shop's orders added (untracked: their visitors blocked the tracker) and as many changed (a
    refund, a payment arriving), no new events; synced. Returns (orders added or changed, the sync's seconds)."""
    import psycopg

    from loader.runlock import run_lock
    from loader.shop_sync import sync_shop

    with psycopg.connect(**shop.conninfo(), autocommit=True) as conn:
        total, newest = conn.execute('select count(*), max("updatedAt") from "Order"').fetchone()
        count = max(1, int(total * share))
        stamp = newest + timedelta(seconds=1)
        added = conn.execute(
            """insert into "Order" select 'late-' || md5(id || %(stamp)s::text), "userId",
                   'L' || substr(md5(id || %(stamp)s::text), 1, 12), 'confirmed', "totalPrice", 'paid', %(stamp)s,
                   %(stamp)s from "Order" order by md5(id || 'added') limit %(count)s""",
            {"stamp": stamp, "count": count},
        ).rowcount
        conn.execute(
            """insert into "OrderItem" select 'late-' || md5(o.id || %(stamp)s::text) || '-' || i.id,
                   'late-' || md5(o.id || %(stamp)s::text), i."productId", i.quantity, i.price
               from "Order" as o join "OrderItem" as i on i."orderId" = o.id
               where o.id in (select id from "Order" order by md5(id || 'added') limit %(count)s)""",
            {"stamp": stamp, "count": count},
        )
        changed = conn.execute(
            """update "Order" set status = 'refunded', "paymentStatus" = 'refunded', "updatedAt" = %(stamp)s
               where id in (select id from "Order" where status <> 'refunded' and id not like 'late-%%'
                            order by md5(id || %(stamp)s::text) limit %(count)s)""",
            {"stamp": stamp, "count": count},
        ).rowcount
    with run_lock(settings) as (conn, acquired):
        assert acquired
        started = time.perf_counter()
        synced = sync_shop(shop, conn, trigger="bench")
        seconds = time.perf_counter() - started
    assert synced.status == "succeeded", synced
    return added + changed, seconds


def dbt(work: Path) -> list[Row]:
    """Full build on 1M events; the scheduled incremental ``dbt build`` after new traffic, at 1M and 5M of history.
    Incremental runs at 1M and 5M alternate over three rounds after a warm-up (medians), so machine noise hits
    both alike."""
    from statistics import median

    from loader.transform import HEALTH_CHECKS, run_dbt

    work.mkdir(parents=True, exist_ok=True)
    history = {events: _warehouse_with_history(work, events) for events in (1_000_000, 5_000_000)}
    ends = {events: history[events][2] for events in history}

    def target(events: int) -> Path:
        return work / f"target-{events // 1000}k"

    settings_1m = history[1_000_000][0]
    full = _timed_build(settings_1m, target(1_000_000), "--full-refresh")
    _settle(settings_1m)
    print(f"   full build on 1M: {full:.1f}s", flush=True)
    runs: dict[tuple[int, int], list[float]] = {}
    # the first run of each history is a warm-up (caches, and the page images the first writes after a
    # rebuild's checkpoint log), not counted: the scheduled ETL runs against a warehouse that is in use
    plan = [(events, 10_000) for _ in range(4) for events in history] + [(5_000_000, 50_000)]
    for number, (events, delta) in enumerate(plan):
        settings, lake, _, pool, shop = history[events]
        ends[events] = _add_traffic(settings, lake, ends[events], pool, delta, shop)
        seconds = _timed_build(settings, target(events))
        warm_up = number < len(history)
        if not warm_up:
            runs.setdefault((events, delta), []).append(seconds)
        print(f"   +{delta // 1000}k on {events // 1_000_000}M history: {seconds:.1f}s{' (warm-up)' if warm_up else ''}",
              flush=True)  # fmt: skip
    attribution = _model_seconds(target(1_000_000), ATTRIBUTION_MODELS)  # of the last build on 1M history
    health_models = _model_seconds(target(1_000_000), HEALTH_MODELS)
    checks = run_dbt([*HEALTH_CHECKS, "--quiet"], settings_1m, target_path=target(1_000_000))  # what the ETL runs next
    assert checks.error is None, checks.error
    one_m, five_m = median(runs[(1_000_000, 10_000)]), median(runs[(5_000_000, 10_000)])
    one_percent_of_5m = median(runs[(5_000_000, 50_000)])
    # 1% new and 1% changed orders alone (no events): the shop sync, then the build that carries them to the marts
    settings, _, _, _, shop = history[1_000_000]
    order_runs = []
    for _ in range(3):
        changed, sync_seconds = _change_orders(settings, shop)
        order_runs.append((sync_seconds, _timed_build(settings, target(1_000_000))))
        print(f"   1% orders ({changed:,} new or changed) on 1M: sync {order_runs[-1][0]:.1f}s, build"
              f" {order_runs[-1][1]:.1f}s", flush=True)  # fmt: skip
    orders_sync, orders_build = median(r[0] for r in order_runs), median(r[1] for r in order_runs)

    def row(name: str, value: float, reference: float, reference_name: str, goal: str) -> Row:
        return {"name": name, "value": round(value, 1), "unit": "s", "reference": round(reference, 1),
                "reference_name": reference_name, "ratio": round(value / reference, 3), "goal": goal}  # fmt: skip

    return [
        {"name": "dbt full build (models + data tests, --full-refresh), 1M events", "value": round(full, 1), "unit": "s"},
        row("dbt incremental build, +10k (1%) on 1M history", one_m, full, "full build, 1M", "<= 0.1"),
        row("dbt incremental build, +10k on 5M history", five_m, one_m, "+10k on 1M history", "<= 1.5"),
        row("dbt incremental build, +50k (1%) on 5M history", one_percent_of_5m, one_m, "+10k (1%) on 1M history",
            "<= 1.5"),
        row("shop sync + dbt build after 1% new and 1% changed orders (no events), 1M history",
            orders_sync + orders_build, one_m, "+10k (1%) events on 1M history", "<= 1.0"),
        {"name": "  of which the shop sync", "value": round(orders_sync, 2), "unit": "s"},
        row("attribution and customers (Markov chain over markov_window_days) in the +10k build on 1M history",
            attribution, one_m, "the whole +10k build on 1M history", ""),
        row("data health models (payload fields, hourly counts, data_health_hourly, rejected events, ETL runs) in"
            " the +10k build on 1M history", health_models, one_m, "the whole +10k build on 1M history", ""),
        row("health checks after that build (dbt test --select tag:health, as the ETL runs them)", checks.seconds,
            one_m, "the +10k build on 1M history", ""),
    ]  # fmt: skip
