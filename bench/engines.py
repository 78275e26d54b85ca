"""Bench section ``engines``: the whole dbt project built on Spark (local session, this machine's cores, Parquet
tables) beside the same build on PostgreSQL, from the same raw tables, at two sizes of generated shop traffic.

What a user waits for: the Spark build whole (copying the raw tables to the lake, ``dbt seed`` and ``dbt run`` in
one JVM), and its dbt commands alone; the reference is ``dbt seed`` + ``dbt run --full-refresh`` on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.sections import Row, _fresh

SIZES = (50_000, 250_000)


def _warehouse(server: Any, work: Path, events: int) -> Any:
    """A database of ``events`` events of generated shop traffic and its orders, loaded and synced."""
    import psycopg

    from tests.support.built_warehouse import Warehouse

    name = f"bench_engines_{events}"
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    dw = dataclasses.replace(server, database=name, embedded=False)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    warehouse = Warehouse(_fresh(work / name), dw, load_since=now - timedelta(days=30))
    warehouse.add_traffic(events=events, days=14, seed=7, now=now)
    return dw


def _postgres_build(dw: Any, target: Path) -> float:
    from loader.transform import run_dbt

    started = time.perf_counter()
    for command in (["seed", "--quiet"], ["run", "--full-refresh", "--quiet"]):
        summary = run_dbt(command, dw, target_path=target)
        assert summary.success, summary.failures or summary.error
    return time.perf_counter() - started


def engines(work: Path) -> list[Row]:
    from loader.spark_lake import copy_raw_tables, spark_session
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
            dw = _warehouse(settings, work, events)
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
    finally:
        spark.stop()
    return rows
