"""What every page's plotly figures share: plotly.js served from the plotly package, a figure's HTML, the common
styling and colours, the blank "no data" figure. The figures themselves live with their pages.

Figures are drawn by plotly.js in the browser, loaded once per page (no CDN). Every figure carries
``layout.meta = {"filters": <Filters.key()>}`` (:func:`style`) so a browser test can tell which filters it answers;
the drawn element keeps ``data`` and ``layout`` as plotly.js does.

(Not shinywidgets: its plotly FigureWidget ships the 5 MB plotly.js bundle in every widget's state, over the
websocket, each time a chart is redrawn.)
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from htmltools import HTMLDependency, TagList
from plotly.offline import get_plotlyjs_version
from shiny import ui

from dashboard.formats import VND_UNITS, vnd_short

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


def money_axis(top: float, ticks: int = 5) -> dict[str, Any]:
    """Axis settings for amounts in VND from 0 to at least ``top``: at most ``ticks`` + 1 round ticks (steps of 1, 2,
    2.5 or 5 × 10ⁿ dong) written in the unit of the highest by :func:`~dashboard.formats.vnd_short` ("0 ₫",
    "5 tr ₫", "7,5 tr ₫"; below 10.000 ₫ in dong), and the range they span."""
    top = max(float(top), 1.0)
    magnitude = 10 ** max(0, math.floor(math.log10(top / ticks)))  # whole dong
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude * ticks >= top)
    values = [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]
    scale = next((size for size, _ in VND_UNITS if values[-1] >= max(size, 1e4)), 1.0)
    digits = next((d for d in range(3) if round(step / scale, d) == step / scale), 3)  # as many as the step needs
    return {
        "tickvals": values,
        "ticktext": [vnd_short(v, scale=scale, digits=digits) for v in values],
        "range": [0, values[-1]],
    }


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
