"""The raw lake for Spark: the loader's tables (validated, enriched, de-duplicated events; the shop's copy; ad
spend) as Parquet tables that dbt-spark reads as the same sources as on PostgreSQL.

The loader stays the one place that parses and validates raw objects; this copies what it accepted, table by
table, with the payload as JSON text (Spark reads it with ``get_json_object``). ``copy_new_loads`` appends the
events of loads the lake has not seen (an event replaced by an earlier-received copy is replaced in the lake too,
so ``raw.events`` keeps one row per event as in the warehouse) and replaces the small tables (run ledgers, the
shop's copy) whole; dbt's incremental runs on Spark read the new loads by ``load_id``. ``spark_session`` is the session
dbt-spark's ``method: session`` uses: one JVM per process, so build commands share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from loader.config import WarehouseSettings

# Spark's type for each PostgreSQL type the raw tables use (numerics keep their scale: a bare decimal rounds).
_SPARK_TYPES = {
    "uuid": "string",
    "text": "string",
    "character varying": "string",
    "jsonb": "string",
    "json": "string",
    "timestamp with time zone": "timestamp",
    "timestamp without time zone": "timestamp_ntz",
    "date": "date",
    "bigint": "bigint",
    "integer": "int",
    "smallint": "int",
    "boolean": "boolean",
    "double precision": "double",
}
_BATCH_ROWS = 50_000
RAW_SCHEMAS = ("raw", "raw_shop")
# The dbt state tables the models read as sources (created empty; dbt's runs on Spark fill them).
STATE_TABLES = ("dbt_runs", "dbt_watermarks", "dbt_changed_spans", "dbt_changed_client_windows")


@dataclass(frozen=True)
class CopiedTable:
    name: str
    rows: int


def spark_session(warehouse_dir: Path, memory: str = "2g", cores: int = 2) -> SparkSession:
    """A local session, in UTC, whose catalog (a Derby metastore) and Parquet tables live under ``warehouse_dir``:
    later sessions on the same directory see the same tables."""
    from pyspark.sql import SparkSession

    metastore = warehouse_dir / "metastore_db"
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .enableHiveSupport()
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={metastore};create=true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse_dir}")
        .appName("clickstream")
        .config("spark.sql.warehouse.dir", str(warehouse_dir))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parser.escapedStringLiterals", "true")
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.sql.sources.default", "parquet")
        .getOrCreate()
    )


def _spark_type(data_type: str, precision: int | None, scale: int | None) -> str:
    if data_type == "numeric":
        return f"decimal({precision or 38},{scale if scale is not None else 6})"
    if data_type == "ARRAY":
        return "array<string>"
    try:
        return _SPARK_TYPES[data_type]
    except KeyError:
        raise ValueError(f"spark lake: no Spark type for PostgreSQL type {data_type!r}") from None


def _columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        """
        select column_name, data_type, numeric_precision, numeric_scale
        from information_schema.columns
        where table_schema = %s and table_name = %s
        order by ordinal_position
        """,
        (schema, table),
    ).fetchall()
    return [(name, _spark_type(kind, precision, scale)) for name, kind, precision, scale in rows]


def _ddl(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in columns)


def _tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = conn.execute(
        "select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE'"
        " order by table_name",
        (schema,),
    ).fetchall()
    return [name for (name,) in rows]


def _spark_value(value: Any, spark_type: str) -> Any:
    if value is None:
        return None
    if spark_type == "string" and not isinstance(value, str):
        return (
            json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            if isinstance(value, dict | list)
            else str(value)
        )
    if spark_type == "timestamp" and isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if spark_type.startswith("decimal") and not isinstance(value, Decimal):
        return Decimal(value)
    return value


def _batches(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    after_load_id: int | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows (only those of loads after ``after_load_id`` if given), in batches of Spark values."""
    names = ", ".join(f'"{name}"' for name, _ in columns)
    where, params = ("", ()) if after_load_id is None else (" where load_id > %s", (after_load_id,))
    with conn.cursor(name=f"spark_lake_{schema}_{table}") as cursor:
        cursor.itersize = _BATCH_ROWS
        cursor.execute(f'select {names} from "{schema}"."{table}"{where}', params)  # type: ignore[arg-type]
        while rows := cursor.fetchmany(_BATCH_ROWS):
            yield [tuple(_spark_value(v, t) for v, (_, t) in zip(row, columns, strict=True)) for row in rows]


