"""Bench section ``engines``: the whole dbt project built on Spark (local session, this machine's cores, Parquet
tables) beside the same build on PostgreSQL, from the same raw tables, at two sizes of generated shop traffic.

What a user waits for: the Spark build whole (copying the raw tables to the lake, ``dbt seed`` and ``dbt run`` in
one JVM), and its dbt commands alone; the reference is ``dbt seed`` + ``dbt run --full-refresh`` on PostgreSQL.
Then a late batch (1% more events, up to a day back) is loaded and built incrementally on both: on Spark, the new
loads appended to the lake and ``dbt run``, beside the Spark build whole it replaces.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.sections import Row, _fresh

SIZES = (50_000, 250_000)
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


def _warehouse(server: Any, work: Path, events: int) -> Any:
    """A database of ``events`` events of generated shop traffic and its orders, loaded and synced (a
    ``tests.support.built_warehouse.Warehouse``)."""
    import psycopg

    from tests.support.built_warehouse import Warehouse

    name = f"bench_engines_{events}"
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    dw = dataclasses.replace(server, database=name, embedded=False)
    warehouse = Warehouse(_fresh(work / name), dw, load_since=NOW - timedelta(days=30))
    warehouse.add_traffic(events=events, days=14, seed=7, now=NOW)
    return warehouse


def _postgres_build(dw: Any, target: Path, *, full: bool = True) -> float:
    from loader.transform import run_dbt

    commands = [["seed", "--quiet"], ["run", "--full-refresh", "--quiet"]] if full else [["run", "--quiet"]]
    started = time.perf_counter()
    for command in commands:
        summary = run_dbt(command, dw, target_path=target)
        assert summary.success, summary.failures or summary.error
    return time.perf_counter() - started


def engines(work: Path) -> list[Row]:
    from loader.spark_lake import copy_new_loads, copy_raw_tables, spark_session
    from loader.warehouse import EmbeddedWarehouse
    from tests.support import engines as compare

    settings = EmbeddedWarehouse(work.parent / "home").start()
    started = time.perf_counter()
    spark = spark_session(_fresh(work / "spark"))
    spark.sparkContext.setLogLevel("ERROR")
    jvm_seconds = time.perf_counter() - started
    rows: list[Row] = [
        {"name": "Spark session start (JVM, Hive catalog)", "value": round(jvm_seconds, 1), "unit": "s"},
    ]
    try:
        for events in SIZES:
            warehouse = _warehouse(settings, work, events)
            dw = warehouse.dw
            postgres = _postgres_build(dw, work / f"pg-target-{events}")
            started = time.perf_counter()
            copy_raw_tables(spark, dw)
            copied = time.perf_counter() - started
            dbt_seconds = compare.spark_build(spark, dw, work / f"spark-target-{events}", {}, copy=False)
            whole = copied + dbt_seconds
            label = f"{events // 1000}k events"
            reference = f"dbt seed + run --full-refresh on PostgreSQL, {label}"
            rows += [
                {
                    "name": f"dbt seed + run --full-refresh on PostgreSQL, {label}",
                    "value": round(postgres, 1),
                    "unit": "s",
                },
                {
                    "name": f"the whole Spark build (raw tables copied to the lake, dbt seed + run), {label}",
                    "value": round(whole, 1),
                    "unit": "s",
                    "reference": round(postgres, 1),
                    "reference_name": reference,
                    "ratio": round(whole / postgres, 2),
                },
                {"name": "  of which dbt seed + run on Spark", "value": round(dbt_seconds, 1), "unit": "s"},
                {"name": "  of which copying the raw tables", "value": round(copied, 1), "unit": "s"},
            ]
            late = events // 100
            warehouse.add_traffic(events=late, days=1, seed=8, now=NOW)
            postgres_incremental = _postgres_build(dw, work / f"pg-target-{events}", full=False)
            started = time.perf_counter()
            copy_new_loads(spark, dw)
            appended = time.perf_counter() - started
            incremental = appended + compare.spark_build(
                spark, dw, work / f"spark-target-{events}", {}, copy=False, seed=False
            )
            rows += [
                {
                    "name": f"dbt run (incremental) on PostgreSQL after {late} late events, {label}",
                    "value": round(postgres_incremental, 1),
                    "unit": "s",
                },
                {
                    "name": f"the Spark incremental run (new loads appended, dbt run) after {late} late events, {label}",
                    "value": round(incremental, 1),
                    "unit": "s",
                    "reference": round(whole, 1),
                    "reference_name": f"the whole Spark build, {label}",
                    "ratio": round(incremental / whole, 2),
                },
                {"name": "  of which appending the new loads to the lake", "value": round(appended, 1), "unit": "s"},
            ]
    finally:
        spark.stop()
    return rows
