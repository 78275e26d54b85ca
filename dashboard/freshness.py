"""The freshness line, above every page: when the last ETL run finished, the newest event, when the marts were
rebuilt (pipeline_status); refreshed every minute."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from htmltools import Tag, TagList, tags
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, reactive, render, ui

from dashboard import db, layout
from dashboard.formats import moment

REFRESH_SECONDS = 60
STALE_AFTER_SECONDS = 2 * 3600  # the ETL runs every 30 minutes
CSS = """
.freshness { font-size: .85rem; color: #495057; padding: .35rem .25rem; }
.freshness .stale { color: #b02a37; font-weight: 600; }
.freshness span + span::before { content: " · "; color: #adb5bd; }
"""


# -- queries --------------------------------------------------------------------------------------
def pipeline_status(pool: ConnectionPool) -> dict[str, Any]:
    """The last ETL run and the newest event (values ``None`` when nothing was loaded or built)."""
    found = db.rows(
        pool,
        "select last_load_finished_at, last_load_status, marts_refreshed_at, newest_event_at from marts.pipeline_status",
    )
    empty = {
        "last_load_finished_at": None,
        "last_load_status": None,
        "marts_refreshed_at": None,
        "newest_event_at": None,
    }
    return {**empty, **found[0]} if found else empty


# -- pieces ---------------------------------------------------------------------------------------
def _when(value: datetime | None, now: datetime, element_id: str, stale: bool = False) -> Tag:
    """A moment as read (``moment``), its instant in ``data-value``."""
    return tags.strong(
        moment(value, now),
        id=element_id,
        data_value=value.isoformat() if value else "",
        class_="stale" if stale else None,
    )


def bar(status: Mapping[str, Any], now: datetime | None = None) -> Tag:
    """When the last ETL run finished, the newest event, when the marts were rebuilt."""
    now = now or datetime.now(UTC)
    finished = status.get("last_load_finished_at")
    stale = finished is None or (now - finished).total_seconds() > STALE_AFTER_SECONDS
    load_status = status.get("last_load_status")
    return tags.div(
        tags.span(
            "Last ETL run finished ",
            _when(finished, now, "freshness_last_load", stale),
            f" ({load_status})" if load_status else "",
            id="freshness_status",
            data_value=load_status or "",
        ),
        tags.span("newest event ", _when(status.get("newest_event_at"), now, "freshness_newest_event")),
        tags.span("marts rebuilt ", _when(status.get("marts_refreshed_at"), now, "freshness_marts_refreshed")),
        class_="freshness",
        id="freshness_bar",
    )


# -- the line -------------------------------------------------------------------------------------
@module.ui
def line() -> TagList:
    return TagList(layout.stylesheet(CSS), ui.output_ui("status"))


@module.server
def server(input: Inputs, output: Outputs, session: Session, pool: ConnectionPool) -> None:
    @render.ui
    async def status() -> Tag:
        reactive.invalidate_later(REFRESH_SECONDS)
        return bar(await asyncio.to_thread(pipeline_status, pool))
