"""The dashboard's formats, HTML pieces, figures and vocabulary, without a warehouse or a browser."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape

import pandas as pd
import pytest
from shiny import ui

from dashboard import charts, events, formats, freshness, funnel, journeys, layout, overview, revenue, warehouse
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


def test_amounts_read_as_the_shop_writes_them_in_vnd() -> None:
    assert formats.vnd(0) == "0 ₫"
    assert formats.vnd(3980000) == "3.980.000 ₫"
    assert formats.vnd(None) == "–" and formats.vnd(float("nan")) == "–"
    assert formats.vnd(999) == "999 ₫" and formats.vnd(1000) == "1.000 ₫"
    assert formats.vnd(1_234_567_890_123) == "1.234.567.890.123 ₫"
    assert formats.vnd(Decimal("3980000.00")) == "3.980.000 ₫", "numeric columns arrive as Decimal"
    # whole dong, halves away from zero (not to even): an average order value of 7.463.962,26 ₫
    assert formats.vnd(7463962.264) == "7.463.962 ₫" and formats.vnd(7463962.5) == "7.463.963 ₫"
    assert formats.vnd(2.5) == "3 ₫" and formats.vnd(1999.5) == "2.000 ₫" and formats.vnd(2.4999) == "2 ₫"
    assert formats.vnd(-1500.5) == "-1.501 ₫"
    assert formats.kpi_text("revenue", 3980000) == "3.980.000 ₫"
    assert formats.kpi_text("average_order_value", None) == "–"
    assert (
        formats.kpi_text("capture_rate", 0.756) == "75.6 %" and formats.change_text("capture_rate", 0.02) == "+2.0 pt"
    )


def test_short_amounts_and_money_axes_use_one_vietnamese_unit() -> None:
    assert formats.vnd_short(12_500_000) == "12,5 tr ₫" and formats.vnd_short(12_000_000) == "12 tr ₫"
    assert formats.vnd_short(1_234_000_000) == "1,2 tỷ ₫" and formats.vnd_short(2_500_000_000_000) == "2.500 tỷ ₫"
    assert formats.vnd_short(450_000) == "450 nghìn ₫" and formats.vnd_short(950) == "950 ₫"
    assert formats.vnd_short(999_960) == "1 tr ₫", "rounded up into the next unit"
    assert formats.vnd_short(0) == "0 ₫" and formats.vnd_short(None) == "–"
    assert formats.vnd_short(250_000, scale=1e6, digits=2) == "0,25 tr ₫"
    with pytest.raises(ValueError, match="scale"):
        formats.vnd_short(5, scale=1e4)
    axis = charts.money_axis(184_780_000)
    assert axis["ticktext"] == ["0 ₫", "50 tr ₫", "100 tr ₫", "150 tr ₫", "200 tr ₫"]
    assert axis["range"] == [0, 200_000_000]
    for top in (1, 7, 999, 12_000, 3_460_000, 742_920_000, 12_345_678_901):
        axis = charts.money_axis(top)
        values, texts = axis["tickvals"], axis["ticktext"]
        steps = {round(b - a, 6) for a, b in itertools.pairwise(values)}
        assert values[0] == 0 and values[-1] >= top and len(values) <= 7 and len(steps) == 1, (top, values)
        assert len({text.split(" ", 1)[1] for text in texts[1:]}) == 1, f"one unit on the axis: {texts}"
        assert texts[0] == "0 ₫" and all(t.endswith(" ₫") for t in texts)


def test_revenue_cards_write_money_in_vnd_and_capture_only_without_a_segment() -> None:
    names = revenue.KPI_NAMES
    current = {"revenue": 395_590_000.0, "orders": 82, "paid_orders": 53, "average_order_value": 7463962.26,
               "capture_rate": 0.756, "revenue_capture_rate": 0.666}  # fmt: skip
    previous = current | {"revenue": 346_680_000.0}
    change = dict.fromkeys(names, 0.0) | {"revenue": 0.141}
    all_segments = Filters(F.start, F.end)
    html = str(revenue.kpi_cards({"current": current, "previous": previous, "change": change}, all_segments))
    assert re.search(r'id="revenue_kpi_revenue"[^>]*data-value="395590000.0"[^>]*>395.590.000 ₫<', html)
    assert re.search(r'id="revenue_kpi_average_order_value"[^>]*>7.463.962 ₫<', html)
    assert re.search(r'id="revenue_kpi_capture_rate"[^>]*data-value="0.756"[^>]*>75.6 %<', html)
    assert re.search(r'id="revenue_kpi_revenue_change" class="kpi-change good"[^>]*>\+14.1 %<', html)
    assert f'data-filters="{all_segments.key()}"' in html
    segment = dict.fromkeys(("capture_rate", "revenue_capture_rate"))
    html = str(
        revenue.kpi_cards({"current": current | segment, "previous": previous | segment, "change": change | segment}, F)
    )
    assert re.search(r'id="revenue_kpi_capture_rate"[^>]*data-value=""[^>]*>–<', html)
    assert re.search(r'id="revenue_kpi_capture_rate_change" class="kpi-change flat"[^>]*>all segments only<', html)


def test_the_revenue_page_without_orders_names_the_shop_database_settings() -> None:
    empty = str(revenue.empty_state("empty"))
    assert 'id="revenue_empty"' in empty and "SHOP_DB_URL" in empty and "SHOP_PG_*" in empty
    assert "clickstream etl" in empty
    missing = str(revenue.empty_state("missing"))
    assert "marts.fct_orders, marts.fct_order_items, marts.fct_carts" in missing and "clickstream etl" in missing
    panel = str(ui.navset_tab(revenue.panel("revenue", "empty")).tagify())
    assert 'id="revenue_empty"' in panel and "revenue-cards" not in panel
    assert 'id="revenue-cards"' in str(ui.navset_tab(revenue.panel("revenue", "ready")).tagify())


def test_revenue_figures_show_untracked_orders_apart_and_money_in_vnd() -> None:
    segments = pd.DataFrame(
        {
            "segment": ["desktop", "mobile", None],
            "is_tracked": [True, True, False],
            "orders": [31, 27, 20],
            "paid_orders": [21, 15, 14],
            "revenue": [221_690_000.0, 37_950_000.0, 131_940_000.0],
        }
    )
    bars = revenue.segment_figure(segments, F.key(), {"desktop": "Desktop", "mobile": "Mobile"}).data[0]
    assert list(bars.y) == ["Not tracked", "Mobile", "Desktop"], "largest tracked on top, untracked at the bottom"
    assert list(bars.marker.color) == [revenue.UNTRACKED_COLOR, revenue.REVENUE_COLOR, revenue.REVENUE_COLOR]
    assert list(bars.text) == ["131,9 tr ₫", "38 tr ₫", "221,7 tr ₫"]
    days = pd.DataFrame(
        {
            "date_day": [date(2026, 11, 23), date(2026, 11, 24)],
            "orders": [18, 9],
            "paid_orders": [12, 5],
            "revenue": [184_780_000.0, 3_460_000.0],
            "tracked_revenue": [130_100_000.0, 3_460_000.0],
            "untracked_revenue": [54_680_000.0, 0.0],
        }
    )
    figure = revenue.daily_figure(days, F.key(), segmented=False)
    assert [trace.name for trace in figure.data] == [
        "Paid revenue: tracked orders", "Paid revenue: not tracked", "Orders placed"
    ]  # fmt: skip
    assert list(figure.data[0].customdata) == ["130.100.000 ₫", "3.460.000 ₫"]
    assert figure.layout.yaxis.ticktext[-1] == "200 tr ₫" and figure.layout.meta == {"filters": F.key()}
    assert [trace.name for trace in revenue.daily_figure(days, F.key(), segmented=True).data] == [
        "Paid revenue", "Orders placed"
    ]  # fmt: skip
    nothing = revenue.daily_figure(days.assign(orders=0), F.key(), segmented=False)
    assert nothing.layout.annotations[0].text == "No orders in this range"
    row = {"product_id": "p1", "product_name": "Bàn phím AULA F75", "product_category": "keyboard",
           "product_brand": "AULA", "orders": 13, "units": 13, "revenue": 23_660_000.0}  # fmt: skip
    table = str(revenue.products_table(pd.DataFrame([row]), F, "revenue"))
    assert ">23.660.000 ₫<" in table and 'data-revenue="23660000.0"' in table and 'data-units="13"' in table
