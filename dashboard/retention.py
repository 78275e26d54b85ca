"""Retention: weekly retention of the first-visit cohorts overlapping the range (retention_weekly), as a heatmap.
retention_weekly has no segments: the login state and device class filters do not apply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout
from dashboard.filters import Filters
from dashboard.formats import number

COLUMNS = ("cohort_week", "weeks_since_first_visit", "cohort_size", "active_clients", "retention_rate")


# -- queries --------------------------------------------------------------------------------------
def cohorts(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """Cohorts whose week (Monday to Sunday, UTC) overlaps the range, every week since: cohort_week,
    weeks_since_first_visit, cohort_size, active_clients, retention_rate. retention_weekly has no segments: the
    login state and device class filters do not apply."""
    query = """
        select cohort_week, weeks_since_first_visit, cohort_size, active_clients, retention_rate::float8 as retention_rate
        from marts.retention_weekly
        where cohort_week between %(first_week)s and %(end)s
        order by cohort_week, weeks_since_first_visit
    """
    params = {"first_week": filters.start - timedelta(days=6), "end": filters.end}
    return db.frame(db.rows(pool, query, params), COLUMNS)


# -- pieces ---------------------------------------------------------------------------------------
def heatmap(frame: pd.DataFrame, key: str) -> go.Figure:
    """Cohort heatmap: cohort week × weeks since the first visit, retention rate (active clients in the hover)."""
    if frame.empty:
        return charts.empty(key, "No cohort starts in this range")
    rates = frame.pivot(index="cohort_week", columns="weeks_since_first_visit", values="retention_rate").sort_index()
    active = frame.pivot(index="cohort_week", columns="weeks_since_first_visit", values="active_clients").reindex(
        index=rates.index, columns=rates.columns
    )
    sizes = frame.groupby("cohort_week")["cohort_size"].first().reindex(rates.index)
    y = [f"{week} ({int(size):,})" for week, size in zip(rates.index, sizes, strict=True)]
    text = [[("" if pd.isna(v) else f"{v:.0%}") for v in row] for row in rates.to_numpy()]
    figure = go.Figure(
        go.Heatmap(
            z=charts.grid(rates),
            x=[f"week {int(w)}" for w in rates.columns],
            y=y,
            text=text,
            texttemplate="%{text}",
            customdata=charts.grid(active),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="cohort %{y}, %{x}: %{z:.1%} (%{customdata:,} clients)<extra></extra>",
            colorbar={"title": {"text": "retained"}, "tickformat": ".0%"},
        )
    )
    figure.update_yaxes(autorange="reversed", title_text="cohort week (clients)", type="category")
    figure.update_xaxes(side="top", type="category")
    return charts.style(figure, key, height=max(260, 48 * len(y) + 120))


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel() -> NavSetArg:
    return layout.tab(
        "Retention",
        layout.card(
            "Weekly retention by first-visit cohort",
            ui.p(
                "Cohorts are clients grouped by the UTC week (Monday) of their first session; shown are the cohorts "
                "whose week overlaps the selected dates. The login state and device class filters do not apply "
                "here: retention_weekly has no such columns.",
                id="retention_note",
                class_="panel-note",
            ),
            ui.output_ui("summary"),
            ui.output_ui("chart"),
        ),
    )


@module.server
def server(
    input: Inputs, output: Outputs, session: Session, filters: Callable[[], Filters], pool: ConnectionPool
) -> None:
    data = db.on_filters(cohorts, pool, filters)

    @render.ui
    async def summary() -> Tag:
        frame = await data()
        count = int(frame["cohort_week"].nunique())
        clients = int(frame.groupby("cohort_week")["cohort_size"].first().sum()) if count else 0
        text = f"{count} cohort{'s' if count != 1 else ''}, {number(clients)} clients."
        return layout.summary("retention_cohorts", filters(), text, count)

    @render.ui
    async def chart() -> TagList:
        return charts.html(heatmap(await data(), filters().key()), "retention_plot")
