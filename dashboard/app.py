"""The Shiny app: the pages (one module each, see :mod:`dashboard`) assembled around the shared filters of the
sidebar.

The sidebar's choices come from the shop's vocabulary (:mod:`dashboard.vocabulary`, read once per app start); its
inputs make one reactive :class:`~dashboard.filters.Filters` that every page's server receives with the pool. Queries
run in worker threads (``asyncio.to_thread``) so one slow query does not stall other sessions; outputs on hidden tabs
are not computed until the tab is opened.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

import psycopg
from htmltools import Tag
from psycopg_pool import ConnectionPool
from shiny import App, Inputs, Outputs, Session, reactive, req, ui
from starlette.requests import Request

from dashboard import (
    acquisition,
    acquisition_queries,
    charts,
    customers,
    events,
    freshness,
    funnel,
    health,
    journeys,
    layout,
    overview,
    products,
    retention,
    revenue,
    vocabulary,
    warehouse,
)
from dashboard.filters import Filters, default_filters
from dashboard.vocabulary import Vocabulary

ALL = "all"


@dataclass(frozen=True)
class Pages:
    """What the pages that need more than sessions have to show, read at page load (each says why when nothing)."""

    orders: revenue.State
    acquisition: acquisition_queries.State
    customers: customers.State
    health: health.State


def _sidebar(defaults: Filters, first: date | None, last: date | None, vocab: Vocabulary) -> ui.Sidebar:
    return ui.sidebar(
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
        ui.input_select("login_state", "Login state", {ALL: "All", **vocab.login_states}, selected=ALL),
        ui.input_select("device_class", "Device class", {ALL: "All", **vocab.device_classes}, selected=ALL),
        ui.p(
            "Sessions, acquisition, the funnel and journeys follow the session's login state (logged in if any event "
            "was); events and products follow each event's own. Revenue follows the session that placed each order "
            "(orders the tracker never saw count under All only), carts their last event, attribution each touch's "
            "session. Retention and customers have no segments.",
            class_="panel-note",
        ),
        id="filters",
        width=270,
    )


def _dashboard_page(
    defaults: Filters,
    first: date | None,
    last: date | None,
    empty: bool,
    vocab: Vocabulary,
    pages: Pages,
) -> Tag:
    return ui.page_navbar(
        overview.panel("overview"),
        revenue.panel("revenue", pages.orders),
        acquisition.panel("acquisition", pages.acquisition),
        funnel.panel("funnel"),
        products.panel("products"),
        journeys.panel("journeys"),
        retention.panel("retention"),
        customers.panel("customers", pages.customers),
        events.panel("events"),
        health.panel("health", pages.health),
        layout.head(),
        charts.PLOTLY_JS,  # with the page: loaded once, before any chart arrives
        title="Clickstream · shop analytics",
        id="tab",
        selected="overview",
        sidebar=_sidebar(defaults, first, last, vocab),
        header=ui.div(
            *([layout.empty_warehouse_banner()] if empty else []),
            freshness.line("freshness"),
        ),
        window_title="Clickstream dashboard",
        fillable=False,
    )


def create_app(pool: ConnectionPool) -> App:
    """The dashboard reading the marts through ``pool`` (see :func:`dashboard.db.open_pool`)."""
    # Read at the first page load that finds the warehouse built, then kept for the app's life (a failed read is
    # not kept: the next page load tries again).
    vocabulary_once = functools.cache(lambda: vocabulary.read(pool))

    def page(request: Request) -> Tag:
        # Built per page load: the default dates follow the data, and a warehouse built since shows up.
        try:
            state = warehouse.state(pool)
            if state == "missing":
                return layout.not_built_page(warehouse.missing_tables(pool), warehouse.MARTS)
            bounds = warehouse.data_bounds(pool)
            vocab = vocabulary_once()
            # no orders (no shop database), marts from before a page: the page says so
            pages = Pages(
                revenue.state(pool), acquisition_queries.state(pool), customers.state(pool), health.state(pool)
            )
        except psycopg.Error as error:
            return layout.unreachable_page(str(error).strip() or type(error).__name__)
        defaults = default_filters(bounds["last_date"])
        return _dashboard_page(defaults, bounds["first_date"], bounds["last_date"], state == "empty", vocab, pages)

    def server(input: Inputs, output: Outputs, session: Session) -> None:
        try:
            if warehouse.state(pool) == "missing":
                return
            vocab = vocabulary_once()
        except psycopg.Error:
            return

        @reactive.calc
        def filters() -> Filters:
            dates = input.date_range()
            req(dates and dates[0] and dates[1])
            start, end = sorted(dates)
            login, device = input.login_state(), input.device_class()
            chosen = Filters(
                start=start,
                end=end,
                login_state=None if login == ALL else login,
                device_class=None if device == ALL else device,
            )
            return vocab.check(chosen)

        freshness.server("freshness", pool=pool)
        overview.server("overview", filters=filters, pool=pool)
        revenue.server("revenue", filters=filters, pool=pool, vocabulary=vocab)
        acquisition.server("acquisition", filters=filters, pool=pool, vocabulary=vocab)
        funnel.server("funnel", filters=filters, pool=pool, vocabulary=vocab)
        products.server("products", filters=filters, pool=pool)
        journeys.server("journeys", filters=filters, pool=pool, vocabulary=vocab)
        retention.server("retention", filters=filters, pool=pool)
        customers.server("customers", filters=filters, pool=pool, vocabulary=vocab)
        events.server("events", filters=filters, pool=pool)
        health.server("health", filters=filters, pool=pool)

    return App(page, server)
