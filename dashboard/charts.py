"""Plotly figures of the dashboard, built from the query results, and their HTML.

Figures are drawn by plotly.js in the browser, loaded once per page from the plotly package (no CDN). Every figure
carries ``layout.meta = {"filters": <Filters.key()>}`` so a browser test can tell which filters it answers; the
drawn element keeps ``data`` and ``layout`` as plotly.js does.

(Not shinywidgets: its plotly FigureWidget ships the 5 MB plotly.js bundle in every widget's state, over the
websocket, each time a chart is redrawn.)
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from htmltools import HTMLDependency, TagList
from plotly.offline import get_plotlyjs_version
from plotly.subplots import make_subplots
from shiny import ui

EVENTS_COLOR = "#2c7be5"
SESSIONS_COLOR = "#e67e22"
CART_COLOR = "#27ae60"
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}
STEP_LABELS = {
    "session_start": "Session start",
    "product_view": "Product view",
    "add_to_cart_click": "Add to cart",
    "checkout_start": "Checkout start",
    "checkout_complete": "Purchase",
}


def _values(values: Any) -> list[Any]:
    """A list for plotly with ``None`` for missing values (the widget's JSON refuses NaN)."""
    return [None if pd.isna(v) else v for v in values]


def _grid(frame: pd.DataFrame) -> list[list[Any]]:
    return [_values(row) for row in frame.to_numpy()]


PLOTLY_JS = HTMLDependency(
    "plotly.js",
    get_plotlyjs_version(),
    source={"package": "plotly", "subdir": "package_data"},
    script={"src": "plotly.min.js"},
)
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def html(figure: go.Figure, element_id: str) -> TagList:
    """The figure as a ``div#element_id`` drawn by the locally served plotly.js."""
    markup = pio.to_html(
        figure, include_plotlyjs=False, full_html=False, div_id=element_id, config=PLOT_CONFIG, validate=False
    )
    return TagList(PLOTLY_JS, ui.HTML(markup))


def _layout(figure: go.Figure, key: str, **layout: Any) -> go.Figure:
    figure.update_layout(
        meta={"filters": key},
        font=FONT,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        template="plotly_white",
        **layout,
    )
    return figure


def empty(key: str, message: str = "No data for these filters") -> go.Figure:
    """A blank figure saying why it is blank."""
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, font={"size": 15, "color": "#6c757d"}, x=0.5, y=0.5)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _layout(figure, key, height=320)


def timeseries(frame: pd.DataFrame, key: str, hourly: bool) -> go.Figure:
    """Events (left axis) and sessions (right axis) per bucket."""
    if frame.empty or (frame["events"].sum() == 0 and frame["sessions"].sum() == 0):
        return empty(key)
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    unit = "hour" if hourly else "day"
    x = frame["bucket_at"].dt.tz_localize(None)  # UTC, shown as such
    figure.add_trace(
        go.Scatter(
            x=x,
            y=frame["events"],
            name=f"Events per {unit}",
            mode="lines+markers",
            line={"color": EVENTS_COLOR, "width": 2},
            hovertemplate="%{x}<br>%{y:,} events<extra></extra>",
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=frame["sessions"],
            name=f"Sessions per {unit}",
            mode="lines+markers",
            line={"color": SESSIONS_COLOR, "width": 2, "dash": "dot"},
            hovertemplate="%{x}<br>%{y:,} sessions<extra></extra>",
        ),
        secondary_y=True,
    )
    figure.update_yaxes(title_text="events", rangemode="tozero", secondary_y=False)
    figure.update_yaxes(
        title_text="sessions", rangemode="tozero", showgrid=False, tickmode="auto", tickformat=",d", secondary_y=True
    )
    figure.update_xaxes(title_text=f"{unit} (UTC)")
    return _layout(figure, key, height=360, legend={"orientation": "h", "y": 1.12, "x": 0}, hovermode="x unified")


def funnel(frame: pd.DataFrame, key: str) -> go.Figure:
    """The five steps with sessions, step conversion and overall conversion."""
    if frame.empty or frame["sessions"].iloc[0] == 0:
        return empty(key)
    figure = go.Figure(
        go.Funnel(
            y=[STEP_LABELS.get(name, name) for name in frame["step_name"]],
            x=frame["sessions"].tolist(),
            textinfo="value+percent previous+percent initial",
            marker={"color": ["#2c7be5", "#3d8bfd", "#6ea8fe", "#9ec5fe", "#27ae60"]},
            connector={"fillcolor": "#e9ecef"},
            hovertemplate="%{y}: %{x:,} sessions<br>%{percentPrevious:.1%} of the previous step"
            "<br>%{percentInitial:.1%} of the sessions<extra></extra>",
        )
    )
    return _layout(figure, key, height=380)


