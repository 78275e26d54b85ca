"""The dashboard's formats, HTML pieces and figures, without a warehouse or a browser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pandas as pd

from dashboard import charts, components
from dashboard.queries import KPI_NAMES, Filters

F = Filters(date(2026, 11, 18), date(2026, 11, 24), "anonymous")


def test_numbers_read_like_a_shop_owner_expects() -> None:
    assert components.number(12345) == "12,345"
    assert components.rate(0.1374) == "13.7 %"
    assert components.duration(65.2) == "1 min 05 s" and components.duration(42) == "42 s"
    assert components.duration(3 * 3600 + 125) == "3 h 02 min"
    assert components.change_text("sessions", 0.25) == "+25.0 %"
    assert components.change_text("bounce_rate", -0.012) == "-1.2 pt"
    assert components.change_text("users", None) == "no previous data"
    assert [components.kpi_text(n, None) for n in ("events", "bounce_rate", "median_session_seconds")] == ["–"] * 3


def test_kpi_cards_carry_raw_values_for_machines() -> None:
    current = dict.fromkeys(KPI_NAMES, 0) | {"sessions": 1200, "bounce_rate": 0.25, "median_session_seconds": None}
    previous = dict.fromkeys(KPI_NAMES, 0) | {"sessions": 1000, "bounce_rate": 0.2, "median_session_seconds": 61.5}
    change = dict.fromkeys(KPI_NAMES) | {"sessions": 0.2, "bounce_rate": 0.05}
    html = str(components.kpi_cards({"current": current, "previous": previous, "change": change}, F))
    assert f'data-filters="{F.key()}"' in html
    assert re.search(r'id="kpi_sessions"[^>]*data-value="1200"[^>]*data-previous="1000"[^>]*data-change="0.2"', html)
    assert re.search(r'id="kpi_median_session_seconds"[^>]*data-value=""[^>]*data-previous="61.5"', html)
    assert re.search(r'id="kpi_bounce_rate_change" class="kpi-change bad"', html), "more bounces is bad news"
    assert re.search(r'id="kpi_sessions_change" class="kpi-change good"', html)


def test_freshness_says_never_when_nothing_ran() -> None:
    html = str(components.freshness(dict.fromkeys(["last_load_finished_at", "newest_event_at", "marts_refreshed_at"])))
    assert html.count("never") == 3 and 'class="stale"' in html
    recent = datetime(2026, 11, 24, 11, 40, tzinfo=UTC)
    html = str(
        components.freshness(
            {"last_load_finished_at": recent, "last_load_status": "succeeded", "newest_event_at": recent},
            now=datetime(2026, 11, 24, 12, tzinfo=UTC),
        )
    )
    assert "2026-11-24 11:40 UTC (20 min ago)" in html and "stale" not in html


def test_figures_are_drawn_by_the_local_plotly_js_and_name_their_filters() -> None:
    frame = pd.DataFrame(
        {
            "step_index": [0, 0, 1, 1, 2],
            "from_step": ["session_start", "session_start", "home", "home", "product"],
            "to_step": ["home", "exit", "product", "exit", "exit"],
            "sessions": [8, 2, 6, 2, 6],
        }
    )
    figure = charts.sankey(frame, F.key())
    assert figure.layout.meta == {"filters": F.key()}
    node = figure.data[0].node
    assert all(0 < v < 1 for v in (*node.x, *node.y))
    assert list(node.label) == ["start", "1. home", "1. exit", "2. product", "2. exit", "3. exit"]
    html = str(charts.html(figure, "journeys_plot"))
    assert 'id="journeys_plot"' in html and "Plotly.newPlot" in html
    assert not re.search(r"https?://(?!www\.w3\.org)", html), "no CDN: plotly.js is served by the app"
    assert charts.PLOTLY_JS.source == {"package": "plotly", "subdir": "package_data"}
    empty = charts.funnel(pd.DataFrame(columns=["step_order", "step_name", "sessions"]), F.key())
    assert empty.layout.annotations[0].text == "No data for these filters"
