"""Funnel: sessions reaching each step in order (funnel_daily), as a figure and as numbers; steps named by the
vocabulary's funnel_steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList, tags
from psycopg import sql
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout
from dashboard.filters import Filters, date_where, segmented
from dashboard.formats import number, rate, raw
from dashboard.vocabulary import Vocabulary

COLUMNS = ("step_order", "step_name", "sessions", "conversion_from_previous", "conversion_from_start")
STEP_COLORS = ["#2c7be5", "#3d8bfd", "#6ea8fe", "#9ec5fe", "#27ae60"]
CSS = """
table.funnel-steps td, table.funnel-steps th { font-variant-numeric: tabular-nums; }
"""


# -- queries --------------------------------------------------------------------------------------
def steps(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """The five steps (funnel_daily summed over the range): step_order, step_name, sessions, conversion_from_previous,
    conversion_from_start. Empty when no session started in the range."""
    where, params = date_where(filters)
    query = sql.SQL(
        """
        with steps as (
            select step_order, step_name, sum(sessions)::bigint as sessions
            from {funnel}
            {where}
            group by step_order, step_name
        )
        select
            step_order,
            step_name,
            sessions,
            sessions::float8 / nullif(lag(sessions) over (order by step_order), 0) as conversion_from_previous,
            sessions::float8 / nullif(first_value(sessions) over (order by step_order), 0) as conversion_from_start
        from steps
        order by step_order
        """
    ).format(funnel=segmented("funnel_daily", filters), where=where)
    return db.frame(db.rows(pool, query, params), COLUMNS)


# -- pieces ---------------------------------------------------------------------------------------
def figure(frame: pd.DataFrame, key: str, vocabulary: Vocabulary) -> go.Figure:
    """The five steps with sessions, step conversion and overall conversion."""
    if frame.empty or frame["sessions"].iloc[0] == 0:
        return charts.empty(key)
    funnel = go.Figure(
        go.Funnel(
            y=[vocabulary.step_label(name) for name in frame["step_name"]],
            x=frame["sessions"].tolist(),
            textinfo="value+percent previous+percent initial",
            marker={"color": STEP_COLORS},
            connector={"fillcolor": "#e9ecef"},
            hovertemplate="%{y}: %{x:,} sessions<br>%{percentPrevious:.1%} of the previous step"
            "<br>%{percentInitial:.1%} of the sessions<extra></extra>",
        )
    )
    return charts.style(funnel, key, height=380)


def _none(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def table(frame: pd.DataFrame, filters: Filters, vocabulary: Vocabulary) -> Tag:
    """The funnel's numbers: sessions per step, step conversion, overall conversion."""
    body = [
        tags.tr(
            tags.td(vocabulary.step_label(row.step_name)),
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
            tags.tbody(*body),
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


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel() -> NavSetArg:
    return layout.tab(
        "Funnel",
        layout.stylesheet(CSS),
        ui.layout_columns(
            layout.card("Purchase funnel", ui.output_ui("chart")),
            layout.card("Steps", ui.output_ui("numbers")),
            col_widths=(7, 5),
        ),
    )


@module.server
def server(
    input: Inputs,
    output: Outputs,
    session: Session,
    filters: Callable[[], Filters],
    pool: ConnectionPool,
    vocabulary: Vocabulary,
) -> None:
    data = db.on_filters(steps, pool, filters)

    @render.ui
    async def chart() -> TagList:
        return charts.html(figure(await data(), filters().key(), vocabulary), "funnel_plot")

    @render.ui
    async def numbers() -> Tag:
        return table(await data(), filters(), vocabulary)