def _write(
    spark: SparkSession,
    conn: psycopg.Connection[Any],
    source: tuple[str, str],
    target: str,
    after_load_id: int | None = None,
) -> int:
    """Create the Spark table ``target`` (schema.table) and fill it with the warehouse table ``source``'s rows."""
    columns = _columns(conn, *source)
    ddl = _ddl(columns)
    spark.sql(f"drop table if exists {target}")
    spark.sql(f"create table {target} ({ddl}) using parquet")
    rows = 0
    for batch in _batches(conn, *source, columns, after_load_id):
        spark.createDataFrame(batch, schema=ddl).write.insertInto(target)
        rows += len(batch)
    return rows


def copy_table(spark: SparkSession, conn: psycopg.Connection[Any], schema: str, table: str) -> CopiedTable:
    """Replace the Spark table ``schema.table`` with the warehouse's rows."""
    spark.sql(f"create database if not exists `{schema}`")
    return CopiedTable(f"{schema}.{table}", _write(spark, conn, (schema, table), f"`{schema}`.`{table}`"))


def _append_new_events(spark: SparkSession, conn: psycopg.Connection[Any]) -> CopiedTable:
    """The events of loads after the lake's newest one, appended to ``raw.events``; where one replaces an event the
    lake holds (an earlier-received copy), the table is rewritten without the replaced rows."""
    newest = spark.sql("select coalesce(max(load_id), 0) from raw.events").first()[0]  # type: ignore[index]
    incoming = "raw.`events__incoming`"
    rows = _write(spark, conn, ("raw", "events"), incoming, after_load_id=newest)
    replaces = spark.sql(f"select count(*) from raw.events left semi join {incoming} using (event_id)").first()[0]  # type: ignore[index]
    if replaces:
        spark.sql(
            f"create table raw.`events__next` using parquet as select * from raw.events"
            f" left anti join {incoming} using (event_id) union all select * from {incoming}"
        )
        spark.sql("drop table raw.events")
        spark.sql("alter table raw.`events__next` rename to raw.events")
    else:
        spark.sql(f"insert into raw.events select * from {incoming}")
    spark.sql(f"drop table {incoming}")
    return CopiedTable("raw.events", rows)


def copy_raw_tables(spark: SparkSession, settings: WarehouseSettings) -> list[CopiedTable]:
    """The loader's schemas (raw, raw_shop) and the dbt state tables' shapes (empty), warehouse → Spark."""
    return _copy(spark, settings, append_events=False)


def copy_new_loads(spark: SparkSession, settings: WarehouseSettings) -> list[CopiedTable]:
    """After :func:`copy_raw_tables`: the events of new loads appended (copied: the rows appended), every other
    raw table replaced whole; the dbt state tables are kept."""
    return _copy(spark, settings, append_events=True)


def _copy(spark: SparkSession, settings: WarehouseSettings, *, append_events: bool) -> list[CopiedTable]:
    copied = []
    with psycopg.connect(**settings.conninfo()) as conn:  # type: ignore[arg-type]
        for schema in RAW_SCHEMAS:
            copied += [
                _append_new_events(spark, conn)
                if append_events and (schema, table) == ("raw", "events")
                else copy_table(spark, conn, schema, table)
                for table in _tables(conn, schema)
            ]
        for table in STATE_TABLES:
            ddl = _ddl(_columns(conn, "intermediate", table))
            spark.sql("create database if not exists intermediate")
            spark.sql(f"create table if not exists intermediate.`{table}` ({ddl}) using parquet")
    return copied
