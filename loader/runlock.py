"""The run lock: one PostgreSQL advisory lock held by every run that writes raw.* or the marts.

A run takes it with ``run_lock(warehouse)``; a second run finds it taken and exits saying who holds it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from loader.config import WarehouseSettings
from loader.warehouse import connect

LOCK_KEY = 7_233_172_546_110_573  # pg advisory lock shared by every run that writes raw.* or the marts
# The granted lock on LOCK_KEY in pg_locks (a bigint key is split into classid, the high half, and objid).
_GRANTED = """
    locks.locktype = 'advisory' and locks.granted
    and (locks.classid::bigint << 32) | locks.objid::bigint = %s
"""


def try_run_lock(conn: psycopg.Connection[Any]) -> bool:
    """Take the run lock on this (autocommit) connection for its lifetime; False if another run has it."""
    row = conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    return row is not None and bool(row[0])


def release_run_lock(conn: psycopg.Connection[Any]) -> None:
    """Release the run lock before closing its connection: the server drops a session's locks only when its
    process exits, a moment after the client hangs up, and a run starting in that moment would be skipped."""
    if not conn.closed:
        with contextlib.suppress(psycopg.Error):
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))


@contextlib.contextmanager
def run_lock(warehouse: WarehouseSettings) -> Iterator[tuple[psycopg.Connection[Any], bool]]:
    """An autocommit connection and whether it holds the run lock, for the block."""
    with connect(warehouse, autocommit=True) as conn:
        acquired = try_run_lock(conn)
        try:
            yield conn, acquired
        finally:
            if acquired:
                release_run_lock(conn)


def holds_run_lock(conn: psycopg.Connection[Any]) -> bool:
    """Whether this connection's session holds the run lock."""
    row = conn.execute(
        f"select exists (select from pg_locks as locks where locks.pid = pg_backend_pid() and {_GRANTED})",
        (LOCK_KEY,),
    ).fetchone()
    return row is not None and bool(row[0])


def lock_holder(conn: psycopg.Connection[Any]) -> str:
    """Who holds the run lock, and for how long: for the message of a skipped run."""
    row = conn.execute(
        f"""
        select activity.pid, activity.application_name, activity.client_addr::text,
               extract(epoch from now() - activity.backend_start)::int
        from pg_locks as locks join pg_stat_activity as activity using (pid)
        where {_GRANTED}
        """,
        (LOCK_KEY,),
    ).fetchone()
    if row is None:
        return "another run holds the lock"
    pid, application, address, seconds = row
    return (
        f"another run holds the lock (PostgreSQL pid {pid}, {application or 'unknown application'}"
        f"{' from ' + address if address else ''}, connected {seconds // 60} min {seconds % 60} s ago)"
    )
