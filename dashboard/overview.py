"""Overview: the KPIs of the range against the previous period of equal length, and events and sessions over time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList, tags
from plotly.subplots import make_subplots
from psycopg import sql
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout, warehouse
from dashboard.filters import Filters, segmented, where
from dashboard.formats import RATE_KPIS, change_text, kpi_text, raw

KPI_NAMES = (
    "events",
    "sessions",
    "clients",
    "users",
    "conversion_rate",
    "bounce_rate",
    "median_session_seconds",
)
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
# A rise is good news for these; for bounce rate it is bad news.
LOWER_IS_BETTER = frozenset({"bounce_rate"})
CSS = """
.kpi-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: .75rem; }
.kpi-card { padding: .8rem 1rem; border: 1px solid var(--bs-border-color); border-radius: .5rem; background: #fff; }
.kpi-label { font-size: .8rem; color: #6c757d; text-transform: uppercase; letter-spacing: .03em; }
.kpi-value { font-size: 1.55rem; font-weight: 600; line-height: 1.25; font-variant-numeric: tabular-nums;
             white-space: nowrap; }
.kpi-change { font-size: .85rem; font-variant-numeric: tabular-nums; }
.kpi-change.good { color: #198754; } .kpi-change.bad { color: #dc3545; } .kpi-change.flat { color: #6c757d; }
"""


# -- queries --------------------------------------------------------------------------------------
def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _change(name: str, current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    if name in RATE_KPIS:
        return current - previous
    return None if previous == 0 else (current - previous) / previous


def kpis(pool: ConnectionPool, filters: Filters) -> dict[str, dict[str, Any]]:
    """The KPIs of the range and of the previous period of equal length, and the change.

    ``{"current": {...}, "previous": {...}, "change": {...}}``, each keyed by :data:`KPI_NAMES`. Sessions, clients,
    users, conversion and bounce rates and the median session length count sessions *started* in the range
    (session's segment, fct_sessions); events count events in the range (event's segment, traffic_hourly). Rates
    are fractions and change in points (0.01 = one point); the others change relatively (0.1 = +10 %); a change is
    ``None`` when the previous period has nothing to compare with.
    """
    sessions_where, sessions_params = where(
        filters, time_column="started_at", login_column="login_state", device_column="device_class", previous=True
    )
    events_where, events_params = where(
        filters, time_column="hour_at", login_column="login_state", device_column="device_class", previous=True
    )
    # Shaped for speed at 1M events: one pass with FILTER aggregates (no sort by period; durations stay numeric, no
    # per-row cast), distinct counts by hashing (count(distinct) would sort the text ids), and the passes run side by
    # side.
    totals_query = sql.SQL(
        """
        with sessions as (
            select started_at >= %(period_start)s as is_current, is_converted, is_bounce, duration_seconds
            from marts.fct_sessions
            {where}
        )
        select
            count(*) filter (where is_current) as current_sessions,
            count(*) filter (where is_current and is_converted) as current_converted,
            count(*) filter (where is_current and is_bounce) as current_bounced,
            percentile_cont(0.5) within group (order by duration_seconds) filter (where is_current) as current_median,
            count(*) filter (where not is_current) as previous_sessions,
            count(*) filter (where not is_current and is_converted) as previous_converted,
            count(*) filter (where not is_current and is_bounce) as previous_bounced,
            percentile_cont(0.5) within group (order by duration_seconds) filter (where not is_current)
                as previous_median
        from sessions
        """
    ).format(where=sessions_where)
    distinct_query = sql.SQL(
        """
        select is_current, count(*) as distinct_count
        from (
            select distinct started_at >= %(period_start)s as is_current, {column}
            from marts.fct_sessions
            {where} and {column} is not null
        ) as distinct_values
        group by is_current
        """
    )
    events_query = sql.SQL(
        """
        select
            coalesce(sum(events) filter (where hour_at >= %(period_start)s), 0)::bigint as current_events,
            coalesce(sum(events) filter (where hour_at < %(period_start)s), 0)::bigint as previous_events
        from {traffic}
        {where}
        """
    ).format(traffic=segmented("traffic_hourly", filters), where=events_where)
    periods: dict[str, dict[str, Any]] = {}
    # Four independent scans: run side by side on the pool's connections (one after another with a pool of one).
    with ThreadPoolExecutor(max_workers=min(4, pool.max_size)) as workers:
        totals_rows = workers.submit(db.rows, pool, totals_query, sessions_params)
        events_rows = workers.submit(db.rows, pool, events_query, events_params)
        distinct_rows = {
            name: workers.submit(
                db.rows,
                pool,
                distinct_query.format(column=sql.Identifier(column), where=sessions_where),
                sessions_params,
            )
            for name, column in (("clients", "client_id"), ("users", "user_id"))
        }
        [totals], [events] = totals_rows.result(), events_rows.result()
        distinct = {
            (name, row["is_current"]): row["distinct_count"]
            for name, rows in distinct_rows.items()
            for row in rows.result()
        }
    for period, is_current in (("current", True), ("previous", False)):
        sessions = totals[f"{period}_sessions"]
        periods[period] = {
            "events": events[f"{period}_events"],
            "sessions": sessions,
            "clients": distinct.get(("clients", is_current), 0),
            "users": distinct.get(("users", is_current), 0),
            "conversion_rate": totals[f"{period}_converted"] / sessions if sessions else None,
            "bounce_rate": totals[f"{period}_bounced"] / sessions if sessions else None,
            "median_session_seconds": _float(totals[f"{period}_median"]),
        }
    change = {name: _change(name, periods["current"][name], periods["previous"][name]) for name in KPI_NAMES}
    return {"current": periods["current"], "previous": periods["previous"], "change": change}


def timeseries(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """Events and sessions per hour (ranges of up to 3 days) or per UTC day: columns bucket_at, events, sessions.

    Every bucket of the range is present (zeros where nothing happened); the sums equal the events and sessions
    KPIs.
    """
    sessions_where, sessions_params = where(
        filters, time_column="started_at", login_column="login_state", device_column="device_class"
    )
    events_where, events_params = where(
        filters, time_column="hour_at", login_column="login_state", device_column="device_class"
    )
    unit = sql.Literal("hour" if filters.hourly else "day")
    sessions_query = sql.SQL(
        "select date_trunc({unit}, started_at at time zone 'UTC') as bucket, count(*) as sessions"
        " from marts.fct_sessions {where} group by 1"
    ).format(unit=unit, where=sessions_where)
    events_query = sql.SQL(
        "select date_trunc({unit}, hour_at at time zone 'UTC') as bucket, sum(events)::bigint as events"
        " from {traffic} {where} group by 1"
    ).format(unit=unit, traffic=segmented("traffic_hourly", filters), where=events_where)
    with pool.connection() as conn, conn.cursor() as cur:
        sessions: dict[datetime, int] = dict(cur.execute(sessions_query, sessions_params).fetchall())
        events: dict[datetime, int] = dict(cur.execute(events_query, events_params).fetchall())
    buckets = pd.date_range(
        filters.start_at.replace(tzinfo=None),
        filters.end_at.replace(tzinfo=None),
        freq="h" if filters.hourly else "D",
        inclusive="left",
    )
    return pd.DataFrame(
        {
            "bucket_at": buckets.tz_localize(UTC),
            "events": [int(events.get(b.to_pydatetime(), 0)) for b in buckets],
            "sessions": [int(sessions.get(b.to_pydatetime(), 0)) for b in buckets],
        }
    )


# -- pieces ---------------------------------------------------------------------------------------
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


def timeseries_figure(frame: pd.DataFrame, key: str, hourly: bool) -> go.Figure:
    """Events (left axis) and sessions (right axis) per bucket."""
    if frame.empty or (frame["events"].sum() == 0 and frame["sessions"].sum() == 0):
        return charts.empty(key)
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    unit = "hour" if hourly else "day"
    x = frame["bucket_at"].dt.tz_localize(None)  # UTC, shown as such
    lines = (
        ("events", {"color": charts.EVENTS_COLOR, "width": 2}, False),
        ("sessions", {"color": charts.SESSIONS_COLOR, "width": 2, "dash": "dot"}, True),  # right axis
    )
    for column, line, secondary_y in lines:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=frame[column],
                name=f"{column.capitalize()} per {unit}",
                mode="lines+markers",
                line=line,
                hovertemplate=f"%{{x}}<br>%{{y:,}} {column}<extra></extra>",
            ),
            secondary_y=secondary_y,
        )
    figure.update_yaxes(title_text="events", rangemode="tozero", secondary_y=False)
    figure.update_yaxes(
        title_text="sessions", rangemode="tozero", showgrid=False, tickmode="auto", tickformat=",d", secondary_y=True
    )
    figure.update_xaxes(title_text=f"{unit} (UTC)")
    return charts.style(figure, key, height=360, legend={"orientation": "h", "y": 1.12, "x": 0}, hovermode="x unified")


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel() -> NavSetArg:
    return layout.tab(
        "Overview",
        layout.stylesheet(CSS),
        ui.output_ui("cards"),
        layout.card("Events and sessions", ui.output_ui("chart"), note="Hourly for ranges of up to 3 days."),
    )


@module.server
def server(
    input: Inputs, output: Outputs, session: Session, filters: Callable[[], Filters], pool: ConnectionPool
) -> None:
    @render.ui
    async def cards() -> Tag:
        f = filters()
        data = await asyncio.to_thread(kpis, pool, f)
        bounds = await asyncio.to_thread(warehouse.data_bounds, pool)
        return kpi_cards(data, f, first_date=bounds["first_date"])

    @render.ui
    async def chart() -> TagList:
        f = filters()
        frame = await asyncio.to_thread(timeseries, pool, f)
        return charts.html(timeseries_figure(frame, f.key(), f.hourly), "timeseries_plot")
