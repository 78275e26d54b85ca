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

from dashboard import (
    acquisition,
    acquisition_queries,
    charts,
    customers,
    events,
    formats,
    freshness,
    funnel,
    journeys,
    layout,
    overview,
    revenue,
    warehouse,
)
from dashboard.filters import Filters
from dashboard.vocabulary import PageType, RfmSegment, Vocabulary

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


# -- acquisition and customers ------------------------------------------------------------------------
SHOP = Vocabulary(
    login_states=VOCABULARY.login_states,
    device_classes=VOCABULARY.device_classes,
    funnel_steps=VOCABULARY.funnel_steps,
    page_types=VOCABULARY.page_types,
    channels={"direct": "Direct", "paid_social": "Paid social", "email": "Email"},
    rfm_segments={
        "champions": RfmSegment("Champions", 4, 5, 4, 5),
        "loyal": RfmSegment("Loyal customers", 2, 5, 3, 5),
        "lost": RfmSegment("Lost", 1, 1, 1, 1),
    },
)
ALL = Filters(F.start, F.end)


def attribution_frame() -> pd.DataFrame:
    """Every model's credit for two channels, paid social with 10 tr ₫ of spend (as acquisition_queries.attribution gives
    it)."""
    rows = []
    for model in acquisition_queries.MODELS:
        first = model in ("first_touch", "linear")
        rows += [
            {"model": model, "channel": "paid_social", "attributed_conversions": 3.0 if first else 1.5,
             "attributed_revenue": 30_000_000.0 if first else 15_000_000.0, "spend": 10_000_000.0,
             "roas": 3.0 if first else 1.5},
            {"model": model, "channel": "direct", "attributed_conversions": 1.0 if first else 2.5,
             "attributed_revenue": 5_000_000.0 if first else 20_000_000.0, "spend": None, "roas": None},
        ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=acquisition_queries.ATTRIBUTION_COLUMNS)
    order = frame["model"].map(list(acquisition_queries.MODELS).index)
    return frame.assign(order=order).sort_values(["order", "attributed_revenue"], ascending=[True, False])[
        list(acquisition_queries.ATTRIBUTION_COLUMNS)
    ]  # each model by revenue, as the query gives them


def test_roas_and_counts_in_parts_read_plainly() -> None:
    assert formats.roas(3.4167) == "3.42×" and formats.roas(None) == "–" and formats.roas(float("nan")) == "–"
    assert formats.roas(Decimal("0")) == "0.00×"
    assert (
        formats.decimal(1234.56) == "1,234.6" and formats.decimal(0.3333, 2) == "0.33" and formats.decimal(None) == "–"
    )
    assert formats.kpi_text("ad_spend", 37_160_000) == "37.160.000 ₫"
    assert formats.kpi_text("revenue_per_customer", 9_084_842.1) == "9.084.842 ₫"
    assert (
        formats.kpi_text("repeat_rate", 0.2737) == "27.4 %" and formats.change_text("repeat_rate", -0.09) == "-9.0 pt"
    )
    assert formats.kpi_text("orders_per_customer", 1.3895) == "1.4"


def test_rfm_cells_are_named_by_the_first_segment_whose_scores_hold() -> None:
    assert SHOP.segment_at(5, 5) == "champions", "champions before loyal (priority)"
    assert SHOP.segment_at(3, 4) == "loyal" and SHOP.segment_at(1, 1) == "lost"
    assert SHOP.segment_at(3, 1) == "unsegmented" and SHOP.segment_label("unsegmented") == "Unsegmented"
    assert SHOP.segment_label("champions") == "Champions" and SHOP.segment_label("vip") == "vip"
    assert SHOP.channel_label("paid_social") == "Paid social" and SHOP.channel_label("sms") == "sms"
    assert SHOP.channel_label(None) == "Not tracked"
    assert VOCABULARY.segment_at(5, 5) == "unsegmented", "without the seed, nothing is named"


