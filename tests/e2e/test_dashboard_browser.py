"""The dashboard in a real browser: `clickstream dashboard` in a subprocess, Debian's Chromium driven by Playwright.

Every number read off the page is compared with SQL over the marts; every request must stay on 127.0.0.1 (the page
works offline). Screenshots of each tab go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dashboard import formats
from dashboard.filters import Filters
from loader.config import WarehouseSettings
from tests.conftest import ROOT, free_port
from tests.support import dashboard_warehouse as warehouse
from tests.support.dashboard_expected import (
    MODELS,
    expected_acquisition_kpis,
    expected_attributed_orders,
    expected_attribution,
    expected_campaign_attribution,
    expected_carts,
    expected_cohorts,
    expected_customer_kpis,
    expected_event_ids,
    expected_events,
    expected_first_orders,
    expected_funnel,
    expected_lifecycle,
    expected_order_products,
    expected_products,
    expected_revenue_by_segment,
    expected_revenue_kpis,
    expected_score_grid,
    expected_segments,
    expected_session_kpis,
    expected_traffic,
    spend_imported,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
LAST_DAY = date(2026, 11, 24)
KPIS = ("events", "sessions", "clients", "users", "conversion_rate", "bounce_rate", "median_session_seconds")
REVENUE_KPIS = ("revenue", "orders", "paid_orders", "average_order_value", "capture_rate", "revenue_capture_rate")
ACQUISITION_KPIS = ("sessions", "conversion_rate", "orders", "revenue", "ad_spend")
CUSTOMER_KPIS = ("customers", "repeat_rate", "revenue", "orders_per_customer", "revenue_per_customer")
VND_TEXT = re.compile(r"\d{1,3}(\.\d{3})* ₫")  # 3.980.000 ₫

# plotly keeps numeric arrays typed (decoded from base64 "bdata"): hand them over as plain lists
PLAIN_FIGURE = """
id => {
    const plain = value => {
        if (ArrayBuffer.isView(value)) return Array.from(value);
        if (Array.isArray(value)) return value.map(plain);
        if (value && typeof value === "object") {
            if ("_inputArray" in value) return Array.from(value._inputArray);
            return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
        }
        return value;
    };
    const gd = document.getElementById(id);
    return {data: plain(gd.data), layout: plain(gd.layout)};
}
"""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not installed (/usr/bin/chromium): apt-get install chromium"
    ),
]


# -- the app and the browser --------------------------------------------------------------------------
@contextmanager
def dashboard_server(settings: WarehouseSettings) -> Iterator[str]:
    """``python -m clickstream dashboard`` on a free port, reading ``settings`` through DW_URL."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("DW_PG_")}
    env["DW_URL"] = settings.url()
    process = subprocess.Popen(
        [sys.executable, "-m", "clickstream", "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the dashboard exited with {process.returncode}: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the dashboard did not answer within 60s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Dashboard:
    """One browser page on the dashboard; records every request and page error."""

    def __init__(self, browser: Any, url: str) -> None:
        self.url = url
        self.origin = urlsplit(url).netloc
        self.context = browser.new_context(viewport={"width": 1440, "height": 1200})
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("websocket", lambda socket: self.requests.append(socket.url))
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on(
            "console",
            lambda message: self.errors.append(f"console: {message.text}") if message.type == "error" else None,
        )

    def _route(self, route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or parts.netloc == self.origin:
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def open(self) -> None:
        self.page.goto(self.url)

    def tab(self, name: str) -> None:
        self.page.click(f"a.nav-link[data-value={name}]")

    def set_dates(self, start: date, end: date) -> None:
        for index, value in ((0, start), (1, end)):
            field = self.page.locator("#date_range input").nth(index)
            field.click()
            field.press("Control+a")
            field.press_sequentially(value.isoformat())
            field.press("Enter")
            field.press("Escape")
        self.page.locator("#filters .panel-note").click()  # away from the calendar, which closes it

    def set_login_state(self, value: str) -> None:
        self.page.select_option("#login_state", value)

    def set_device_class(self, value: str) -> None:
        self.page.select_option("#device_class", value)

    def rendered(self, element_id: str, f: Filters) -> Any:
        """The element once it shows ``f`` (panels carry data-filters)."""
        locator = self.page.locator(f'#{element_id}[data-filters="{f.key()}"]')
        locator.wait_for()
        return locator

    def plot(self, element_id: str, f: Filters, **meta: str) -> dict[str, Any]:
        """data and layout of a plotly figure once it is drawn for ``f`` (and names the ``meta`` given: the model,
        the customers' scope)."""
        self.page.wait_for_function(
            "([id, wanted]) => { const meta = document.getElementById(id)?.layout?.meta;"
            " return !!meta && Object.entries(wanted).every(([k, v]) => meta[k] === v); }",
            arg=[element_id, {"filters": f.key(), **meta}],
        )
        figure: dict[str, Any] = self.page.evaluate(PLAIN_FIGURE, element_id)
        return figure

    def attribute(self, selector: str, name: str) -> str:
        value = self.page.get_attribute(selector, name)
        assert value is not None, f"{selector} has no {name}"
        return value

    def screenshot(self, name: str, height: int | None = None) -> None:
        """The page as shown; with ``height``, in a viewport that tall (the tab scrolls inside the page)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        viewport = self.page.viewport_size
        if height is not None and viewport is not None:
            self.page.set_viewport_size({"width": viewport["width"], "height": height})
        self.page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
        self.page.wait_for_timeout(600 if height else 400)  # let plotly finish its transitions (and resizes)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        if height is not None and viewport is not None:
            self.page.set_viewport_size(viewport)

    def close(self) -> None:
        self.context.close()

    def assert_offline_and_clean(self) -> None:
        assert not self.foreign, f"requests left 127.0.0.1: {self.foreign}"
        assert all(urlsplit(u).netloc == self.origin for u in self.requests if not u.startswith(("data:", "blob:")))
        assert self.requests, "no request recorded"
        assert not self.errors, self.errors


def number(value: str) -> float | None:
    return None if value == "" else float(value)


# -- warehouses ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def traffic_dw(pg_server: WarehouseSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseSettings]:
    settings = warehouse.create_database(pg_server)
    warehouse.build(settings, tmp_path_factory.mktemp("browser-traffic"))
    yield settings
    warehouse.drop_database(pg_server, settings)


@pytest.fixture(scope="module")
def traffic_dashboard(traffic_dw: WarehouseSettings) -> Iterator[str]:
    with dashboard_server(traffic_dw) as url:
        yield url


@pytest.fixture
def dashboard(browser: Any, traffic_dashboard: str) -> Iterator[Dashboard]:
    page = Dashboard(browser, traffic_dashboard)
    yield page
    page.close()


# -- checks -------------------------------------------------------------------------------------------
def expected_change(name: str, current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    if name in formats.RATE_KPIS:
        return current - previous  # points
    return None if previous == 0 else (current - previous) / previous


def check_overview(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    ui.rendered("kpis", f)
    expected = {
        period: {**expected_session_kpis(dw, filters), "events": expected_events(dw, filters)}
        for period, filters in (("current", f), ("previous", f.previous()))
    }
    for period, attribute in (("current", "data-value"), ("previous", "data-previous")):
        for name in KPIS:
            shown = number(ui.attribute(f"#kpi_{name}", attribute))
            value = expected[period][name]
            if value is None:
                assert shown is None, f"{period} {name}: {shown}"
            else:
                assert shown == pytest.approx(value, rel=1e-9), f"{period} {name}: {shown} != {value}"
    for name in KPIS:  # what a person reads: the formatted value and its change
        assert ui.page.inner_text(f"#kpi_{name}") == formats.kpi_text(name, expected["current"][name]), name
        change = expected_change(name, expected["current"][name], expected["previous"][name])
        assert ui.page.inner_text(f"#kpi_{name}_change") == formats.change_text(name, change), name
    events = expected_events(dw, f)
    figure = ui.plot("timeseries_plot", f)
    events_trace, sessions_trace = figure["data"]
    assert len(events_trace["y"]) == f.days * (24 if f.days <= 3 else 1)
    assert sum(events_trace["y"]) == events
    assert sum(sessions_trace["y"]) == expected_session_kpis(dw, f)["sessions"]


def check_funnel(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    ui.rendered("funnel_steps", f)
    reached = expected_funnel(dw, f)
    assert [int(ui.attribute(f"#funnel_step_{step}", "data-sessions")) for step in range(5)] == reached
    for step in range(1, 5):
        shown = number(ui.attribute(f"#funnel_step_{step}", "data-conversion-previous"))
        assert shown == (pytest.approx(reached[step] / reached[step - 1]) if reached[step - 1] else None)
    assert number(ui.attribute("#funnel_overall", "data-value")) == pytest.approx(reached[4] / reached[0])
    assert ui.plot("funnel_plot", f)["data"][0]["x"] == reached


def check_products(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    products = expected_products(dw, f, "product_id")
    top_views = sorted((views for views, _ in products.values()), reverse=True)[:10]
    views_trace = ui.plot("products_plot", f)["data"][0]
    assert sorted(views_trace["x"], reverse=True) == top_views
    names = dict(warehouse.query(dw, "select distinct on (product_id) product_id, product_name from marts.fct_events"
                                 " where product_id is not null order by product_id, event_at desc, event_id desc"))  # fmt: skip
    shown = dict(zip(views_trace["y"], views_trace["x"], strict=True))
    assert all(products[pid][0] == shown[names[pid]] for pid, name in names.items() if name in shown), "bars by name"
    categories = expected_products(dw, f, "product_category")
    trace = ui.plot("categories_plot", f)["data"][0]
    assert dict(zip(trace["y"], trace["x"], strict=True)) == {
        name: views for name, (views, _) in sorted(categories.items(), key=lambda kv: -kv[1][0])[:10]
    }
    brands = ui.plot("brands_plot", f)["data"][1]  # add to cart
    expected_brands = expected_products(dw, f, "product_brand")
    assert all(expected_brands[name][1] == carts for name, carts in zip(brands["y"], brands["x"], strict=True))
    every_product = expected_products(dw, f, "product_id", keep_empty=True)  # the table lists wishlist-only ones too
    summary = ui.page.locator("#products-table .shiny-data-grid-summary")
    summary.wait_for()
    assert summary.inner_text().endswith(f"of {len(every_product)}"), summary.inner_text()
    # sortable: a click on a header orders the rows by that column, a second click the other way
    header = ui.page.locator("#products-table thead th", has_text="Add to cart").first
    column = ui.page.locator("#products-table thead th").all_inner_texts().index("Add to cart")
    cart_counts = {carts for _, carts in every_product.values()}
    seen_first = set()
    for _ in range(2):
        header.click()
        ui.page.wait_for_timeout(300)
        cells = ui.page.locator(f"#products-table tbody tr td:nth-child({column + 1})").all_inner_texts()
        values = [int(v) for v in cells]
        assert values in (sorted(values), sorted(values, reverse=True))
        seen_first.add(values[0])
    assert seen_first == {max(cart_counts), min(cart_counts)}


def check_journeys(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    sessions = expected_session_kpis(dw, f)["sessions"]
    ui.rendered("journeys_sessions", f)
    assert int(ui.attribute("#journeys_sessions", "data-value")) == sessions
    sankey = ui.plot("journeys_plot", f)["data"][0]
    start = sankey["node"]["label"].index("start")
    assert (
        sum(v for s, v in zip(sankey["link"]["source"], sankey["link"]["value"], strict=True) if s == start) == sessions
    )


def check_retention(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    ui.rendered("retention_cohorts", f)
    cohorts = expected_cohorts(dw, f)
    assert int(ui.attribute("#retention_cohorts", "data-value")) == len(cohorts) > 0
    heatmap = ui.plot("retention_plot", f)["data"][0]
    assert heatmap["y"] == [f"{week} ({size:,})" for week, size in cohorts]
    assert all(row[0] == 1 for row in heatmap["z"]), "every cohort is fully active in its first week"
    assert "do not apply" in ui.page.inner_text("#retention_note")


def check_revenue(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    """Every KPI, bar, cart figure and product row of the Revenue tab against sums over fct_orders, fct_carts and
    fct_order_items."""
    ui.rendered("revenue_kpis", f)
    segmented = f.login_state is not None or f.device_class is not None
    expected = {
        period: expected_revenue_kpis(dw, filters) for period, filters in (("current", f), ("previous", f.previous()))
    }
    for period, attribute in (("current", "data-value"), ("previous", "data-previous")):
        for name in REVENUE_KPIS:
            shown = number(ui.attribute(f"#revenue_kpi_{name}", attribute))
            value = expected[period][name]
            if value is None:
                assert shown is None, f"{period} {name}: {shown}"
            else:
                assert shown == pytest.approx(value, rel=1e-9), f"{period} {name}: {shown} != {value}"
    for name in REVENUE_KPIS:
        assert ui.page.inner_text(f"#revenue_kpi_{name}") == formats.kpi_text(name, expected["current"][name]), name
        change = expected_change(name, expected["current"][name], expected["previous"][name])
        wanted = "all segments only" if segmented and "capture" in name else formats.change_text(name, change)
        assert ui.page.inner_text(f"#revenue_kpi_{name}_change") == wanted, name
    money = ui.page.inner_text("#revenue_kpi_revenue")
    assert VND_TEXT.fullmatch(money) and money == formats.vnd(expected["current"]["revenue"]), money
    assert VND_TEXT.fullmatch(ui.page.inner_text("#revenue_kpi_average_order_value"))
    # the note: how many orders of the range the tracker never saw (left out under a segment)
    untracked = warehouse.query(
        dw,
        "select count(*) from marts.fct_orders where match_method = 'none' and ordered_date between %s and %s",
        (f.start, f.end),
    )[0][0]
    ui.rendered("revenue_scope", f)
    assert int(ui.attribute("#revenue_scope", "data-value")) == untracked
    assert ("left out" in ui.page.inner_text("#revenue_scope")) == segmented
    # revenue by day: every day, summing to the cards
    daily = ui.plot("revenue_daily_plot", f)
    *bars, orders_line = daily["data"]
    assert len(bars) == (1 if segmented else 2) and all(len(bar["y"]) == f.days for bar in bars)
    assert sum(sum(bar["y"]) for bar in bars) == pytest.approx(expected["current"]["revenue"])
    assert sum(orders_line["y"]) == expected["current"]["orders"]
    # by device class and login state, "Not tracked" only without a segment
    for plot, column, seed in (
        ("revenue_device_plot", "device_class", "device_classes"),
        ("revenue_login_plot", "login_state", "login_states"),
    ):
        labels = dict(warehouse.query(dw, f"select {column}, label from marts.{seed}"))
        bar = ui.plot(plot, f)["data"][0]
        shown = dict(zip(bar["y"], bar["x"], strict=True))
        wanted = {
            (labels.get(key, key) if key is not None else "Not tracked"): revenue
            for key, (_, _, revenue) in expected_revenue_by_segment(dw, f, column).items()
        }
        assert shown.keys() == wanted.keys() and ("Not tracked" in shown) != segmented, plot
        assert all(shown[k] == pytest.approx(v) for k, v in wanted.items()), plot
    # abandoned carts
    ui.rendered("revenue_carts", f)
    carts = expected_carts(dw, f)
    for name, value in carts.items():
        shown = number(ui.attribute(f"#cart_{name}", "data-value"))
        assert shown == (None if value is None else pytest.approx(value)), name
    assert ui.page.inner_text("#cart_revenue_left_in_cart") == formats.vnd(carts["revenue_left_in_cart"])
    # products by revenue, then by units
    ui.page.locator(f'#revenue_products[data-filters="{f.key()}"][data-rank-by="revenue"]').wait_for()
    products = expected_order_products(dw, f)
    rows = ui.page.eval_on_selector_all(
        "#revenue_products tbody tr[data-product-id]",
        "rows => rows.map(r => [r.dataset.productId, +r.dataset.orders, +r.dataset.units, +r.dataset.revenue,"
        " r.lastElementChild.textContent])",
    )
    assert {pid: (o, u) for pid, o, u, _, _ in rows} == {pid: (o, u) for pid, (o, u, _) in products.items()}
    assert all(revenue == pytest.approx(products[pid][2]) for pid, _, _, revenue, _ in rows)
    assert all(text == formats.vnd(revenue) for _, _, _, revenue, text in rows), "revenue in VND"
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True)
    ui.page.check("#revenue-rank_by input[value=units]")
    ui.page.locator(f'#revenue_products[data-filters="{f.key()}"][data-rank-by="units"]').wait_for()
    units = ui.page.eval_on_selector_all(
        "#revenue_products tbody tr[data-product-id]", "rows => rows.map(r => +r.dataset.units)"
    )
    assert units == sorted(units, reverse=True) and len(units) == len(products)
    ui.page.check("#revenue-rank_by input[value=revenue]")
    ui.page.locator(f'#revenue_products[data-filters="{f.key()}"][data-rank-by="revenue"]').wait_for()


def check_kpis(
    ui: Dashboard,
    prefix: str,
    names: tuple[str, ...],
    expected: dict[str, dict[str, Any]],
    changes: dict[str, str],
) -> None:
    """Each KPI card ``#<prefix><name>``: the raw current and previous values, the value as written, the line under
    it (``changes``)."""
    for period, attribute in (("current", "data-value"), ("previous", "data-previous")):
        for name in names:
            shown = number(ui.attribute(f"#{prefix}{name}", attribute))
            value = expected[period][name]
            if value is None:
                assert shown is None, f"{period} {name}: {shown}"
            else:
                assert shown == pytest.approx(value, rel=1e-9), f"{period} {name}: {shown} != {value}"
    for name in names:
        assert ui.page.inner_text(f"#{prefix}{name}") == formats.kpi_text(name, expected["current"][name]), name
        assert ui.page.inner_text(f"#{prefix}{name}_change") == changes[name], name


def table_rows(ui: Dashboard, selector: str, *attributes: str) -> list[list[str]]:
    rows: list[list[str]] = ui.page.eval_on_selector_all(
        selector, "(rows, names) => rows.map(r => names.map(n => r.getAttribute(n) ?? ''))", list(attributes)
    )
    return rows


def check_acquisition(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    """The Acquisition tab against sums over fct_sessions, fct_orders and attribution_paths (and the spend as
    imported): the KPIs, the channels, the traffic table by channel and by campaign, the attribution of two models
    chosen in turn, the models side by side, the campaigns."""
    ui.rendered("acquisition_kpis", f)
    segmented = f.login_state is not None or f.device_class is not None
    expected = {
        period: expected_acquisition_kpis(dw, filters)
        for period, filters in (("current", f), ("previous", f.previous()))
    }
    changes = {
        name: "all segments only"
        if segmented and name == "ad_spend"
        else formats.change_text(name, expected_change(name, expected["current"][name], expected["previous"][name]))
        for name in ACQUISITION_KPIS
    }
    check_kpis(ui, "acquisition_kpi_", ACQUISITION_KPIS, expected, changes)
    assert VND_TEXT.fullmatch(ui.page.inner_text("#acquisition_kpi_revenue"))
    assert ui.attribute("#acquisition_scope", "data-segmented") == ("true" if segmented else "false")
    labels = dict(warehouse.query(dw, "select channel, label from marts.channels"))
    # channels: sessions, conversion rate and revenue, one panel each
    traffic = expected_traffic(dw, f, "channel")
    sessions, rates, revenues = ui.plot("acquisition_channels_plot", f)["data"]
    assert dict(zip(sessions["y"], sessions["x"], strict=True)) == {
        labels[k]: g["sessions"] for k, g in traffic.items()
    }
    assert sessions["y"] == rates["y"] == revenues["y"]
    for label, value in zip(revenues["y"], revenues["x"], strict=True):
        key = next(k for k, name in labels.items() if name == label)
        assert value == pytest.approx(traffic[key]["revenue"]), label
    # the table, by channel, then by campaign
    for by in ("channel", "campaign"):
        ui.page.check(f"#acquisition-by input[value={by}]")
        ui.page.locator(f'#acquisition_traffic[data-filters="{f.key()}"][data-by="{by}"]').wait_for()
        groups = expected_traffic(dw, f, by)
        rows = table_rows(ui, "#acquisition_traffic tbody tr[data-sessions]", "data-key", "data-sessions",
                          "data-converted", "data-orders", "data-revenue")  # fmt: skip
        assert len(rows) == len(groups), by
        for key, count, converted, orders, revenue in rows:
            group = groups[key or None]
            assert (int(count), int(converted), int(orders)) == (group["sessions"], group["converted"], group["orders"])
            assert float(revenue) == pytest.approx(group["revenue"]), key
        assert [int(r[1]) for r in rows if r[0]] == sorted((int(r[1]) for r in rows if r[0]), reverse=True)
    ui.page.check("#acquisition-by input[value=channel]")
    # attribution: the orders shared, then two models chosen in turn
    orders = expected_attributed_orders(dw, f)
    ui.rendered("attribution_summary", f)
    assert int(ui.attribute("#attribution_summary", "data-orders")) == orders["orders"]
    assert int(ui.attribute("#attribution_summary", "data-attributed-orders")) == orders["attributed_orders"]
    credits = expected_attribution(dw, f)
    spend = {} if segmented else spend_imported(dw, f)
    tolerance = 0.01 * f.days  # the daily mart rounds each day's revenue to the hundredth of a dong
    for model in ("last_non_direct", "markov", "last_non_direct"):
        ui.page.check(f"#acquisition-model input[value={model}]")
        ui.page.locator(f'#attribution_channels[data-filters="{f.key()}"][data-model="{model}"]').wait_for()
        rows = table_rows(ui, "#attribution_channels tbody tr[data-channel]", "data-channel", "data-conversions",
                          "data-revenue", "data-spend", "data-roas")  # fmt: skip
        wanted = {channel: value for (m, channel), value in credits.items() if m == model}
        assert set(wanted) <= {r[0] for r in rows} <= set(wanted) | set(spend), "touched, or spent on"
        for channel, conversions, revenue, spent, roas in rows:
            credited = wanted.get(channel, (0.0, 0.0))
            assert float(conversions) == pytest.approx(credited[0], abs=1e-6), (model, channel)
            assert float(revenue) == pytest.approx(credited[1], abs=tolerance), (model, channel)
            if channel in spend:
                assert float(spent) == pytest.approx(spend[channel]), channel
                assert float(roas) == pytest.approx(float(revenue) / spend[channel]), channel
            else:
                assert spent == roas == "", f"no spend, no ROAS: {channel}"
        assert [float(r[2]) for r in rows] == sorted((float(r[2]) for r in rows), reverse=True)
        bars = ui.plot("attribution_model_plot", f, model=model)["data"][0]
        assert sum(bars["x"]) == pytest.approx(sum(v for _, v in wanted.values()), abs=tolerance * len(wanted))
        side_by_side = ui.plot("attribution_models_plot", f, model=model)["data"]
        assert [t["name"] for t in side_by_side] == list(MODEL_LABELS)
        assert [t["marker"]["opacity"] for t in side_by_side].index(1) == list(MODELS).index(model)
        ui.page.locator(f'#attribution_compare[data-filters="{f.key()}"][data-model="{model}"]').wait_for()
        totals = dict(table_rows(ui, "#attribution_compare tfoot td[data-model]", "data-model", "data-revenue"))
        for each in MODELS:
            total = sum(v for (m, _), (_, v) in credits.items() if m == each)
            assert float(totals[each]) == pytest.approx(total, abs=tolerance * len(wanted)), each
            if not segmented:
                assert float(totals[each]) == pytest.approx(orders["attributed_revenue"], abs=tolerance * len(wanted))
        assert ui.page.get_attribute("#attribution_compare thead th.selected", "class") == "num selected"
        ui.page.locator(f'#attribution_campaigns[data-filters="{f.key()}"][data-model="{model}"]').wait_for()
        campaigns = expected_campaign_attribution(dw, f, model)
        rows = table_rows(ui, "#attribution_campaigns tbody tr[data-channel]", "data-channel", "data-campaign",
                          "data-revenue", "data-roas")  # fmt: skip
        assert {(r[0], r[1]) for r in rows} >= set(campaigns)
        for channel, campaign, revenue, roas in rows:
            assert float(revenue) == pytest.approx(campaigns.get((channel, campaign), (0, 0.0))[1], abs=tolerance)
            assert (roas != "") == (not segmented and (channel, campaign) in spend_imported(dw, f, by="campaign"))


MODEL_LABELS = ("First touch", "Last touch", "Last non-direct", "Linear", "Position-based 40/20/40", "Time decay",
                "Data-driven (Markov)")  # fmt: skip


def check_customers(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    """The Customers tab against dim_customers rows (every customer, then those first ordering in the range) and
    the weekly lifecycle against a recount from fct_sessions."""
    labels = dict(warehouse.query(dw, "select channel, label from marts.channels"))
    segment_labels = dict(warehouse.query(dw, "select segment, label from marts.rfm_segments"))
    for scope in ("acquired", "all"):
        ui.page.check(f"#customers-scope input[value={scope}]")
        ui.page.locator(f'#customers_kpis[data-filters="{f.key()}"][data-scope="{scope}"]').wait_for()
        current = expected_customer_kpis(dw, f, scope)
        if scope == "all":
            previous = dict.fromkeys(CUSTOMER_KPIS)
            changes = dict.fromkeys(CUSTOMER_KPIS, "as of the last build")
        else:
            previous = expected_customer_kpis(dw, f.previous(), scope)
            changes = {
                name: formats.change_text(name, expected_change(name, current[name], previous[name]))
                for name in CUSTOMER_KPIS
            }
        check_kpis(ui, "customers_kpi_", CUSTOMER_KPIS, {"current": current, "previous": previous}, changes)
        segments = expected_segments(dw, f, scope)
        ui.page.locator(f'#customers_segments[data-filters="{f.key()}"][data-scope="{scope}"]').wait_for()
        rows = table_rows(ui, "#customers_segments tbody tr", "data-segment", "data-customers", "data-revenue")
        assert [r[0] for r in rows][: len(segment_labels)] == list(
            dict(warehouse.query(dw, "select segment, label from marts.rfm_segments order by priority"))
        ), "the seed's order"
        for segment, customers, revenue in rows:
            assert int(customers) == segments.get(segment, (0, 0.0, 0))[0], segment
            assert float(revenue) == pytest.approx(segments.get(segment, (0, 0.0, 0))[1]), segment
        if segments:
            bars = ui.plot("customers_segments_plot", f, scope=scope)["data"][0]
            assert dict(zip(bars["y"], bars["x"], strict=True)) == {
                segment_labels.get(s, "Unsegmented"): segments.get(s, (0, 0.0, 0))[0]
                for s in [*segment_labels, *segments]
            }
        cells = expected_score_grid(dw, f, scope)
        if cells:
            heatmap = ui.plot("customers_grid_plot", f, scope=scope)["data"][0]
            assert heatmap["y"] == [f"R {r}" for r in range(1, 6)]
            for (r_score, fm_score), (count, segment) in cells.items():
                assert heatmap["z"][r_score - 1][fm_score - 1] == count
                assert (
                    heatmap["text"][r_score - 1][fm_score - 1].replace("<br>", " ").startswith(segment_labels[segment])
                ), (r_score, fm_score)
        first = expected_first_orders(dw, f, "first_order_channel", scope)
        if first:
            bars = ui.plot("customers_channel_plot", f, scope=scope)["data"][0]
            assert dict(zip(bars["y"], bars["x"], strict=True)) == {
                (labels[k] if k else "Not tracked"): count for k, (count, _) in first.items()
            }
            assert bars["y"][0] == "Not tracked" or None not in first, "not tracked at the bottom"
    weeks = expected_lifecycle(dw, f)
    ui.rendered("customers_lifecycle", f)
    figure = ui.plot("customers_lifecycle_plot", f)
    traces = {t["name"]: t for t in figure["data"]}
    x = traces["New"]["x"]
    for index, name in enumerate(("New", "Retained", "Returning", "Churned")):
        sign = -1 if name == "Churned" else 1
        assert traces[name]["y"] == [sign * weeks.get(date.fromisoformat(w), (0, 0, 0, 0))[index] for w in x], name
    assert int(ui.attribute("#customers_lifecycle", "data-value")) == len(x)


def shown_event_ids(ui: Dashboard) -> list[str]:
    ids: list[str] = ui.page.eval_on_selector_all("#events_rows tbody tr", "rows => rows.map(r => r.dataset.eventId)")
    return ids


def check_events(ui: Dashboard, dw: WarehouseSettings, f: Filters) -> None:
    expected = expected_event_ids(dw, f)
    page = ui.rendered("events_page", f)
    assert page.get_attribute("data-page") == "0"
    assert shown_event_ids(ui) == expected[:50]
    ui.page.click("#events-next")
    ui.page.locator('#events_page[data-page="1"]').wait_for()
    assert shown_event_ids(ui) == expected[50:100]
    ui.page.click("#events-prev")
    ui.page.locator('#events_page[data-page="0"]').wait_for()
    client = warehouse.query(
        dw,
        "select client_id from marts.fct_events where (event_at at time zone 'UTC')::date between %s and %s"
        " group by 1 order by count(*) desc, 1 limit 1",
        (f.start, f.end),
    )[0][0]
    for term, condition, params in (
        (client, " and client_id = %(client)s", {"client": client}),
        ("checkout_complete", " and event_name = 'checkout_complete'", {}),
    ):
        ui.page.fill("#events-search", term)
        ui.page.locator(f'#events_page[data-search="{term}"]').wait_for()
        assert shown_event_ids(ui) == expected_event_ids(dw, f, condition, **params)[:50]
    # a click on a client id shows that client's events
    ui.page.fill("#events-search", "")
    ui.page.locator('#events_page[data-search=""]').wait_for()
    link = ui.page.locator("#events_rows a.client-link").nth(3)
    clicked = link.inner_text()
    link.click()
    ui.page.locator(f'#events_page[data-search="{clicked}"]').wait_for()
    assert ui.page.input_value("#events-search") == clicked
    shown = shown_event_ids(ui)
    assert shown == expected_event_ids(dw, f, " and client_id = %(client)s", client=clicked)[:50] and shown


# -- tests --------------------------------------------------------------------------------------------
def test_every_tab_shows_the_marts_numbers_and_follows_the_filters(
    dashboard: Dashboard, traffic_dw: WarehouseSettings
) -> None:
    ui = dashboard
    ui.open()
    default = Filters(LAST_DAY - timedelta(days=6), LAST_DAY)
    check_overview(ui, traffic_dw, default)
    assert ui.page.locator("#date_range input").nth(0).input_value() == default.start.isoformat()
    assert ui.page.locator("#date_range input").nth(1).input_value() == default.end.isoformat()
    # the segments on offer are the vocabulary's seeds: what the storefront sends, every device class but bots
    options = "options => options.map(o => [o.value, o.textContent])"
    assert ui.page.eval_on_selector_all("#login_state option", options) == [
        ["all", "All"], ["logged_in", "Logged in"], ["anonymous", "Anonymous"]
    ]  # fmt: skip
    assert ui.page.eval_on_selector_all("#device_class option", options) == [
        ["all", "All"], ["desktop", "Desktop"], ["mobile", "Mobile"], ["tablet", "Tablet"], ["other", "Other"],
        ["unknown", "Unknown"],
    ]  # fmt: skip
    # freshness: the last ETL run and the newest event, from pipeline_status
    finished, newest = warehouse.query(
        traffic_dw, "select last_load_finished_at, newest_event_at from marts.pipeline_status"
    )[0]
    assert datetime.fromisoformat(ui.attribute("#freshness_last_load", "data-value")) == finished
    assert datetime.fromisoformat(ui.attribute("#freshness_newest_event", "data-value")) == newest
    assert ui.attribute("#freshness_status", "data-value") == "succeeded"
    ui.screenshot("overview")

    ui.set_login_state("logged_in")
    logged_in = Filters(default.start, default.end, "logged_in")
    check_overview(ui, traffic_dw, logged_in)

    ui.set_dates(LAST_DAY - timedelta(days=2), LAST_DAY)
    short = Filters(LAST_DAY - timedelta(days=2), LAST_DAY, "logged_in")
    check_overview(ui, traffic_dw, short)  # hourly
    ui.screenshot("overview-logged-in-3-days")

    ui.set_device_class("mobile")
    ui.set_login_state("all")
    ui.set_dates(LAST_DAY - timedelta(days=9), LAST_DAY - timedelta(days=1))
    mobile = Filters(LAST_DAY - timedelta(days=9), LAST_DAY - timedelta(days=1), None, "mobile")
    check_overview(ui, traffic_dw, mobile)

    for name, check in (
        ("revenue", check_revenue),
        ("acquisition", check_acquisition),
        ("funnel", check_funnel),
        ("products", check_products),
        ("journeys", check_journeys),
        ("retention", check_retention),
        ("customers", check_customers),
        ("events", check_events),
    ):
        ui.tab(name)
        check(ui, traffic_dw, mobile)
        ui.screenshot(name)

    # the open tab follows a filter change too
    ui.tab("funnel")
    ui.set_device_class("all")
    ui.set_login_state("anonymous")
    check_funnel(ui, traffic_dw, Filters(mobile.start, mobile.end, "anonymous"))
    ui.tab("revenue")  # the filters chosen elsewhere apply here too, and the tab follows the next change
    check_revenue(ui, traffic_dw, Filters(mobile.start, mobile.end, "anonymous"))
    ui.set_login_state("all")
    ui.set_dates(default.start, default.end)
    check_revenue(ui, traffic_dw, default)  # all segments: untracked orders as their own bar, capture rates shown
    ui.screenshot("revenue-all-segments", height=2500)
    ui.tab("acquisition")  # all segments: the daily marts, spend and ROAS
    check_acquisition(ui, traffic_dw, default)
    ui.screenshot("acquisition-all-segments", height=4300)
    ui.set_device_class("desktop")  # the open tab follows: sessions and touches on desktops only
    check_acquisition(ui, traffic_dw, Filters(default.start, default.end, None, "desktop"))
    ui.set_device_class("all")
    ui.tab("customers")
    check_customers(ui, traffic_dw, default)
    ui.screenshot("customers-all-customers", height=2700)
    ui.assert_offline_and_clean()


def test_the_data_health_page_shows_the_hours_against_their_baseline_and_the_pipeline(
    dashboard: Dashboard, traffic_dw: WarehouseSettings
) -> None:
    """Every hour of the range (the traffic ends on LAST_DAY at noon: the hours after it are zeros, and judged), the
    anomalous ones circled and listed as the mart has them, the state now, the last runs and the quarantine."""
    ui = dashboard
    ui.open()
    ui.tab("health")
    f = Filters(LAST_DAY - timedelta(days=6), LAST_DAY)
    figure = ui.plot("health_hours_plot", f)
    traces = {trace.get("name"): trace for trace in figure["data"]}
    assert {"Expected band", "Expected", "Events", "Checkouts", "Anomaly"} <= traces.keys()
    assert len(traces["Events"]["y"]) == 7 * 24, "every hour of the week, empty ones too"
    [(events, checkouts)] = warehouse.query(
        traffic_dw,
        "select count(*), count(*) filter (where payload ->> 'eventName' = 'checkout_complete') from raw.events"
        " where event_at >= %s and event_at < %s",
        (f.start_at, f.end_at),
    )
    assert (sum(traces["Events"]["y"]), sum(traces["Checkouts"]["y"])) == (events, checkouts)
    flagged = warehouse.query(
        traffic_dw,
        "select hour_at, events from marts.data_health_hourly where is_anomaly and hour_at >= %s and hour_at < %s"
        " order by hour_at",
        (f.start_at, f.end_at),
    )
    assert traces["Anomaly"]["y"] == [count for _, count in flagged]
    assert int(ui.attribute("#health_anomalies", "data-rows")) == len(flagged)
    rows = ui.page.locator("#health_anomalies tbody tr[data-hour]").evaluate_all(
        "rows => rows.map(r => r.dataset.hour)"
    )
    assert [datetime.fromisoformat(hour) for hour in rows] == [hour for hour, _ in reversed(flagged)]
    opened = warehouse.query(
        traffic_dw,
        "with latest as (select hour_at from marts.data_health_hourly where is_complete order by hour_at desc limit 3)"
        " select count(*) from marts.data_health_hourly where is_anomaly"
        " and hour_at >= (select min(hour_at) from latest)",
    )[0][0]
    assert int(ui.attribute("#health_status", "data-open")) == opened
    # the traffic ended on LAST_DAY at noon and two weeks are no baseline: not "healthy", but no events lately
    assert ui.attribute("#health_status", "data-tone") == ("open" if opened else "unsure")
    assert ui.rendered("health_rejected", f).get_attribute("data-rows") == "0", "the generator's traffic loads clean"
    assert (
        int(ui.attribute("#health_runs", "data-rows"))
        == warehouse.query(traffic_dw, "select count(*) from raw.etl_runs")[0][0]
    )
    assert "Login state and device class do not apply" in ui.rendered("health_summary", f).inner_text()
    ui.screenshot("health", height=1900)
    ui.assert_offline_and_clean()


def test_the_freshness_line_is_on_every_page(dashboard: Dashboard) -> None:
    ui = dashboard
    ui.open()
    for name in ("overview", "revenue", "acquisition", "funnel", "products", "journeys", "retention", "customers",
                 "events", "health"):  # fmt: skip
        ui.tab(name)
        ui.page.locator("#freshness_last_load").wait_for(state="visible")
        assert "UTC" in ui.page.inner_text("#freshness_bar"), name
    ui.assert_offline_and_clean()


def test_an_empty_warehouse_shows_a_friendly_empty_state(
    browser: Any, pg_server: WarehouseSettings, tmp_path: Path
) -> None:
    settings = warehouse.create_database(pg_server)
    try:
        warehouse.build(settings, tmp_path, traffic=())
        with dashboard_server(settings) as url:
            ui = Dashboard(browser, url)
            ui.open()
            ui.page.locator("#empty_warehouse").wait_for()
            assert "make demo" in ui.page.inner_text("#empty_warehouse")
            ui.page.locator("#kpis[data-filters]").wait_for()
            assert ui.attribute("#kpi_sessions", "data-value") == "0"
            assert ui.attribute("#kpi_conversion_rate", "data-value") == ""
            assert ui.attribute("#freshness_newest_event", "data-value") == ""
            ui.tab("revenue")  # no orders: what to configure, not zeros that look like data
            empty = ui.page.locator("#revenue_empty")
            empty.wait_for()
            assert "SHOP_DB_URL" in empty.inner_text() and "SHOP_PG_" in empty.inner_text()
            assert ui.page.locator("#revenue_kpis").count() == 0 and ui.page.locator("#revenue_carts").count() == 0
            ui.screenshot("revenue-empty-warehouse")
            ui.tab("acquisition")  # no sessions: how to get traffic
            empty = ui.page.locator("#acquisition_empty")
            empty.wait_for()
            assert "make demo" in empty.inner_text() and ui.attribute("#acquisition_empty", "data-state") == "empty"
            assert ui.page.locator("#acquisition_kpis").count() == 0
            ui.screenshot("acquisition-empty-warehouse")
            ui.tab("customers")  # no orders: how to connect the shop; the visitors' lifecycle, empty
            empty = ui.page.locator("#customers_empty")
            empty.wait_for()
            assert "SHOP_DB_URL" in empty.inner_text() and ui.page.locator("#customers_kpis").count() == 0
            ui.page.locator("#customers_lifecycle_plot").get_by_text("No client activity in these weeks").wait_for()
            assert ui.attribute("#customers_lifecycle", "data-value") in ("1", "2"), "the weeks the last 7 days overlap"
            ui.screenshot("customers-empty-warehouse")
            for name in ("funnel", "products", "journeys", "retention", "events"):
                ui.tab(name)
                ui.page.wait_for_timeout(300)
            ui.page.get_by_text("No events for these filters").wait_for()
            ui.tab("funnel")
            ui.page.locator("#funnel_plot").get_by_text("No data for these filters").wait_for()
            ui.screenshot("empty-warehouse")
            ui.tab("health")  # no hour to judge: how to get them
            assert ui.attribute("#health_empty", "data-state") == "empty"
            assert "clickstream health" in ui.page.inner_text("#health_empty")
            ui.assert_offline_and_clean()
            ui.close()
    finally:
        warehouse.drop_database(pg_server, settings)


def test_a_shop_with_three_days_of_data_opens_on_them(
    browser: Any, pg_server: WarehouseSettings, tmp_path: Path
) -> None:
    """The default week starts before the first data: the date picker must keep it, and every number follows."""
    settings = warehouse.create_database(pg_server)
    try:
        warehouse.build(settings, tmp_path, traffic=((1200, 3, 23),))
        [(first, last)] = warehouse.query(
            settings, "select min(started_date), max(started_date) from marts.fct_sessions"
        )
        assert 2 <= (last - first).days <= 3
        with dashboard_server(settings) as url:
            ui = Dashboard(browser, url)
            ui.open()
            default = Filters(last - timedelta(days=6), last)
            check_overview(ui, settings, default)
            assert ui.page.locator("#date_range input").nth(0).input_value() == default.start.isoformat()
            assert ui.attribute("#kpi_period", "data-partial") == "false", "the previous week has no data at all"
            two_days = Filters(first + timedelta(days=1), first + timedelta(days=2))  # compared with first-1..first
            ui.set_dates(two_days.start, two_days.end)
            check_overview(ui, settings, two_days)
            assert ui.attribute("#kpi_period", "data-partial") == "true"
            assert f"data only from {first}" in ui.page.inner_text("#kpi_period")
            ui.screenshot("three-days-of-data")
            ui.assert_offline_and_clean()
            ui.close()
    finally:
        warehouse.drop_database(pg_server, settings)


def test_a_warehouse_without_marts_says_what_to_run(browser: Any, pg_server: WarehouseSettings) -> None:
    settings = warehouse.create_database(pg_server)
    try:
        with dashboard_server(settings) as url:
            ui = Dashboard(browser, url)
            ui.open()
            message = ui.page.locator("#not_built")
            message.wait_for()
            assert "make demo" in message.inner_text() and "clickstream etl" in message.inner_text()
            ui.screenshot("not-built")
            ui.assert_offline_and_clean()
            ui.close()
    finally:
        warehouse.drop_database(pg_server, settings)
