"""The same dbt project on Spark and on PostgreSQL, compared: the Spark build reads the raw tables the Postgres
warehouse was loaded with (copied by ``loader.spark_lake``), and every mart must hold the same rows.

Values are compared as the dashboard reads them: instants in UTC, numbers to 6 decimals (Postgres keeps exact
numerics where Spark has doubles or decimals of a fixed scale), JSON parsed, arrays as lists.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg

from loader.spark_lake import copy_raw_tables
from loader.transform import PROJECT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from loader.config import WarehouseSettings

# Columns that depend on when a build ran, not on the data: the run's stamp, and the days since a customer's last
# order (dim_customers' recency_days; its score, a rank, is compared).
RUN_TIME_COLUMNS = {"dbt_processed_at", "recency_days"}
# Views of the run's bookkeeping, not of the events (the loader's and dbt's runs).
NOT_COMPARED = {"pipeline_status", "etl_runs"}
_PLACES = Decimal("0.000001")


@dataclass
class Difference:
    relation: str
    postgres_rows: int
    spark_rows: int
    # the first rows found on one engine only, paired in sort order: {column: (postgres, spark)} where they differ
    columns_apart: list[dict[str, tuple[Any, Any]]] = field(default_factory=list)


def _normalized(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, float | Decimal):
        return Decimal(repr(value) if isinstance(value, float) else value).quantize(_PLACES) + 0
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list | tuple):
        return tuple(_normalized(item) for item in value)
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


def spark_build(
    spark: SparkSession,
    settings: WarehouseSettings,
    target: Path,
    dbt_vars: dict[str, Any],
    *,
    copy: bool = True,
    seed: bool = True,
) -> float:
    """Copy the warehouse's raw tables to Spark (unless ``copy`` is false: already done), then ``dbt seed`` (unless
    ``seed`` is false) and ``dbt run`` there; the seconds dbt took."""
    from dbt.cli.main import dbtRunner

    if copy:
        copy_raw_tables(spark, settings)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    common = [
        "--target", "spark", "--profiles-dir", str(PROJECT), "--project-dir", str(PROJECT),
        "--target-path", str(target), "--vars", json.dumps(dbt_vars), "--quiet",
    ]  # fmt: skip
    started = time.monotonic()
    for command in [["seed"], ["run"]] if seed else [["run"]]:
        result = dbtRunner().invoke([*command, *common])
        if not result.success:
            failures = [
                f"{node.node.name}: {node.message}"
                for node in getattr(result.result, "results", [])
                if node.status in ("error", "fail")
            ]
            raise AssertionError(f"dbt {command[0]} on Spark failed: {failures or result.exception}")
    return time.monotonic() - started


def compared_relations(target: Path) -> list[str]:
    """Every model of the marts schema (schema.table), from the Spark build's manifest."""
    manifest = json.loads((target / "manifest.json").read_text())
    return sorted(
        f"{node['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts" and node["alias"] not in NOT_COMPARED
    )


def _postgres_rows(settings: WarehouseSettings, relation: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    with psycopg.connect(**settings.conninfo()) as conn:  # type: ignore[arg-type]
        listed = ", ".join(f'"{name}"' for name in columns)
        return conn.execute(f"select {listed} from {relation}").fetchall()  # type: ignore[arg-type]


def difference(spark: SparkSession, settings: WarehouseSettings, relation: str) -> Difference | None:
    """The rows of one relation found on only one engine (None when both hold the same rows)."""
    frame = spark.table(relation)
    columns = [name for name in frame.columns if name not in RUN_TIME_COLUMNS]
    spark_rows = Counter(tuple(_normalized(v) for v in row) for row in frame.select(*columns).collect())
    postgres_rows = Counter(tuple(_normalized(v) for v in row) for row in _postgres_rows(settings, relation, columns))
    if spark_rows == postgres_rows:
        return None
    only_postgres = sorted((postgres_rows - spark_rows).elements(), key=repr)[:3]
    only_spark = sorted((spark_rows - postgres_rows).elements(), key=repr)[:3]
    apart = [
        {name: (p, s) for name, p, s in zip(columns, postgres_row, spark_row, strict=True) if p != s}
        for postgres_row, spark_row in zip(only_postgres, only_spark, strict=False)
    ]
    return Difference(relation, sum(postgres_rows.values()), sum(spark_rows.values()), apart)
