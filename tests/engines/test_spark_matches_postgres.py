"""The whole dbt project on Spark (local session, Parquet tables) from the raw events the Postgres warehouse was
loaded with, built whole and then incrementally after late events, earlier-received copies and the back office's
order changes: every mart holds the same rows on both engines (`make test-engines`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loader.config import WarehouseSettings
from loader.spark_lake import copy_new_loads
from tests.support import engines
from tests.support.built_warehouse import Warehouse

pyspark = pytest.importorskip("pyspark", reason="the engines extra (pip install -e '.[engines]') is not installed")

# Traffic that ended two days before the builds: every cart is decided (ordered or abandoned) on both engines.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
VARS = {"health_as_of": (NOW + timedelta(hours=1)).isoformat()}


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pyspark.sql.SparkSession]:
    from loader.spark_lake import spark_session

    os.environ["TZ"] = "UTC"  # pyspark turns Spark's timestamps into the process's local time
    time.tzset()
    # one core: under `make test` the other pytest worker runs beside it
    session = spark_session(tmp_path_factory.mktemp("spark-warehouse"), cores=1)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def both_built(
    pg_server: WarehouseSettings, spark: pyspark.sql.SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[WarehouseSettings, Path]:
    """Generated shop traffic with its orders, loaded and built on Postgres, then built on Spark from the same raw
    tables; then late changes, built incrementally on both (Spark reads the new loads appended to its lake)."""
    import dataclasses

    import psycopg

    home = tmp_path_factory.mktemp("engines")
    name = "engines"
    with psycopg.connect(**{**pg_server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    dw = dataclasses.replace(pg_server, database=name, embedded=False)
    warehouse = Warehouse(home, dw, load_since=NOW - timedelta(days=10))
    warehouse.add_traffic(events=5000, days=8, seed=20, now=NOW)
    warehouse.build("--full-refresh", "--vars", json.dumps(VARS))
    target = home / "spark-target"
    engines.spark_build(spark, dw, target, VARS)

    warehouse.add_traffic(events=1000, days=2, seed=21, now=NOW)  # late: the same visitors, up to two days back
    assert warehouse.resend_session_starts_as_earlier_copies(15) > 5
    warehouse.load()
    warehouse.change_orders_as_the_back_office_does(now=NOW + timedelta(days=12))
    warehouse.build("--vars", json.dumps(VARS))
    copy_new_loads(spark, dw)
    engines.spark_build(spark, dw, target, VARS, copy=False, seed=False)
    return dw, target


def test_every_mart_holds_the_same_rows_on_spark_and_postgres(
    both_built: tuple[WarehouseSettings, Path], spark: pyspark.sql.SparkSession
) -> None:
    dw, target = both_built
    relations = engines.compared_relations(target)
    assert len(relations) >= 25, relations  # the marts, found in the manifest, not listed by hand
    differences = [found for relation in relations if (found := engines.difference(spark, dw, relation))]
    assert not differences, "\n".join(map(repr, differences))
    empty = [relation for relation in relations if spark.table(relation).count() == 0]
    assert len(empty) <= 3, f"marts with no rows compare nothing: {empty}"


def test_the_second_spark_run_recomputed_only_what_the_late_changes_touched(
    both_built: tuple[WarehouseSettings, Path], spark: pyspark.sql.SparkSession
) -> None:
    import psycopg

    dw, _ = both_built

    def latest_run_share(relation: str) -> tuple[int, int]:
        row = spark.sql(
            f"select count_if(dbt_processed_at = (select max(dbt_processed_at) from {relation})), count(*) from {relation}"
        ).first()
        return row[0], row[1]

    with psycopg.connect(**dw.conninfo()) as conn:  # type: ignore[arg-type]
        first_load_events = conn.execute(
            "select count(*) from raw.events where load_id = (select min(load_id) from raw.events)"
        ).fetchone()[0]  # type: ignore[index]
        postgres_events = conn.execute("select count(*) from raw.events").fetchone()[0]  # type: ignore[index]
    assert spark.table("raw.events").count() == postgres_events, "an earlier-received copy replaces, never adds"
    staged, _ = latest_run_share("staging.stg_clickstream__events")
    assert 0 < staged <= postgres_events - first_load_events, "staging read the new loads only"
    for relation in ("intermediate.int_events_sessionized", "marts.fct_sessions"):
        recomputed, rows = latest_run_share(relation)
        assert 0 < recomputed < rows / 2, f"{relation}: {recomputed} of {rows} rows recomputed"
    work_tables = ("__new", "__next", "__changed", "__spans", "__incoming")
    scratch = [row.tableName for schema in ("raw", "staging", "intermediate", "marts")
               for row in spark.sql(f"show tables in {schema}").collect() if row.tableName.endswith(work_tables)]  # fmt: skip
    assert not scratch, f"scratch tables left behind: {scratch}"
