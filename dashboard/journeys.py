"""Journeys: how sessions move through the shop's page types (journey_transitions), as a Sankey; page types named
and coloured by the vocabulary's page_types."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList
from psycopg import sql
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout
from dashboard.filters import Filters, date_where
from dashboard.formats import number
from dashboard.vocabulary import Vocabulary

COLUMNS = ("step_index", "from_step", "to_step", "sessions")
# The journey model's own nodes (not page types): where every session starts, where it ends, and where journeys
# longer than journey_max_steps are folded.
START = "session_start"
ENDS = {"exit": "#adb5bd", "continues": "#ced4da"}


# -- queries --------------------------------------------------------------------------------------
def transitions(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """Transitions summed over the range: step_index, from_step, to_step, sessions (from_step at step_index leads
    to to_step at step_index + 1)."""
    where, params = date_where(filters)
    query = sql.SQL(
        """
        select step_index, from_step, to_step, sum(sessions)::bigint as sessions
        from marts.journey_transitions
        {where}
        group by step_index, from_step, to_step
        order by step_index, sessions desc, from_step, to_step
        """
    ).format(where=where)
    return db.frame(db.rows(pool, query, params), COLUMNS)


# -- pieces ---------------------------------------------------------------------------------------
def _node_label(step_index: int, step: str, vocabulary: Vocabulary) -> str:
    if step == START:
        return "start"
    return f"{step_index}. {step if step in ENDS else vocabulary.page_label(step)}"


def _node_color(step: str, vocabulary: Vocabulary) -> str:
    return ENDS.get(step) or vocabulary.page_color(step) or charts.EVENTS_COLOR


def _sankey_positions(nodes: list[tuple[int, str]], flows: list[int]) -> tuple[list[float], list[float]]:
    """x by step index; y stacking each step's nodes, largest first, exit and continues last (plotly otherwise
    pushes every exit to the far right)."""
    last = max(index for index, _ in nodes) or 1
    total = max(sum(f for (i, _), f in zip(nodes, flows, strict=True) if i == level) for level in range(last + 1))
    x, y = [0.0] * len(nodes), [0.0] * len(nodes)
    for level in range(last + 1):
        members = [n for n, (index, _) in enumerate(nodes) if index == level]
        members.sort(key=lambda n: (nodes[n][1] in ENDS, -flows[n]))
        gap = 0.08 / max(1, len(members) - 1)
        top = 0.02
        for n in members:
            height = 0.9 * flows[n] / total
            x[n] = 0.001 + 0.998 * level / last
            y[n] = min(0.999, max(0.001, top + height / 2))
            top += height + gap
    return x, y


def sankey(frame: pd.DataFrame, key: str, vocabulary: Vocabulary) -> go.Figure:
    """Journeys: nodes are (step_index, step); from_step at i leads to to_step at i + 1."""
    if frame.empty:
        return charts.empty(key)
    index: dict[tuple[int, str], int] = {}
    inflow: dict[int, int] = {}
    outflow: dict[int, int] = {}

    def node(step_index: int, step: str) -> int:
        return index.setdefault((step_index, step), len(index))

    sources, targets, values = [], [], []
    for row in frame.sort_values(["step_index", "sessions"], ascending=[True, False]).itertuples(index=False):
        source, target, sessions = (
            node(int(row.step_index), str(row.from_step)),
            node(int(row.step_index) + 1, str(row.to_step)),
            int(row.sessions),
        )
        sources.append(source)
        targets.append(target)
        values.append(sessions)
        outflow[source] = outflow.get(source, 0) + sessions
        inflow[target] = inflow.get(target, 0) + sessions
    nodes = list(index)
    flows = [max(inflow.get(n, 0), outflow.get(n, 0)) for n in range(len(nodes))]
    x, y = _sankey_positions(nodes, flows)
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [_node_label(i, step, vocabulary) for (i, step) in nodes],
                "color": [_node_color(step, vocabulary) for (_, step) in nodes],
                "customdata": [step for (_, step) in nodes],
                "x": x,
                "y": y,
                "pad": 8,
                "thickness": 14,
                "hovertemplate": "%{label}: %{value:,} sessions<extra></extra>",
            },
            link={
                "source": sources,
                "target": targets,
                "value": values,
                "color": "rgba(44, 123, 229, 0.18)",
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,} sessions<extra></extra>",
            },
        )
    )
    return charts.style(figure, key, height=600)


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel() -> NavSetArg:
    return layout.tab(
        "Journeys",
        layout.card(
            "How sessions move through the shop",
            ui.output_ui("summary"),
            ui.output_ui("chart"),
            note="Page types in visiting order (repeats collapsed), by the day the session started; "
            "'continues' folds journeys longer than 8 steps.",
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
    data = db.on_filters(transitions, pool, filters)

    @render.ui
    async def summary() -> Tag:
        frame = await data()
        sessions = int(frame.loc[frame["step_index"] == 0, "sessions"].sum())
        text = f"{number(sessions)} sessions started in the range."
        return layout.summary("journeys_sessions", filters(), text, sessions)

    @render.ui
    async def chart() -> TagList:
        return charts.html(sankey(await data(), filters().key(), vocabulary), "journeys_plot")
