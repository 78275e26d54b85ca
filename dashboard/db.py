"""The dashboard's connection pool (small, read-only, and seeing schema ``marts`` only) and how a query runs on it.

Every page's queries are plain functions ``(pool, filters) -> DataFrame | dict`` built on :func:`rows` and
:func:`frame`, testable without a Shiny session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, LiteralString, TypeVar

import pandas as pd
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from shiny import reactive

from dashboard.filters import Filters
from loader.config import WarehouseSettings
from loader.warehouse import WarehouseError

T = TypeVar("T")

# Server settings of every dashboard connection: it cannot write (whatever role DW_URL names; in AWS that role is
# the read-only clickstream_dashboard), resolves unqualified names in marts only, and a runaway query is stopped.
SESSION_OPTIONS = {
    "default_transaction_read_only": "on",
    "search_path": "marts",
    "statement_timeout": "30s",
    "timezone": "UTC",  # timestamps arrive in UTC whatever the server's zone (the page says UTC)
}


def connection_kwargs(settings: WarehouseSettings) -> dict[str, Any]:
    """psycopg connection arguments for the dashboard (autocommit: each query is its own read-only transaction)."""
    options = " ".join(f"-c {name}={value}" for name, value in SESSION_OPTIONS.items())
    return {**settings.conninfo(), "application_name": "clickstream-dashboard", "options": options, "autocommit": True}


def open_pool(
    settings: WarehouseSettings, *, min_size: int = 1, max_size: int = 4, timeout: float = 15
) -> ConnectionPool:
    """An open pool (checked: one connection made), or a :class:`WarehouseError` naming the warehouse."""
    pool = ConnectionPool(
        kwargs=connection_kwargs(settings),
        min_size=min_size,
        max_size=max_size,
        name="dashboard",
        open=False,
        check=ConnectionPool.check_connection,
        timeout=timeout,
    )
    pool.open()
    try:
        pool.wait(timeout=timeout)
    except PoolTimeout:
        pool.close()
        raise WarehouseError(
            f"the dashboard cannot connect to the warehouse at {settings.host}:{settings.port}"
            f" (database {settings.database}, user {settings.user}) within {timeout:g}s;"
            " check DW_URL / DW_PG_* and that the server is running"
        ) from None
    return pool


def rows(
    pool: ConnectionPool, query: sql.Composed | sql.SQL | LiteralString, params: Mapping[str, Any] | Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """The rows of ``query`` (values always passed as ``params``), as dicts."""
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def frame(records: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame with these columns, even when there are no rows (the queries cast numerics to float8/bigint)."""
    return pd.DataFrame.from_records(records, columns=list(columns))


def on_filters(
    query: Callable[[ConnectionPool, Filters], T], pool: ConnectionPool, filters: Callable[[], Filters]
) -> Callable[[], Awaitable[T]]:
    """``query(pool, filters())`` as a reactive calc of a page's server: run again whenever the filters change, in a
    worker thread (one slow query does not stall other sessions)."""

    @reactive.calc
    async def result() -> T:
        return await asyncio.to_thread(query, pool, filters())

    return result
