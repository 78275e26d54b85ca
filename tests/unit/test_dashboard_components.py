"""The dashboard's formats, HTML pieces, figures and vocabulary, without a warehouse or a browser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html import unescape

import pandas as pd
import pytest

from dashboard import charts, events, formats, freshness, funnel, journeys, layout, overview, warehouse
from dashboard.filters import Filters
from dashboard.vocabulary import PageType, Vocabulary

F = Filters(date(2026, 11, 18), date(2026, 11, 24), "anonymous")
# As the seeds have it (dbt_project/seeds), in part.
VOCABULARY = Vocabulary(
    login_states={"logged_in": "Logged in", "anonymous": "Anonymous"},
    device_classes={"desktop": "Desktop", "mobile": "Mobile"},
    funnel_steps={"session_start": "Session start", "product_view": "Product view"},
    page_types={
        "home": PageType("Home", None),
        "product": PageType("Product", None),
        "cart": PageType("Cart", "#20c997"),
    },
)


def test_numbers_read_like_a_shop_owner_expects() -> None:
    assert formats.number(12345) == "12,345"
    assert formats.rate(0.1374) == "13.7 %"
    assert formats.duration(65.2) == "1 min 05 s" and formats.duration(42) == "42 s"
    assert formats.duration(3 * 3600 + 125) == "3 h 02 min"
    assert formats.change_text("sessions", 0.25) == "+25.0 %"
    assert formats.change_text("bounce_rate", -0.012) == "-1.2 pt"
    assert formats.change_text("users", None) == "no previous data"
    assert [formats.kpi_text(n, None) for n in ("events", "bounce_rate", "median_session_seconds")] == ["–"] * 3


def test_kpi_cards_carry_raw_values_for_machines() -> None:
    names = overview.KPI_NAMES
    current = dict.fromkeys(names, 0) | {"sessions": 1200, "bounce_rate": 0.25, "median_session_seconds": None}
    previous = dict.fromkeys(names, 0) | {"sessions": 1000, "bounce_rate": 0.2, "median_session_seconds": 61.5}
    change = dict.fromkeys(names) | {"sessions": 0.2, "bounce_rate": 0.05}
    html = str(overview.kpi_cards({"current": current, "previous": previous, "change": change}, F))
    assert f'data-filters="{F.key()}"' in html
    assert re.search(r'id="kpi_sessions"[^>]*data-value="1200"[^>]*data-previous="1000"[^>]*data-change="0.2"', html)
    assert re.search(r'id="kpi_median_session_seconds"[^>]*data-value=""[^>]*data-previous="61.5"', html)
    assert re.search(r'id="kpi_bounce_rate_change" class="kpi-change bad"', html), "more bounces is bad news"
    assert re.search(r'id="kpi_sessions_change" class="kpi-change good"', html)


def test_freshness_says_never_when_nothing_ran() -> None:
    html = str(freshness.bar(dict.fromkeys(["last_load_finished_at", "newest_event_at", "marts_refreshed_at"])))
    assert html.count("never") == 3 and 'class="stale"' in html
    recent = datetime(2026, 11, 24, 11, 40, tzinfo=UTC)
    html = str(
        freshness.bar(
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
    figure = journeys.sankey(frame, F.key(), VOCABULARY)
    assert figure.layout.meta == {"filters": F.key()}
    node = figure.data[0].node
    assert all(0 < v < 1 for v in (*node.x, *node.y))
    assert list(node.label) == ["start", "1. Home", "1. exit", "2. Product", "2. exit", "3. exit"]
    html = str(charts.html(figure, "journeys_plot"))
    assert 'id="journeys_plot"' in html and "Plotly.newPlot" in html
    assert not re.search(r"https?://(?!www\.w3\.org)", html), "no CDN: plotly.js is served by the app"
    assert charts.PLOTLY_JS.source == {"package": "plotly", "subdir": "package_data"}
    empty = funnel.figure(pd.DataFrame(columns=["step_order", "step_name", "sessions"]), F.key(), VOCABULARY)
    assert empty.layout.annotations[0].text == "No data for these filters"


def test_names_the_vocabulary_lacks_show_as_they_are_in_the_default_colour() -> None:
    frame = pd.DataFrame(
        {
            "step_index": [0, 1, 2],
            "from_step": ["session_start", "cart", "wishlist"],
            "to_step": ["cart", "wishlist", "exit"],
            "sessions": [5, 5, 5],
        }
    )
    node = journeys.sankey(frame, F.key(), VOCABULARY).data[0].node
    assert list(node.label) == ["start", "1. Cart", "2. wishlist", "3. exit"]
    assert list(node.color) == ["#2c7be5", "#20c997", charts.EVENTS_COLOR, "#adb5bd"]
    steps = pd.DataFrame(
        {
            "step_order": [0, 1, 2],
            "step_name": ["session_start", "product_view", "gift_wrap"],
            "sessions": [10, 6, 3],
            "conversion_from_previous": [None, 0.6, 0.5],
            "conversion_from_start": [1.0, 0.6, 0.3],
        }
    )
    assert list(funnel.figure(steps, F.key(), VOCABULARY).data[0].y) == ["Session start", "Product view", "gift_wrap"]
    assert ">gift_wrap</td>" in str(funnel.table(steps, F, VOCABULARY))


def test_the_vocabulary_refuses_segments_the_filters_do_not_offer() -> None:
    assert VOCABULARY.check(F) is F
    with pytest.raises(ValueError, match="login state must be one of logged_in, anonymous"):
        VOCABULARY.check(Filters(F.start, F.end, login_state="guest"))
    with pytest.raises(ValueError, match="device class must be one of desktop, mobile"):
        VOCABULARY.check(Filters(F.start, F.end, device_class="bot"))


def test_a_client_link_fills_the_events_pages_own_search_box() -> None:
    row = dict.fromkeys(events.COLUMNS) | {
        "event_at": datetime(2026, 11, 24, 11, tzinfo=UTC),
        "event_name": "product_view",
        "client_id": "c-1",
        "event_id": "e-1",
    }
    page = {"rows": pd.DataFrame([row]), "page": 0, "page_size": 50, "has_previous": False, "has_next": False}
    onclick = re.search(r'onclick="([^"]*)"', str(events.table(page, F, "", "events-search")))
    assert onclick and "getElementById('events-search')" in unescape(onclick.group(1))


def test_a_warehouse_built_before_the_seeds_names_what_it_lacks() -> None:
    everything = str(layout.not_built_page(warehouse.NEEDED, warehouse.MARTS))
    assert "has no marts" in everything and "clickstream etl" in everything
    seeds_only = str(layout.not_built_page(["login_states", "device_classes"], warehouse.MARTS))
    assert "marts.login_states, marts.device_classes" in seeds_only and "clickstream etl" in seeds_only
