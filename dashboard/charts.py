"""What every page's plotly figures share: plotly.js served from the plotly package, a figure's HTML, the common
styling and colours, the blank "no data" figure. The figures themselves live with their pages.

Figures are drawn by plotly.js in the browser, loaded once per page (no CDN). Every figure carries
``layout.meta = {"filters": <Filters.key()>}`` (:func:`style`) so a browser test can tell which filters it answers;
the drawn element keeps ``data`` and ``layout`` as plotly.js does.

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
from shiny import ui

EVENTS_COLOR = "#2c7be5"
SESSIONS_COLOR = "#e67e22"
CART_COLOR = "#27ae60"
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}

PLOTLY_JS = HTMLDependency(
    "plotly.js",
    get_plotlyjs_version(),
    source={"package": "plotly", "subdir": "package_data"},
    script={"src": "plotly.min.js"},
)
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def values(column: Any) -> list[Any]:
    """A list for plotly with ``None`` for missing values (the widget's JSON refuses NaN)."""
    return [None if pd.isna(v) else v for v in column]


def grid(frame: pd.DataFrame) -> list[list[Any]]:
    return [values(row) for row in frame.to_numpy()]


def html(figure: go.Figure, element_id: str) -> TagList:
    """The figure as a ``div#element_id`` drawn by the locally served plotly.js."""
    markup = pio.to_html(
        figure, include_plotlyjs=False, full_html=False, div_id=element_id, config=PLOT_CONFIG, validate=False
    )
    return TagList(PLOTLY_JS, ui.HTML(markup))


def style(figure: go.Figure, key: str, **layout: Any) -> go.Figure:
    """The dashboard's look, and ``meta.filters = key``."""
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
    return style(figure, key, height=320)