def test_acquisition_cards_carry_raw_values_and_spend_only_for_all_segments() -> None:
    names = acquisition_queries.KPI_NAMES
    current = {
        "sessions": 498,
        "conversion_rate": 0.1546,
        "orders": 70,
        "revenue": 329_870_000.0,
        "ad_spend": 37_160_000.0,
    }
    previous = current | {"sessions": 294, "ad_spend": 30_000_000.0}
    change = dict.fromkeys(names, 0.0) | {"sessions": 0.694, "ad_spend": 0.2387}
    html = str(acquisition.kpi_cards({"current": current, "previous": previous, "change": change}, ALL))
    assert re.search(r'id="acquisition_kpi_sessions"[^>]*data-value="498"[^>]*data-previous="294"', html)
    assert re.search(r'id="acquisition_kpi_revenue"[^>]*>329.870.000 ₫<', html)
    assert re.search(r'id="acquisition_kpi_ad_spend_change" class="kpi-change flat"[^>]*>\+23.9 %<', html), (
        "more spend is neither good nor bad news"
    )
    assert re.search(r'id="acquisition_kpi_sessions_change" class="kpi-change good"', html)
    segment = {"ad_spend": None}
    html = str(
        acquisition.kpi_cards(
            {"current": current | segment, "previous": previous | segment, "change": change | segment}, F
        )
    )
    assert re.search(r'id="acquisition_kpi_ad_spend"[^>]*data-value=""[^>]*>–<', html)
    assert re.search(r'id="acquisition_kpi_ad_spend_change"[^>]*>all segments only<', html)
    assert f'data-filters="{F.key()}"' in html
    assert 'data-segmented="true"' in str(acquisition.scope_note(F))
    assert 'data-segmented="false"' in str(acquisition.scope_note(ALL))


def test_a_models_table_shows_roas_where_there_is_spend_and_dashes_elsewhere() -> None:
    frame = attribution_frame()
    html = str(acquisition.model_table(frame, ALL, "markov", SHOP))
    assert 'data-model="markov"' in html and f'data-filters="{ALL.key()}"' in html
    direct = re.search(r'<tr data-channel="direct"[^>]*>(.*?)</tr>', html, re.S)
    assert direct and direct.group(1).count(">–<") == 2, "no spend, no ROAS"
    assert re.search(r'data-channel="paid_social"[^>]*data-spend="10000000.0" data-roas="1.5"', html)
    assert ">1.50×<" in html and ">10.000.000 ₫<" in html
    assert re.search(r'id="attribution_paid_channels"[^>]*data-roas="1.5"', html), "channels with spend together"
    assert re.search(r'id="attribution_all_channels" data-conversions="4.0" data-revenue="35000000.0"', html)
    segmented = frame.assign(spend=None, roas=None)
    html = str(acquisition.model_table(segmented, F, "markov", SHOP))
    assert "attribution_paid_channels" not in html and ">1.50×<" not in html
    assert "No attributed orders" in str(acquisition.model_table(frame.iloc[0:0], ALL, "markov", SHOP))


def test_models_side_by_side_highlight_the_selected_model_and_total_each_one() -> None:
    frame = attribution_frame()
    html = str(acquisition.models_table(frame, ALL, "linear", SHOP))
    assert 'data-model="linear"' in html
    assert re.search(r'<td class="num selected" data-model="linear" data-revenue="30000000.0"', html)
    assert html.count('class="num selected"') == 4, "the selected model's header, two channels and total"
    totals = re.findall(r'<tr class="totals">.*?</tr>', html, re.S)[0]
    assert totals.count('data-revenue="35000000.0"') == len(acquisition_queries.MODELS), (
        "every model shares the same total"
    )
    channels = re.findall(r'<tr data-channel="([^"]+)"', html)
    assert channels == ["paid_social", "direct"], "channels by the selected model's revenue"
    figure = acquisition.models_figure(frame, ALL.key(), "linear", SHOP)
    assert [trace.name for trace in figure.data] == list(acquisition_queries.MODELS.values())
    assert [trace.marker.opacity for trace in figure.data].count(1.0) == 1
    assert figure.data[3].marker.opacity == 1.0 and list(figure.data[3].x) == ["Paid social", "Direct"]
    assert figure.layout.meta == {"filters": ALL.key(), "model": "linear"}
    one = acquisition.model_figure(frame, ALL.key(), "markov", SHOP)
    assert list(one.data[0].y) == ["Paid social", "Direct"] and one.layout.meta["model"] == "markov", "most on top"
    assert list(one.data[0].text) == ["15 tr ₫", "20 tr ₫"]
    nothing = acquisition.models_figure(frame.iloc[0:0], ALL.key(), "linear", SHOP)
    assert nothing.layout.annotations[0].text == "No attributed orders for these filters"


