"""Events: the newest events of the range (fct_events, event's segment), a page at a time, searchable by client id
or event name; a click on a client id shows that client's events."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from htmltools import Tag, tags
from psycopg import sql
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, reactive, render, ui
from shiny.types import NavSetArg

from dashboard import db, layout
from dashboard.filters import Filters, where

PAGE_SIZE = 50
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # the event contract's eventName
COLUMNS = (
    "event_at",
    "event_name",
    "client_id",
    "user_id",
    "user_login_state",
    "device_class",
    "browser",
    "page_path",
    "product_name",
    "session_key",
    "event_id",
)
HEADERS = ("Time (UTC)", "Event", "Client id", "User", "Login state", "Device", "Browser", "Page", "Product")
CSS = """
table.events { font-size: .82rem; }
table.events td { white-space: nowrap; max-width: 22rem; overflow: hidden; text-overflow: ellipsis; }
a.client-link { color: inherit; text-decoration: underline dotted; cursor: pointer; }
"""


# -- queries --------------------------------------------------------------------------------------
def newest(
    pool: ConnectionPool, filters: Filters, search: str = "", page: int = 0, page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    """The newest events of the range (fct_events, event's segment), ``page_size`` per page, newest first.

    ``search`` matches a client id exactly, or an event name case-insensitively. Returns
    ``{"rows": DataFrame, "page": n, "page_size": n, "has_previous": bool, "has_next": bool}``.
    """
    if page < 0 or page_size < 1:
        raise ValueError(f"page must be >= 0 and page_size >= 1, got {page} and {page_size}")
    condition_where, params = where(
        filters, time_column="event_at", login_column="user_login_state", device_column="device_class"
    )
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    newest_first = sql.SQL("order by event_at desc, event_id desc")
    term = search.strip()
    if term:
        # A client's events come from the (client_id, event_at) index; a term shaped like an event name (the
        # contract's pattern) also matches event_name. Each branch newest first, at most what the page needs.
        conditions = [sql.SQL("client_id = %(search)s")]
        params["search"] = term
        if EVENT_NAME.fullmatch(term.lower()):
            conditions.append(sql.SQL("event_name = %(event_name)s"))
            params["event_name"] = term.lower()
        branches = sql.SQL(" union ").join(
            sql.SQL("(select {columns} from marts.fct_events {where} and {condition} {order} limit %(until)s)").format(
                columns=columns, where=condition_where, condition=condition, order=newest_first
            )
            for condition in conditions
        )
        query = sql.SQL(
            "select {columns} from ({branches}) as matches {order} limit %(limit)s offset %(offset)s"
        ).format(columns=columns, branches=branches, order=newest_first)
    else:
        query = sql.SQL(
            "select {columns} from marts.fct_events {where} {order} limit %(limit)s offset %(offset)s"
        ).format(columns=columns, where=condition_where, order=newest_first)
    params.update(limit=page_size + 1, offset=page * page_size, until=(page + 1) * page_size + 1)
    found = db.rows(pool, query, params)
    return {
        "rows": db.frame(found[:page_size], COLUMNS),
        "page": page,
        "page_size": page_size,
        "has_previous": page > 0,
        "has_next": len(found) > page_size,
    }


# -- pieces ---------------------------------------------------------------------------------------
def search_client(search_input: str) -> str:
    """A client link's onclick: put its client id in the text input ``search_input`` (the input's own event, so
    Shiny sees a typed value)."""
    return (
        f"const box = document.getElementById('{search_input}'); box.value = this.dataset.client;"
        " box.dispatchEvent(new Event('input', {bubbles: true})); return false;"
    )


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else str(value)


def table(page: Mapping[str, Any], filters: Filters, search: str, search_input: str) -> Tag:
    """One page of events, newest first; a client id shows that client's events in ``search_input``."""
    frame: pd.DataFrame = page["rows"]
    first = page["page"] * page["page_size"] + 1
    label = (
        f"Events {first:,}–{first + len(frame) - 1:,}, newest first"
        if len(frame)
        else "No events for these filters" + (f" matching {search!r}" if search else "")
    )
    onclick = search_client(search_input)
    body = [
        tags.tr(
            tags.td(f"{row.event_at:%Y-%m-%d %H:%M:%S}"),
            tags.td(row.event_name),
            tags.td(
                tags.a(
                    row.client_id,
                    class_="client-link",
                    title="Show this client's events",
                    data_client=row.client_id,
                    onclick=onclick,
                )
            ),
            tags.td(_text(row.user_id)),
            tags.td(_text(row.user_login_state)),
            tags.td(_text(row.device_class)),
            tags.td(_text(row.browser)),
            tags.td(_text(row.page_path), title=_text(row.page_path)),
            tags.td(_text(row.product_name)),
            data_event_id=str(row.event_id),
            data_event_at=row.event_at.isoformat(),
        )
        for row in frame.itertuples(index=False)
    ]
    return tags.div(
        tags.p(label, id="events_page_label", data_page=str(page["page"]), data_rows=str(len(frame))),
        tags.div(
            tags.table(
                tags.thead(tags.tr(*(tags.th(h) for h in HEADERS))),
                tags.tbody(*body),
                class_="table table-sm table-striped events",
                id="events_rows",
            ),
            class_="table-responsive",
        ),
        id="events_page",
        data_filters=filters.key(),
        data_search=search,
        data_page=str(page["page"]),
        data_has_next="true" if page["has_next"] else "false",
    )


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel() -> NavSetArg:
    return layout.tab(
        "Events",
        layout.stylesheet(CSS),
        ui.layout_columns(
            ui.input_text(
                "search",
                "Client id or event name (exact)",
                placeholder="e.g. checkout_complete, or a client id",
            ),
            ui.div(
                ui.input_action_button("prev", "‹ Newer", class_="btn-outline-secondary btn-sm"),
                ui.input_action_button("next", "Older ›", class_="btn-outline-secondary btn-sm"),
                class_="d-flex gap-2 align-items-end h-100 pb-3",
            ),
            col_widths=(6, 6),
        ),
        ui.output_ui("listing"),
    )


@module.server
def server(
    input: Inputs, output: Outputs, session: Session, filters: Callable[[], Filters], pool: ConnectionPool
) -> None:
    # The page number belongs to one (filters, search) pair: changing either starts again at page 0.
    paging: reactive.Value[tuple[Any, int]] = reactive.value((None, 0))

    @reactive.calc
    def current() -> tuple[Filters, str, int]:
        f, search = filters(), input.search().strip()
        key, page = paging()
        return f, search, page if key == (f, search) else 0

    @reactive.calc
    async def data() -> dict[str, Any]:
        f, search, page = current()
        return await asyncio.to_thread(newest, pool, f, search, page)

    @reactive.effect
    @reactive.event(input.next)
    async def _older() -> None:
        f, search, page = current()
        if (await data())["has_next"]:
            paging.set(((f, search), page + 1))

    @reactive.effect
    @reactive.event(input.prev)
    def _newer() -> None:
        f, search, page = current()
        paging.set(((f, search), max(0, page - 1)))

    @render.ui
    async def listing() -> Tag:
        f, search, _ = current()
        page = await data()
        ui.update_action_button("prev", disabled=not page["has_previous"])
        ui.update_action_button("next", disabled=not page["has_next"])
        return table(page, f, search, session.ns("search"))