def ranking(frame: pd.DataFrame, key: str, label_column: str, rank_by: str, top: int = 10) -> go.Figure:
    """Horizontal bars of views and add-to-carts for the first ``top`` rows (already ranked)."""
    if frame.empty or frame["views"].sum() == 0:
        return empty(key)
    head = frame.head(top).iloc[::-1]
    labels = head[label_column].fillna("(none)").astype(str)
    if labels.duplicated(keep=False).any() and "product_id" in head:  # two products named alike stay two bars
        repeated = labels.duplicated(keep=False)
        labels = labels.where(~repeated, labels + " (" + head["product_id"].astype(str) + ")")
    figure = go.Figure()
    for column, name, color in (("views", "Views", EVENTS_COLOR), ("add_to_carts", "Add to cart", CART_COLOR)):
        figure.add_trace(
            go.Bar(
                y=labels,
                x=head[column],
                name=name,
                orientation="h",
                marker_color=color,
                customdata=_values(head["view_to_cart_rate"]),
                hovertemplate="%{y}: %{x:,} " + name.lower() + "<br>view-to-cart %{customdata:.1%}<extra></extra>",
            )
        )
    return _layout(
        figure,
        key,
        height=max(260, 34 * len(head) + 80),
        barmode="group",
        legend={"orientation": "h", "y": 1.1, "x": 0},
        xaxis_title="views" if rank_by == "views" else "add to cart",
    )


def _node_label(step_index: int, step: str) -> str:
    if step == "session_start":
        return "start"
    return f"{step_index}. {step}"


def _sankey_positions(nodes: list[tuple[int, str]], flows: list[int]) -> tuple[list[float], list[float]]:
    """x by step index; y stacking each step's nodes, largest first, exit and continues last (plotly otherwise
    pushes every exit to the far right)."""
    last = max(index for index, _ in nodes) or 1
    total = max(sum(f for (i, _), f in zip(nodes, flows, strict=True) if i == level) for level in range(last + 1))
    x, y = [0.0] * len(nodes), [0.0] * len(nodes)
    for level in range(last + 1):
        members = [n for n, (index, _) in enumerate(nodes) if index == level]
        members.sort(key=lambda n: (nodes[n][1] in ("exit", "continues"), -flows[n]))
        gap = 0.08 / max(1, len(members) - 1)
        top = 0.02
        for n in members:
            height = 0.9 * flows[n] / total
            x[n] = 0.001 + 0.998 * level / last
            y[n] = min(0.999, max(0.001, top + height / 2))
            top += height + gap
    return x, y


def sankey(frame: pd.DataFrame, key: str) -> go.Figure:
    """Journeys: nodes are (step_index, step); from_step at i leads to to_step at i + 1."""
    if frame.empty:
        return empty(key)
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
    palette = {
        "exit": "#adb5bd",
        "continues": "#ced4da",
        "purchase": "#27ae60",
        "cart": "#20c997",
        "checkout": "#198754",
        "login": "#6f42c1",
    }
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [_node_label(i, step) for (i, step) in nodes],
                "color": [palette.get(step, EVENTS_COLOR) for (_, step) in nodes],
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
    return _layout(figure, key, height=600)


def retention(frame: pd.DataFrame, key: str) -> go.Figure:
    """Cohort heatmap: cohort week × weeks since the first visit, retention rate (active clients in the hover)."""
    if frame.empty:
        return empty(key, "No cohort starts in this range")
    rates = frame.pivot(index="cohort_week", columns="weeks_since_first_visit", values="retention_rate").sort_index()
    active = frame.pivot(index="cohort_week", columns="weeks_since_first_visit", values="active_clients").reindex(
        index=rates.index, columns=rates.columns
    )
    sizes = frame.groupby("cohort_week")["cohort_size"].first().reindex(rates.index)
    y = [f"{week} ({int(size):,})" for week, size in zip(rates.index, sizes, strict=True)]
    text = [[("" if pd.isna(v) else f"{v:.0%}") for v in row] for row in rates.to_numpy()]
    figure = go.Figure(
        go.Heatmap(
            z=_grid(rates),
            x=[f"week {int(w)}" for w in rates.columns],
            y=y,
            text=text,
            texttemplate="%{text}",
            customdata=_grid(active),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="cohort %{y}, %{x}: %{z:.1%} (%{customdata:,} clients)<extra></extra>",
            colorbar={"title": {"text": "retained"}, "tickformat": ".0%"},
        )
    )
    figure.update_yaxes(autorange="reversed", title_text="cohort week (clients)", type="category")
    figure.update_xaxes(side="top", type="category")
    return _layout(figure, key, height=max(260, 48 * len(y) + 120))
