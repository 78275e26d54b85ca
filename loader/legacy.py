"""The old pipeline's clients: a read-only login for the old R Shiny dashboard.

That app runs one query on the unqualified ``clickstream_events`` (dbt builds ``public.clickstream_events`` for it)
and connects over TCP with a user and password. ``ensure_legacy_login`` creates or updates that login on the
warehouse; in AWS the host's ``clickstream-warehouse-roles`` script does the same with the password from SSM.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg
from psycopg import sql

LEGACY_ROLE = "clickstream_legacy"


@dataclass(frozen=True)
class LegacyLogin:
    """The five values the old dashboard's owner edits."""

    host: str
    port: int
    database: str
    user: str
    password: str

    def lines(self) -> str:
        return "\n".join(f"{name}={value}" for name, value in vars(self).items())


def ensure_legacy_login(conn: psycopg.Connection[object], password: str | None = None) -> str:
    """Create or update the read-only ``clickstream_legacy`` login (``password``: a new random one if None) and let
    it read ``public.clickstream_events`` and the marts, now and after dbt recreates them; returns the password.
    ``conn`` must be able to create roles (the embedded warehouse's superuser, or the host's admin)."""
    password = password or secrets.token_urlsafe(24)
    role = sql.Identifier(LEGACY_ROLE)
    with conn.transaction():
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (LEGACY_ROLE,)).fetchone()
        verb = sql.SQL("alter") if exists else sql.SQL("create")
        conn.execute(sql.SQL("{} role {} with login password {}").format(verb, role, sql.Literal(password)))
        conn.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(role))
        conn.execute(sql.SQL("alter role {} set statement_timeout = '30s'").format(role))
        database = sql.Identifier(conn.info.dbname)
        conn.execute(sql.SQL("grant connect on database {} to {}").format(database, role))
        for schema in ("public", "marts"):
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), role))
            conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(sql.Identifier(schema), role))
            conn.execute(
                sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(
                    sql.Identifier(schema), role
                )
            )
    return password
