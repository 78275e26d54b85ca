"""The dashboard's HTML pieces and number formats (no queries, no reactivity).

Numbers a browser test reads sit on elements with stable ids and carry the raw value in ``data-value`` next to the
formatted text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from htmltools import HTMLDependency, Tag, tags
from shiny import ui

from dashboard.charts import STEP_LABELS
from dashboard.queries import KPI_NAMES, RATE_KPIS, Filters

KPI_LABELS = {
    "events": "Events",
    "sessions": "Sessions",
    "clients": "Clients",
    "users": "Users",
    "conversion_rate": "Conversion rate",
    "bounce_rate": "Bounce rate",
    "median_session_seconds": "Median session length",
}
KPI_HELP = {
    "events": "Events in the range (event's login state and device).",
    "sessions": "Sessions started in the range (bots and zombie sessions excluded).",
    "clients": "Distinct browsers with a session started in the range.",
    "users": "Distinct shop accounts among those sessions (stitched: visits before a login count too).",
    "conversion_rate": "Share of the sessions with a purchase (checkout_complete).",
    "bounce_rate": "Share of the sessions that viewed a single page and did nothing else.",
    "median_session_seconds": "Median time from a session's first to its last event.",
}
# A click on a client id searches for it (the text input's own event, so Shiny sees a typed value).
SEARCH_CLIENT = (
    "const box = document.getElementById('events_search'); box.value = this.dataset.client;"
    " box.dispatchEvent(new Event('input', {bubbles: true})); return false;"
)
# A rise is good news for these; for bounce rate it is bad news.
LOWER_IS_BETTER = frozenset({"bounce_rate"})
STALE_AFTER_SECONDS = 2 * 3600  # the ETL runs every 30 minutes

CSS = """
.kpi-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: .75rem; }
.kpi-card { padding: .8rem 1rem; border: 1px solid var(--bs-border-color); border-radius: .5rem; background: #fff; }
.kpi-label { font-size: .8rem; color: #6c757d; text-transform: uppercase; letter-spacing: .03em; }
.kpi-value { font-size: 1.55rem; font-weight: 600; line-height: 1.25; font-variant-numeric: tabular-nums;
             white-space: nowrap; }
.kpi-change { font-size: .85rem; font-variant-numeric: tabular-nums; }
.kpi-change.good { color: #198754; } .kpi-change.bad { color: #dc3545; } .kpi-change.flat { color: #6c757d; }
.freshness { font-size: .85rem; color: #495057; padding: .35rem .25rem; }
.freshness .stale { color: #b02a37; font-weight: 600; }
.freshness span + span::before { content: " · "; color: #adb5bd; }
.panel-note { font-size: .85rem; color: #6c757d; }
table.events { font-size: .82rem; }
table.events td { white-space: nowrap; max-width: 22rem; overflow: hidden; text-overflow: ellipsis; }
table.funnel-steps td, table.funnel-steps th { font-variant-numeric: tabular-nums; }
#products_table td { white-space: nowrap; }
a.client-link { color: inherit; text-decoration: underline dotted; cursor: pointer; }
"""


# -- formats --------------------------------------------------------------------------------------
def number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def rate(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def kpi_text(name: str, value: float | None) -> str:
    if name in RATE_KPIS:
        return rate(value)
    if name == "median_session_seconds":
        return duration(value)
    return number(value)


def change_text(name: str, change: float | None) -> str:
    if change is None:
        return "no previous data"
    if name in RATE_KPIS:
        return f"{change * 100:+.1f} pt"
    return f"{change * 100:+.1f} %"


def raw(value: Any) -> str:
    """The machine-readable form of a number for ``data-value`` (empty when there is none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def moment(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    now = now or datetime.now(UTC)
    ago = max(0, int((now - value).total_seconds()))
    if ago < 120:
        relative = "just now"
    elif ago < 7200:
        relative = f"{ago // 60} min ago"
    elif ago < 172_800:
        relative = f"{ago // 3600} h ago"
    else:
        relative = f"{ago // 86400} days ago"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({relative})"


# -- pieces ---------------------------------------------------------------------------------------
def freshness(status: Mapping[str, Any], now: datetime | None = None) -> Tag:
    """When the last ETL run finished and the newest event: shown on every page."""
    now = now or datetime.now(UTC)
    finished = status.get("last_load_finished_at")
    stale = finished is None or (now - finished).total_seconds() > STALE_AFTER_SECONDS
    load_status = status.get("last_load_status")
    return tags.div(
        tags.span(
            "Last ETL run finished ",
            tags.strong(
                moment(finished, now),
                id="freshness_last_load",
                data_value=finished.isoformat() if finished else "",
                class_="stale" if stale else None,
            ),
            f" ({load_status})" if load_status else "",
            id="freshness_status",
            data_value=load_status or "",
        ),
        tags.span(
            "newest event ",
            tags.strong(
                moment(status.get("newest_event_at"), now),
                id="freshness_newest_event",
                data_value=status["newest_event_at"].isoformat() if status.get("newest_event_at") else "",
            ),
        ),
        tags.span(
            "marts rebuilt ",
            tags.strong(
                moment(status.get("marts_refreshed_at"), now),
                id="freshness_marts_refreshed",
                data_value=status["marts_refreshed_at"].isoformat() if status.get("marts_refreshed_at") else "",
            ),
        ),
        class_="freshness",
        id="freshness_bar",
    )


def kpi_cards(data: Mapping[str, Mapping[str, Any]], filters: Filters, first_date: date | None = None) -> Tag:
    """One card per KPI: value, and the change against the previous period of equal length (noted when that
    period starts before the first data, ``first_date``)."""
    previous = filters.previous()
    partial = first_date is not None and previous.start < first_date <= previous.end
    cards = []
    for name in KPI_NAMES:
        value, before, change = data["current"][name], data["previous"][name], data["change"][name]
        if change is None or abs(change) < 1e-12:
            tone = "flat"
        else:
            tone = "good" if (change > 0) != (name in LOWER_IS_BETTER) else "bad"
        cards.append(
            tags.div(
                tags.div(KPI_LABELS[name], class_="kpi-label", title=KPI_HELP[name]),
                tags.div(
                    kpi_text(name, value),
                    id=f"kpi_{name}",
                    class_="kpi-value",
                    data_value=raw(value),
                    data_previous=raw(before),
                    data_change=raw(change),
                ),
                tags.div(
                    change_text(name, change),
                    id=f"kpi_{name}_change",
                    class_=f"kpi-change {tone}",
                    title=f"{previous.start} to {previous.end}: {kpi_text(name, before)}",
                ),
                class_="kpi-card",
            )
        )
    return tags.div(
        tags.div(*cards, class_="kpi-grid"),
        tags.p(
            f"{filters.start} to {filters.end} (UTC, {filters.days} days), compared with {previous.start} to "
            f"{previous.end}"
            + (f", which has data only from {first_date}: changes compare with a partial period." if partial else "."),
            id="kpi_period",
            class_="panel-note mt-2 mb-0",
            data_partial="true" if partial else "false",
        ),
        id="kpis",
        data_filters=filters.key(),
    )


def funnel_table(frame: pd.DataFrame, filters: Filters) -> Tag:
    """The funnel's numbers: sessions per step, step conversion, overall conversion."""
    rows = [
        tags.tr(
            tags.td(STEP_LABELS.get(row.step_name, row.step_name)),
            tags.td(number(row.sessions), class_="text-end"),
            tags.td(rate(_none(row.conversion_from_previous)), class_="text-end"),
            tags.td(rate(_none(row.conversion_from_start)), class_="text-end"),
            id=f"funnel_step_{row.step_order}",
            data_step=row.step_name,
            data_sessions=raw(int(row.sessions)),
            data_conversion_previous=raw(_none(row.conversion_from_previous)),
            data_conversion_start=raw(_none(row.conversion_from_start)),
        )
        for row in frame.itertuples(index=False)
    ]
    overall = _none(frame["conversion_from_start"].iloc[-1]) if len(frame) else None
    return tags.div(
        tags.table(
            tags.thead(
                tags.tr(
                    tags.th("Step"),
                    tags.th("Sessions", class_="text-end"),
                    tags.th("From previous step", class_="text-end"),
                    tags.th("From session start", class_="text-end"),
                )
            ),
            tags.tbody(*rows),
            class_="table table-sm funnel-steps",
        ),
        tags.p(
            "Overall conversion (session start → purchase, steps in order): ",
            tags.strong(rate(overall), id="funnel_overall", data_value=raw(overall)),
        ),
        tags.p(
            "Sessions by the day they started, counted at the furthest step reached in order (a purchase without "
            "a product view first stays at session start).",
            class_="panel-note",
        ),
        id="funnel_steps",
        data_filters=filters.key(),
    )


def _none(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def summary(output_id: str, filters: Filters, text: str, value: Any) -> Tag:
    """A one-line summary with a machine-readable value."""
    return tags.p(text, id=output_id, data_value=raw(value), data_filters=filters.key(), class_="panel-note")


def events_table(page: Mapping[str, Any], filters: Filters, search: str) -> Tag:
    """One page of events, newest first."""
    frame: pd.DataFrame = page["rows"]
    first = page["page"] * page["page_size"] + 1
    label = (
        f"Events {first:,}–{first + len(frame) - 1:,}, newest first"
        if len(frame)
        else "No events for these filters" + (f" matching {search!r}" if search else "")
    )
    headers = ["Time (UTC)", "Event", "Client id", "User", "Login state", "Device", "Browser", "Page", "Product"]
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
                    onclick=SEARCH_CLIENT,
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
                tags.thead(tags.tr(*(tags.th(h) for h in headers))),
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


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else str(value)


def empty_warehouse_banner() -> Tag:
    return tags.div(
        tags.strong("The warehouse is empty. "),
        "The marts exist but hold no sessions yet: generate or collect traffic, then load and transform it (",
        tags.code("make demo"),
        ", or ",
        tags.code("clickstream load && clickstream transform"),
        "). Reload this page afterwards.",
        class_="alert alert-info mb-2",
        id="empty_warehouse",
    )


def message_page(element_id: str, title: str, *body: Any) -> Tag:
    """A whole page with a friendly message (nothing built yet, warehouse unreachable)."""
    return ui.page_fixed(
        head(),
        tags.div(
            tags.h2(title),
            *body,
            class_="mt-5 p-4 border rounded bg-light",
            id=element_id,
        ),
        title="Clickstream dashboard",
    )


def not_built_page() -> Tag:
    return message_page(
        "not_built",
        "Nothing to show yet",
        tags.p("The warehouse has no marts: the pipeline has not run against it yet."),
        tags.p(
            "Run ",
            tags.code("clickstream etl"),
            " to load what has been collected and build the marts, or ",
            tags.code("make demo"),
            " for the whole pipeline on synthetic traffic. Then reload this page.",
        ),
    )


def unreachable_page(detail: str) -> Tag:
    return message_page(
        "warehouse_unreachable",
        "The warehouse cannot be reached",
        tags.p("The dashboard could not query the warehouse:"),
        tags.pre(detail),
        tags.p("Check that it is running and that DW_URL (or DW_PG_*) points at it, then reload this page."),
    )


def head() -> HTMLDependency:
    """Page head additions: the stylesheet, and an inline favicon (no request for /favicon.ico)."""
    return ui.head_content(tags.link(rel="icon", href="data:,"), tags.style(CSS))
