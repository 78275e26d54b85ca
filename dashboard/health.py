"""Data health: is tracking working? The hours of the range (data_health_hourly) with their events against the
expected band and the anomalies highlighted, the anomalous hours and why, the last ETL runs (etl_runs) and what the
loader quarantined (rejected_events_daily).

The date range applies (hours of those UTC days); login state and device class do not: the monitor watches every
event the tracker sent, bots' included. The page works without the shop database (capture rates show "–").

Needs the health marts (a warehouse built before them shows how to build them instead, :func:`state`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList, tags
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, reactive, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout
from dashboard.filters import Filters
from dashboard.formats import moment, number, rate, raw

State = Literal["missing", "empty", "ready"]

TABLES = ("data_health_hourly", "etl_runs", "rejected_events_daily")
OPEN_HOURS = 3  # as the health tests and `clickstream health` (dbt var health_alert_hours)
REFRESH_SECONDS = 300
HOUR_COLUMNS = (
    "hour_at",
    "is_complete",
    "events",
    "expected_events",
    "expected_events_lower",
    "expected_events_upper",
    "events_score",
    "checkout_complete_events",
    "expected_checkouts",
    "bot_share",
    "rejected_events",
    "late_share",
    "capture_rate_24h",
    "new_event_names",
    "new_payload_fields",
    "anomalies",
)
RUN_COLUMNS = (
    "started_at",
    "status",
    "trigger",
    "objects",
    "events",
    "rejected",
    "shop_status",
    "models_ok",
    "tests_failed",
    "health_status",
    "health_failures",
    "freshness_status",
    "seconds",
    "message",
)
REJECTED_COLUMNS = ("reason", "rejected", "objects", "last_rejected_at", "example_source_key")
# What each anomaly means, in the shop owner's words.
ANOMALIES = {
    "volume_drop": "Far fewer events than this hour usually has",
    "volume_spike": "Far more events than this hour usually has",
    "no_checkouts": "No purchase tracked for hours that normally have them",
    "bot_spike": "A burst of bot or zombie traffic",
    "rejected_spike": "A burst of events the loader rejected",
    "late_spike": "A burst of events arriving late",
    "low_capture_rate": "The tracker saw under half of the shop's orders (24 h)",
    "unknown_event_name": "An event name the contract does not know",
    "new_payload_field": "A payload field the tracker never sent before",
}
ANOMALY_COLOR = "#d63939"
BAND_COLOR = "rgba(44, 123, 229, 0.15)"
CSS = """
.health-status { padding: .6rem .9rem; border-radius: .4rem; margin-bottom: .75rem; }
.health-status.ok { background: #e8f5ee; color: #1e6b41; }
.health-status.open { background: #fdecec; color: #8c1c1c; font-weight: 600; }
.health-status.unsure { background: #fff4e0; color: #7a4b00; }
table.health-table { font-size: .85rem; margin-bottom: 0; }
table.health-table td.num, table.health-table th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.health-table tr.failed td { color: #8c1c1c; }
.health-scroll { max-height: 420px; overflow: auto; }
"""


# -- queries --------------------------------------------------------------------------------------
def state(pool: ConnectionPool) -> State:
    """``missing`` (the health marts are not built: a warehouse built before them), ``empty`` (no hour yet) or
    ``ready``."""
    [found] = db.rows(
        pool,
        "select count(*) filter (where to_regclass('marts.' || quote_ident(name)) is null) as missing"
        " from unnest(%s::text[]) as marts (name)",
        (list(TABLES),),
    )
    if found["missing"]:
        return "missing"
    [hours] = db.rows(pool, "select exists (select 1 from marts.data_health_hourly) as has_hours")
    return "ready" if hours["has_hours"] else "empty"


def hours(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """The hours of the range's UTC days, oldest first (:data:`HOUR_COLUMNS`; numbers as float8, lists as lists)."""
    query = """
        select
            hour_at, is_complete, events, expected_events::float8, expected_events_lower::float8,
            expected_events_upper::float8, events_score::float8, checkout_complete_events,
            expected_checkouts::float8, bot_share::float8, rejected_events, late_share::float8,
            capture_rate_24h::float8, new_event_names, new_payload_fields, anomalies
        from marts.data_health_hourly
        where hour_at >= %(start)s and hour_at < %(end)s
        order by hour_at
    """
    return db.frame(db.rows(pool, query, {"start": filters.start_at, "end": filters.end_at}), HOUR_COLUMNS)


def status(pool: ConnectionPool, open_hours: int = OPEN_HOURS) -> dict[str, Any]:
    """Now, whatever the range: when the health was last judged (``as_of_at``), the latest complete hour, the
    anomalous hours among the latest ``open_hours`` complete ones (``open``: [(hour_at, anomalies)], newest first), the
    events of those hours (``events``) and whether their volume has a baseline to be judged against (``judged``)."""
    query = """
        with latest as (
            select hour_at from marts.data_health_hourly where is_complete order by hour_at desc limit %(hours)s
        )
        select hour_at, anomalies, as_of_at, is_complete, events, events_score is not null as is_judged
        from marts.data_health_hourly
        where hour_at >= (select coalesce(min(hour_at), '-infinity') from latest)
        order by hour_at desc
    """
    found = db.rows(pool, query, {"hours": open_hours})
    complete = [row for row in found if row["is_complete"]]
    return {
        "as_of_at": found[0]["as_of_at"] if found else None,
        "latest_hour_at": complete[0]["hour_at"] if complete else None,
        "open": [(row["hour_at"], list(row["anomalies"])) for row in found if row["anomalies"]],
        "events": sum(row["events"] for row in complete),
        "judged": bool(complete) and all(row["is_judged"] for row in complete),
    }


def runs(pool: ConnectionPool, limit: int = 20) -> pd.DataFrame:
    """The latest ETL runs, newest first (:data:`RUN_COLUMNS`)."""
    query = """
        select
            started_at, status, trigger, objects, events, rejected, shop_status, models_ok, tests_failed,
            health_status, health_failures, freshness_status, seconds::float8, message
        from marts.etl_runs
        order by started_at desc, etl_run_id desc
        limit %(limit)s
    """
    return db.frame(db.rows(pool, query, {"limit": limit}), RUN_COLUMNS)


def rejected(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """What the loader quarantined on the range's days, by kind of reason, most first (:data:`REJECTED_COLUMNS`)."""
    query = """
        select
            reason,
            sum(rejected)::bigint as rejected,
            sum(raw_objects)::bigint as objects,
            max(last_rejected_at) as last_rejected_at,
            max(example_source_key) as example_source_key
        from marts.rejected_events_daily
        where date_day between %(start)s and %(end)s
        group by reason
        order by rejected desc, reason
    """
    return db.frame(db.rows(pool, query, {"start": filters.start, "end": filters.end}), REJECTED_COLUMNS)


# -- pieces ---------------------------------------------------------------------------------------
def describe(anomalies: Any) -> str:
    return "; ".join(ANOMALIES.get(name, name) for name in anomalies)


def status_line(data: Mapping[str, Any], now: datetime | None = None) -> Tag:
    """Open anomalies now (red); no event at all lately, or no baseline to judge the volume by yet (amber); or
    healthy (green); and when the health was last judged."""
    opened = data["open"]
    judged = f"judged as of {moment(data['as_of_at'], now)}" if data["as_of_at"] else "not judged yet"
    if opened:
        text = f"Open: {describe(sorted({name for _, names in opened for name in names}))} — in the latest {OPEN_HOURS} hours"
        tone = "open"
    elif data.get("events", 1) == 0:
        text = (
            f"No events in the latest {OPEN_HOURS} complete hours: the tracker, the collector or the ETL may be down"
            " (too little history to call it an anomaly)"
        )
        tone = "unsure"
    elif not data.get("judged", True):
        text = (
            "No anomaly, but the volume cannot be judged yet: the baseline needs 4 weeks of history (new event names"
            " and payload fields are watched already)"
        )
        tone = "unsure"
    else:
        text = f"Healthy: no anomaly in the latest {OPEN_HOURS} complete hours"
        tone = "ok"
    return tags.div(
        text,
        tags.span(f" ({judged})", class_="fw-normal"),
        id="health_status",
        class_=f"health-status {tone}",
        data_open=str(len(opened)),
        data_tone=tone,
    )


def hours_figure(frame: pd.DataFrame, key: str) -> go.Figure:
    """Events per hour against the expected band (the hour of the week's median, and what the score accepts around
    it); anomalous hours marked in red; checkouts on the right axis."""
    if frame.empty:
        return charts.empty(key, "No hours in this range")
    x = [hour.isoformat() for hour in frame["hour_at"]]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=x,
            y=charts.values(frame["expected_events_upper"]),
            mode="lines",
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=charts.values(frame["expected_events_lower"]),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND_COLOR,
            name="Expected band",
            hoverinfo="skip",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=charts.values(frame["expected_events"]),
            mode="lines",
            name="Expected",
            line={"color": charts.EVENTS_COLOR, "dash": "dot", "width": 1},
            hovertemplate="expected %{y:,.0f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=frame["events"].tolist(),
            mode="lines",
            name="Events",
            line={"color": charts.EVENTS_COLOR, "width": 2},
            hovertemplate="%{y:,} events<extra></extra>",
        )
    )
    figure.add_trace(
        go.Bar(
            x=x,
            y=frame["checkout_complete_events"].tolist(),
            name="Checkouts",
            yaxis="y2",
            marker_color=charts.CART_COLOR,
            opacity=0.5,
            hovertemplate="%{y:,} checkouts<extra></extra>",
        )
    )
    flagged = frame[[bool(len(found)) for found in frame["anomalies"]]]
    figure.add_trace(
        go.Scatter(
            x=[hour.isoformat() for hour in flagged["hour_at"]],
            y=flagged["events"].tolist(),
            mode="markers",
            name="Anomaly",
            marker={"color": ANOMALY_COLOR, "size": 11, "symbol": "circle-open", "line": {"width": 3}},
            customdata=[describe(found) for found in flagged["anomalies"]],
            hovertemplate="%{customdata}<extra>anomaly</extra>",
        )
    )
    figure.update_layout(
        yaxis={"title": "events per hour", "rangemode": "tozero"},
        yaxis2={
            "title": "checkouts",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
            "tickformat": ",d",
            "dtick": max(1, math.ceil(frame["checkout_complete_events"].max() / 5)),  # whole checkouts
        },
    )
    figure.update_xaxes(title_text="hour (UTC)")
    return charts.style(figure, key, height=380, hovermode="x unified", legend={"orientation": "h", "y": 1.12, "x": 0})


def _cell(value: Any, numeric: bool = False) -> Tag:
    return tags.td(value, class_="num" if numeric else None)


def anomalies_table(frame: pd.DataFrame, filters: Filters) -> Tag:
    """The anomalous hours of the range, newest first, with what was seen against what was expected, and why."""
    flagged = frame[[bool(len(found)) for found in frame["anomalies"]]].iloc[::-1]
    if flagged.empty:
        body = [tags.tr(tags.td("No anomaly in this range", colspan="6", class_="text-muted"))]
    else:
        body = [
            tags.tr(
                _cell(f"{row.hour_at:%Y-%m-%d %H:%M}"),
                _cell(number(row.events), True),
                _cell(number(row.expected_events) if pd.notna(row.expected_events) else "–", True),
                _cell(f"{row.events_score:+.1f}" if pd.notna(row.events_score) else "–", True),
                _cell(number(row.checkout_complete_events), True),
                _cell(
                    describe(row.anomalies)
                    + "".join(
                        f" ({', '.join(extra)})" for extra in (row.new_event_names, row.new_payload_fields) if extra
                    )
                ),
                data_hour=row.hour_at.isoformat(),
                data_anomalies=",".join(row.anomalies),
            )
            for row in flagged.itertuples(index=False)
        ]
    headers = (
        ("Hour (UTC)", False),
        ("Events", True),
        ("Expected", True),
        ("Score", True),
        ("Checkouts", True),
        ("Why", False),
    )
    return tags.div(
        tags.div(
            layout.data_table(headers, body, "health-table"),
            class_="health-scroll",
        ),
        id="health_anomalies",
        data_filters=filters.key(),
        data_rows=str(len(flagged)),
    )


def runs_table(frame: pd.DataFrame) -> Tag:
    """The last ETL runs: status, what they loaded, the build, the health checks."""
    if frame.empty:
        body = [tags.tr(tags.td("No ETL run recorded yet", colspan="7", class_="text-muted"))]
    else:
        body = [
            tags.tr(
                _cell(f"{row.started_at:%Y-%m-%d %H:%M}"),
                _cell(row.status),
                _cell(number(row.events), True),
                _cell(number(row.rejected), True),
                _cell(f"{number(row.models_ok)} models, {number(row.tests_failed)} tests failed"),
                _cell(
                    (row.health_status or "–") + (f": {', '.join(row.health_failures)}" if row.health_failures else "")
                ),
                _cell(f"{row.seconds:.0f} s" if pd.notna(row.seconds) else "–", True),
                class_="failed" if row.status == "failed" else None,
                title=row.message or None,
                data_status=row.status,
            )
            for row in frame.itertuples(index=False)
        ]
    headers = (
        ("Started (UTC)", False),
        ("Status", False),
        ("Events", True),
        ("Rejected", True),
        ("Build", False),
        ("Health checks", False),
        ("Took", True),
    )
    return tags.div(
        layout.data_table(headers, body, "health-table"),
        id="health_runs",
        data_rows=str(len(frame)),
    )


def rejected_table(frame: pd.DataFrame, filters: Filters) -> Tag:
    """What the loader quarantined in the range, by kind of reason."""
    if frame.empty:
        body = [tags.tr(tags.td("Nothing rejected in this range", colspan="4", class_="text-muted"))]
    else:
        body = [
            tags.tr(
                _cell(row.reason),
                _cell(number(row.rejected), True),
                _cell(number(row.objects), True),
                _cell(f"{row.last_rejected_at:%Y-%m-%d %H:%M}", True),
                title=f"e.g. {row.example_source_key}",
                data_rejected=raw(int(row.rejected)),
            )
            for row in frame.itertuples(index=False)
        ]
    headers = (("Reason", False), ("Rejected", True), ("Objects", True), ("Last (UTC)", True))
    return tags.div(
        layout.data_table(headers, body, "health-table"),
        id="health_rejected",
        data_filters=filters.key(),
        data_rows=str(len(frame)),
    )


def summary_line(frame: pd.DataFrame, filters: Filters) -> Tag:
    judged = int(frame["events_score"].notna().sum()) if not frame.empty else 0
    flagged = int(sum(bool(len(found)) for found in frame["anomalies"])) if not frame.empty else 0
    capture = frame["capture_rate_24h"].dropna() if not frame.empty else pd.Series(dtype=float)
    text = (
        f"{number(len(frame))} hours, {number(judged)} judged against their baseline, {number(flagged)} anomalous;"
        f" latest capture rate (24 h) {rate(capture.iloc[-1]) if len(capture) else '–'}."
        " Login state and device class do not apply here: the monitor watches every event the tracker sent."
    )
    return layout.summary("health_summary", filters, text, flagged)


def empty_state(state: State) -> Tag:
    if state == "missing":
        what = "The warehouse was built before the data health marts existed."
    else:
        what = "The data health marts are built but hold no hour yet."
    return tags.div(
        tags.p(what),
        tags.p(
            "Run ",
            tags.code("clickstream etl"),
            " (or ",
            tags.code("clickstream transform"),
            ") to build marts.data_health_hourly, then reload this page; ",
            tags.code("clickstream health"),
            " prints the same hours in a terminal.",
        ),
        id="health_empty",
        data_state=state,
        class_="mt-3",
    )


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel(health: State = "ready") -> NavSetArg:
    if health != "ready":
        return layout.tab("Data health", empty_state(health))
    return layout.tab(
        "Data health",
        layout.stylesheet(CSS),
        ui.output_ui("current"),
        ui.output_ui("summary"),
        layout.card(
            "Events per hour against the expected band",
            ui.output_ui("chart"),
            note="Expected: the median of the same hour of the week over the previous 4 weeks; the band is what the "
            "anomaly score accepts around it, learnt from how the counts varied then (dbt vars health_*). Red "
            "circles: anomalous hours.",
        ),
        layout.card("Anomalous hours", ui.output_ui("flagged")),
        ui.layout_columns(
            layout.card("Last ETL runs", ui.output_ui("last_runs")),
            layout.card(
                "Rejected by the loader",
                ui.output_ui("quarantine"),
                note="Events or objects the loader quarantined (raw.rejected_events), by kind of reason; the raw text "
                "stays in the warehouse.",
            ),
            col_widths=(7, 5),
        ),
    )


@module.server
def server(
    input: Inputs, output: Outputs, session: Session, filters: Callable[[], Filters], pool: ConnectionPool
) -> None:
    @reactive.calc
    async def data() -> pd.DataFrame:
        return await asyncio.to_thread(hours, pool, filters())

    @render.ui
    async def current() -> Tag:
        reactive.invalidate_later(REFRESH_SECONDS)
        return status_line(await asyncio.to_thread(status, pool))

    @render.ui
    async def summary() -> Tag:
        return summary_line(await data(), filters())

    @render.ui
    async def chart() -> TagList:
        f = filters()
        return charts.html(hours_figure(await data(), f.key()), "health_hours_plot")

    @render.ui
    async def flagged() -> Tag:
        return anomalies_table(await data(), filters())

    @render.ui
    async def last_runs() -> Tag:
        reactive.invalidate_later(REFRESH_SECONDS)
        return runs_table(await asyncio.to_thread(runs, pool))

    @render.ui
    async def quarantine() -> Tag:
        f = filters()
        return rejected_table(await asyncio.to_thread(rejected, pool, f), f)
