"""What the warehouse holds, as the dashboard needs to know before it shows a page: are the marts (and the seeds of
the shop's vocabulary) built, is there any session, which days have data."""

from __future__ import annotations

from datetime import date
from typing import Literal

from psycopg_pool import ConnectionPool

from dashboard.db import rows
from dashboard.vocabulary import SEEDS

# The marts the dashboard reads; all of them (and the seeds) must exist before it can show anything.
MARTS = (
    "fct_sessions",
    "fct_events",
    "traffic_hourly",
    "traffic_hourly_by_segment",
    "funnel_daily",
    "funnel_daily_by_segment",
    "product_engagement_daily",
    "product_engagement_daily_by_segment",
    "journey_transitions",
    "retention_weekly",
    "pipeline_status",
)
NEEDED = (*MARTS, *SEEDS)

State = Literal["missing", "empty", "ready"]


def missing_tables(pool: ConnectionPool) -> list[str]:
    """The tables of :data:`NEEDED` not built in schema marts, in that order."""
    missing = rows(
        pool,
        "select name from unnest(%s::text[]) as marts (name) where to_regclass('marts.' || quote_ident(name)) is null",
        (list(NEEDED),),
    )
    names = {row["name"] for row in missing}
    return [name for name in NEEDED if name in names]


def state(pool: ConnectionPool) -> State:
    """``missing`` (marts or seeds not built yet: :func:`missing_tables`), ``empty`` (built, no sessions) or
    ``ready``."""
    if missing_tables(pool):
        return "missing"
    has_rows = rows(pool, "select exists (select 1 from marts.fct_sessions) as has_rows")[0]["has_rows"]
    return "ready" if has_rows else "empty"


def data_bounds(pool: ConnectionPool) -> dict[str, date | None]:
    """First and last UTC day with a session (``None`` when there are none)."""
    row = rows(
        pool,
        "select (min(started_at) at time zone 'UTC')::date as first_date,"
        " (max(started_at) at time zone 'UTC')::date as last_date from marts.fct_sessions",
    )[0]
    return {"first_date": row["first_date"], "last_date": row["last_date"]}