def test_channels_are_three_panels_sharing_the_channel_axis() -> None:
    frame = pd.DataFrame(
        {"key": ["direct", "email"], "channels": [["direct"], ["email"]], "sessions": [163, 26], "share": [0.86, 0.14],
         "converted_sessions": [26, 5], "conversion_rate": [26 / 163, 5 / 26], "orders": [27, 3],
         "revenue": [88_200_000.0, 3_800_000.0], "revenue_per_session": [541_104.3, 146_153.8]}
    )  # fmt: skip
    figure = acquisition.channels_figure(frame, ALL.key(), SHOP)
    assert len(figure.data) == 3 and all(list(t.y) == ["Email", "Direct"] for t in figure.data), "most on top"
    assert list(figure.data[2].text) == ["3,8 tr ₫", "88,2 tr ₫"]
    assert list(figure.data[1].text) == ["19.2 %", "16.0 %"]
    assert figure.layout.meta == {"filters": ALL.key()}
    table = str(acquisition.traffic_table(frame, ALL, "campaign", SHOP))
    assert 'data-by="campaign"' in table and ">(not set)<" not in table
    no_campaign = frame.assign(key=["black_friday_2026", None])
    table = str(acquisition.traffic_table(no_campaign, ALL, "campaign", SHOP))
    assert ">(not set)<" in table and ">Email<" in table and 'data-key=""' in table
    assert re.search(r'data-key="black_friday_2026" data-sessions="163"[^>]*data-revenue="88200000.0"', table)
    assert acquisition.channels_figure(frame.iloc[0:0], ALL.key(), SHOP).layout.annotations[0].text == (
        "No sessions for these filters"
    )


def test_acquisition_and_customers_without_data_say_what_to_run() -> None:
    assert "clickstream etl" in str(acquisition.empty_state("missing"))
    assert "make demo" in str(acquisition.empty_state("empty")) and 'data-state="empty"' in str(
        acquisition.empty_state("empty")
    )
    assert "SHOP_DB_URL" in str(acquisition.no_orders_state()) and "ad-spend import" in str(
        acquisition.no_orders_state()
    )
    empty = str(ui.navset_tab(acquisition.panel("acquisition", "empty")).tagify())
    assert 'id="acquisition_empty"' in empty and "acquisition-cards" not in empty
    no_orders = str(ui.navset_tab(acquisition.panel("acquisition", "no_orders")).tagify())
    assert 'id="attribution_empty"' in no_orders and 'id="acquisition-cards"' in no_orders
    assert "acquisition-model" not in no_orders
    ready = str(ui.navset_tab(acquisition.panel("acquisition", "ready")).tagify())
    assert 'id="acquisition-model"' in ready and "Data-driven (Markov)" in ready and "Position-based 40/20/40" in ready
    assert "marts.dim_customers, marts.client_lifecycle_weekly" in str(customers.empty_state("missing"))
    assert "SHOP_DB_URL" in str(customers.empty_state("empty"))
    no_customers = str(ui.navset_tab(customers.panel("customers", "empty")).tagify())
    assert 'id="customers_empty"' in no_customers and 'id="customers-lifecycle_chart"' in no_customers, (
        "the visitors' lifecycle needs no orders"
    )
    assert "customers-cards" not in no_customers
    missing = str(ui.navset_tab(customers.panel("customers", "missing")).tagify())
    assert 'id="customers_empty"' in missing and "customers-lifecycle_chart" not in missing


def test_the_rfm_grid_puts_the_most_recent_on_top_and_names_each_cell() -> None:
    frame = pd.DataFrame({"r_score": [5, 3, 1], "fm_score": [5, 4, 1], "customers": [13, 4, 2],
                          "revenue": [240_360_000.0, 9_000_000.0, 100_000.0]})  # fmt: skip
    heatmap = customers.grid_figure(frame, ALL.key(), SHOP).data[0]
    assert list(heatmap.y) == ["R 1", "R 2", "R 3", "R 4", "R 5"], "plotly draws the first row at the bottom"
    assert list(heatmap.x) == ["FM 1", "FM 2", "FM 3", "FM 4", "FM 5"]
    assert heatmap.z[4][4] == 13 and heatmap.z[2][3] == 4 and heatmap.z[0][0] == 2 and heatmap.z[0][4] == 0
    assert heatmap.text[4][4] == "Champions<br><b>13</b>" and heatmap.text[2][3] == "Loyal<br>customers<br><b>4</b>"
    assert heatmap.text[2][0].startswith("Unsegmented")
    assert "240.360.000 ₫" in heatmap.customdata[4][4]


