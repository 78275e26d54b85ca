"""The Shiny app: layout and wiring. Queries live in :mod:`dashboard.queries`, figures in :mod:`dashboard.charts`,
HTML pieces in :mod:`dashboard.components`.

Queries run in worker threads (``asyncio.to_thread``) so one slow query does not stall other sessions; outputs on
hidden tabs are not computed until the tab is opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import pandas as pd
import psycopg
from htmltools import Tag, TagList
from psycopg_pool import ConnectionPool
from shiny import App, Inputs, Outputs, Session, reactive, render, req, ui
from starlette.requests import Request

from dashboard import charts, components, queries
from dashboard.queries import DEVICE_CLASSES, LOGIN_STATES, Filters

T = TypeVar("T")
ALL = "all"
FRESHNESS_REFRESH_SECONDS = 60
TOP_N = 10
PRODUCT_TABLE_COLUMNS = {
    "product_name": "Product",
    "product_category": "Category",
    "product_brand": "Brand",
    "views": "Views",
    "add_to_carts": "Add to cart",
    "view_to_cart_pct": "View → cart %",
    "unique_viewer_days": "Viewer-days",
    "remove_from_carts": "Removed from cart",
    "wishlist_toggles": "Wishlist",
    "shares": "Shares",
    "checkout_starts": "Checkout starts",
    "purchases": "Purchases",
    "product_id": "Product id",
}


def _card(title: str, *body: Any, note: str | None = None) -> Tag:
    return ui.card(
        ui.card_header(title),
        *body,
        *([ui.p(note, class_="panel-note mb-0")] if note else []),
        full_screen=True,
    )


def _dashboard_page(defaults: Filters, first: date | None, last: date | None, empty: bool) -> Tag:
    sidebar = ui.sidebar(
        ui.input_date_range(
            "date_range",
            "Dates (UTC)",
            start=defaults.start,
            end=defaults.end,
            # the default week may start before the first data (a young shop): the picker must allow it
            min=min(first, defaults.start) if first else None,
            max=last,
            weekstart=1,
        ),
        ui.input_select(
            "login_state", "Login state", {ALL: "All", **{s: s.replace("_", " ") for s in LOGIN_STATES}}, selected=ALL
        ),
        ui.input_select("device_class", "Device class", {ALL: "All", **{d: d for d in DEVICE_CLASSES}}, selected=ALL),
        ui.p(
            "Sessions, the funnel and journeys follow the session's login state (logged in if any event was); "
            "events and products follow each event's own. Retention has no segments.",
            class_="panel-note",
        ),
        id="filters",
        width=270,
    )
    return ui.page_navbar(
        ui.nav_panel(
            "Overview",
            ui.output_ui("kpi_cards"),
            _card("Events and sessions", ui.output_ui("timeseries_chart"), note="Hourly for ranges of up to 3 days."),
            value="overview",
        ),
        ui.nav_panel(
            "Funnel",
            ui.layout_columns(
                _card("Purchase funnel", ui.output_ui("funnel_chart")),
                _card("Steps", ui.output_ui("funnel_numbers")),
                col_widths=(7, 5),
            ),
            value="funnel",
        ),
        ui.nav_panel(
            "Products",
            ui.input_radio_buttons(
                "products_rank_by",
                "Rank by",
                {"views": "Views", "add_to_carts": "Add to cart"},
                selected="views",
                inline=True,
            ),
            ui.layout_columns(
                _card("Top categories", ui.output_ui("categories_chart")),
                _card("Top brands", ui.output_ui("brands_chart")),
                col_widths=(6, 6),
            ),
            _card(f"Top {TOP_N} products", ui.output_ui("products_chart")),
            _card(
                "All products",
                ui.output_data_frame("products_table"),
                note="Click a column to sort. Viewer-days: distinct viewers per day, summed over the range.",
            ),
            value="products",
        ),
        ui.nav_panel(
            "Journeys",
            _card(
                "How sessions move through the shop",
                ui.output_ui("journeys_summary"),
                ui.output_ui("journeys_chart"),
                note="Page types in visiting order (repeats collapsed), by the day the session started; "
                "'continues' folds journeys longer than 8 steps.",
            ),
            value="journeys",
        ),
        ui.nav_panel(
            "Retention",
            _card(
                "Weekly retention by first-visit cohort",
                ui.p(
                    "Cohorts are clients grouped by the UTC week (Monday) of their first session; shown are the cohorts "
                    "whose week overlaps the selected dates. The login state and device class filters do not apply "
                    "here: retention_weekly has no such columns.",
                    id="retention_note",
                    class_="panel-note",
                ),
                ui.output_ui("retention_summary"),
                ui.output_ui("retention_chart"),
            ),
            value="retention",
        ),
        ui.nav_panel(
            "Events",
            ui.layout_columns(
                ui.input_text(
                    "events_search",
                    "Client id or event name (exact)",
                    placeholder="e.g. checkout_complete, or a client id",
                ),
                ui.div(
                    ui.input_action_button("events_prev", "‹ Newer", class_="btn-outline-secondary btn-sm"),
                    ui.input_action_button("events_next", "Older ›", class_="btn-outline-secondary btn-sm"),
                    class_="d-flex gap-2 align-items-end h-100 pb-3",
                ),
                col_widths=(6, 6),
            ),
            ui.output_ui("events_list"),
            value="events",
        ),
        components.head(),
        charts.PLOTLY_JS,  # with the page: loaded once, before any chart arrives
        title="Clickstream · shop analytics",
        id="tab",
        selected="overview",
        sidebar=sidebar,
        header=ui.div(
            *([components.empty_warehouse_banner()] if empty else []),
            ui.output_ui("freshness"),
        ),
        window_title="Clickstream dashboard",
        fillable=False,
    )


def create_app(pool: ConnectionPool) -> App:
    """The dashboard reading the marts through ``pool`` (see :func:`dashboard.db.open_pool`)."""

    def page(request: Request) -> Tag:
        # Built per page load: the default dates follow the data, and a warehouse built since shows up.
        try:
            state = queries.warehouse_state(pool)
            if state == "missing":
                return components.not_built_page()
            bounds = queries.data_bounds(pool)
        except psycopg.Error as error:
            return components.unreachable_page(str(error).strip() or type(error).__name__)
        defaults = queries.default_filters(bounds["last_date"])
        return _dashboard_page(defaults, bounds["first_date"], bounds["last_date"], empty=state == "empty")

    def server(input: Inputs, output: Outputs, session: Session) -> None:
        try:
            if queries.warehouse_state(pool) == "missing":
                return
        except psycopg.Error:
            return

        async def fetch(function: Callable[..., T], *args: Any) -> T:
            return await asyncio.to_thread(function, pool, *args)

        @reactive.calc
        def filters() -> Filters:
            dates = input.date_range()
            req(dates and dates[0] and dates[1])
            start, end = sorted(dates)
            login, device = input.login_state(), input.device_class()
            return Filters(
                start=start,
                end=end,
                login_state=None if login == ALL else login,
                device_class=None if device == ALL else device,
            )

        # -- on every page -------------------------------------------------------------------------------
        @render.ui
        async def freshness() -> Tag:
            reactive.invalidate_later(FRESHNESS_REFRESH_SECONDS)
            return components.freshness(await fetch(queries.pipeline_status))

        # -- overview ------------------------------------------------------------------------------------
        @render.ui
        async def kpi_cards() -> Tag:
            f = filters()
            data, bounds = await fetch(queries.kpis, f), await fetch(queries.data_bounds)
            return components.kpi_cards(data, f, first_date=bounds["first_date"])

        @render.ui
        async def timeseries_chart() -> TagList:
            f = filters()
            return charts.html(
                charts.timeseries(await fetch(queries.timeseries, f), f.key(), f.hourly), "timeseries_plot"
            )

        # -- funnel --------------------------------------------------------------------------------------
        @reactive.calc
        async def funnel_data() -> pd.DataFrame:
            return await fetch(queries.funnel, filters())

        @render.ui
        async def funnel_chart() -> TagList:
            return charts.html(charts.funnel(await funnel_data(), filters().key()), "funnel_plot")

        @render.ui
        async def funnel_numbers() -> Tag:
            return components.funnel_table(await funnel_data(), filters())

        # -- products ------------------------------------------------------------------------------------
        @reactive.calc
        async def products_data() -> pd.DataFrame:
            return await fetch(queries.product_ranking, filters(), "product", input.products_rank_by())

        @render.ui
        async def categories_chart() -> TagList:
            f, rank_by = filters(), input.products_rank_by()
            frame = await fetch(queries.product_ranking, f, "category", rank_by, TOP_N)
            return charts.html(charts.ranking(frame, f.key(), "product_category", rank_by), "categories_plot")

        @render.ui
        async def brands_chart() -> TagList:
            f, rank_by = filters(), input.products_rank_by()
            frame = await fetch(queries.product_ranking, f, "brand", rank_by, TOP_N)
            return charts.html(charts.ranking(frame, f.key(), "product_brand", rank_by), "brands_plot")

        @render.ui
        async def products_chart() -> TagList:
            figure = charts.ranking(
                await products_data(), filters().key(), "product_name", input.products_rank_by(), TOP_N
            )
            return charts.html(figure, "products_plot")

        @render.data_frame
        async def products_table() -> render.DataGrid[Any]:
            frame = (await products_data()).copy()
            frame["view_to_cart_pct"] = (frame["view_to_cart_rate"] * 100).round(1)
            table = frame[list(PRODUCT_TABLE_COLUMNS)].rename(columns=PRODUCT_TABLE_COLUMNS)
            return render.DataGrid(table, width="100%", height="520px", summary=True)

        # -- journeys ------------------------------------------------------------------------------------
        @reactive.calc
        async def journeys_data() -> pd.DataFrame:
            return await fetch(queries.journeys, filters())

        @render.ui
        async def journeys_summary() -> Tag:
            frame = await journeys_data()
            sessions = int(frame.loc[frame["step_index"] == 0, "sessions"].sum())
            return components.summary(
                "journeys_sessions",
                filters(),
                f"{components.number(sessions)} sessions started in the range.",
                sessions,
            )

        @render.ui
        async def journeys_chart() -> TagList:
            return charts.html(charts.sankey(await journeys_data(), filters().key()), "journeys_plot")

        # -- retention -----------------------------------------------------------------------------------
        @reactive.calc
        async def retention_data() -> pd.DataFrame:
            return await fetch(queries.retention, filters())

        @render.ui
        async def retention_summary() -> Tag:
            frame = await retention_data()
            cohorts = int(frame["cohort_week"].nunique())
            clients = int(frame.groupby("cohort_week")["cohort_size"].first().sum()) if cohorts else 0
            return components.summary(
                "retention_cohorts",
                filters(),
                f"{cohorts} cohort{'s' if cohorts != 1 else ''}, {components.number(clients)} clients.",
                cohorts,
            )

        @render.ui
        async def retention_chart() -> TagList:
            return charts.html(charts.retention(await retention_data(), filters().key()), "retention_plot")

        # -- events --------------------------------------------------------------------------------------
        # The page number belongs to one (filters, search) pair: changing either starts again at page 0.
        paging: reactive.Value[tuple[Any, int]] = reactive.value((None, 0))

        @reactive.calc
        def events_query() -> tuple[Filters, str, int]:
            f, search = filters(), input.events_search().strip()
            key, page = paging()
            return f, search, page if key == (f, search) else 0

        @reactive.calc
        async def events_data() -> dict[str, Any]:
            f, search, page = events_query()
            return await fetch(queries.events_page, f, search, page)

        @reactive.effect
        @reactive.event(input.events_next)
        async def _older() -> None:
            f, search, page = events_query()
            if (await events_data())["has_next"]:
                paging.set(((f, search), page + 1))

        @reactive.effect
        @reactive.event(input.events_prev)
        def _newer() -> None:
            f, search, page = events_query()
            paging.set(((f, search), max(0, page - 1)))

        @render.ui
        async def events_list() -> Tag:
            f, search, _ = events_query()
            data = await events_data()
            ui.update_action_button("events_prev", disabled=not data["has_previous"])
            ui.update_action_button("events_next", disabled=not data["has_next"])
            return components.events_table(data, f, search)

    return App(page, server)
