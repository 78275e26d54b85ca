"""The dashboard's connection pool: small, read-only, and seeing schema ``marts`` only."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool, PoolTimeout

from loader.config import WarehouseSettings
from loader.warehouse import WarehouseError

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