def test_the_lifecycle_draws_churn_below_zero_and_marks_the_week_in_progress() -> None:
    frame = pd.DataFrame(
        {"activity_week": [date(2026, 11, 16), date(2026, 11, 23)], "new_clients": [87, 11],
         "retained_clients": [101, 83], "returning_clients": [0, 9], "churned_clients": [39, 105],
         "active_clients": [188, 103]}
    )  # fmt: skip
    figure = customers.lifecycle_figure(frame, ALL.key(), last_date=date(2026, 11, 24))
    bars = {trace.name: trace for trace in figure.data}
    assert list(bars["Churned"].y) == [-39, -105] and list(bars["Churned"].customdata) == [39, 105]
    assert list(bars["New"].y) == [87, 11] and figure.layout.barmode == "relative"
    assert list(bars["New"].marker.pattern.shape) == ["", "/"], "the week still going is hatched"
    assert list(bars["Active"].text) == ["188 active", "103 active · week in progress"]
    finished = customers.lifecycle_figure(frame, ALL.key(), last_date=date(2026, 11, 29))
    assert list(finished.data[0].marker.pattern.shape) == ["", ""]
    quiet = frame.assign(new_clients=0, retained_clients=0, returning_clients=0, churned_clients=0)
    assert customers.lifecycle_figure(quiet, ALL.key(), None).layout.annotations[0].text == (
        "No client activity in these weeks"
    )


def test_customer_cards_compare_only_the_customers_won_in_the_dates() -> None:
    current = {"customers": 51, "repeat_rate": 0.2353, "revenue": 354_460_000.0, "orders_per_customer": 1.294,
               "revenue_per_customer": 6_950_196.1}  # fmt: skip
    html = str(customers.kpi_cards({"current": current, "previous": None, "change": None}, ALL, "all"))
    assert html.count(">as of the last build<") == len(customers.KPI_NAMES) and 'data-scope="all"' in html
    assert re.search(r'id="customers_kpi_customers"[^>]*data-value="51"[^>]*data-previous=""', html)
    assert re.search(r'id="customers_kpi_orders_per_customer"[^>]*>1.3<', html)
    previous = current | {"customers": 43, "repeat_rate": 0.3256}
    change = dict.fromkeys(customers.KPI_NAMES, 0.0) | {"customers": 0.186, "repeat_rate": -0.0903}
    html = str(customers.kpi_cards({"current": current, "previous": previous, "change": change}, ALL, "acquired"))
    assert re.search(r'id="customers_kpi_customers_change" class="kpi-change good"[^>]*>\+18.6 %<', html)
    assert re.search(r'id="customers_kpi_repeat_rate_change" class="kpi-change bad"[^>]*>-9.0 pt<', html)
    assert "first order was placed 2026-11-18 to 2026-11-24" in html


def test_segments_and_first_orders_read_best_first_with_untracked_last() -> None:
    frame = pd.DataFrame(
        {"segment": ["champions", "loyal", "lost", "unsegmented"], "customers": [13, 17, 0, 2],
         "share": [13 / 32, 17 / 32, 0.0, 2 / 32], "revenue": [240e6, 200e6, 0.0, 1e6],
         "revenue_share": [240 / 441, 200 / 441, 0.0, 1 / 441], "average_orders": [2.5, 1.5, None, 1.0],
         "average_revenue": [18.5e6, 11.8e6, None, 0.5e6], "average_recency_days": [12.9, 14.5, None, 30.0]}
    )  # fmt: skip
    bars = customers.segment_figure(frame, ALL.key(), SHOP).data[0]
    assert list(bars.y) == ["Unsegmented", "Lost", "Loyal customers", "Champions"], "the seed's order, best on top"
    assert list(bars.text)[2:] == ["17 · 45 % of revenue", "13 · 54 % of revenue"] and bars.text[1] == ""
    table = str(customers.segments_table(frame, ALL, "all", SHOP))
    assert re.search(r'data-segment="lost" data-customers="0" data-revenue="0.0" data-average-orders=""', table)
    assert ">18.500.000 ₫<" in table
    first = pd.DataFrame({"key": ["direct", "email", None], "customers": [27, 5, 15], "revenue": [2e8, 3e7, 1e8]})
    bars = customers.first_order_figure(first, ALL.key(), SHOP.channel_label).data[0]
    assert list(bars.y) == ["Not tracked", "Email", "Direct"]
    assert list(bars.marker.color) == [customers.UNTRACKED_COLOR, customers.CUSTOMERS_COLOR, customers.CUSTOMERS_COLOR]
