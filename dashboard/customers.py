"""Customers: who buys (dim_customers: RFM segments and scores, the channel and device of each customer's first
order) and how the shop's visitors come and go week by week (client_lifecycle_weekly).

What the filters mean here:

- Customers are the marts' as of the last build: one per shop account (a guest by the browser that placed the
  order), scored 1-5 on recency, frequency and monetary value among all customers, named by the seed rfm_segments.
  The "Customers" choice on the page says which of them count: **all customers** (the default; the date range does
  not apply to them), or those whose **first order** was placed in the range (customers won in those dates, compared
  with the previous period of equal length), in either case with their scores and segment as of now and the paid
  revenue of all their orders to date.
- The weekly lifecycle shows the UTC weeks (from Monday) that overlap the range. Its clients are browsers with a
  session (visitors, not only customers): new (first active week), retained (active the week before too), returning
  (back after a pause) and churned (active the week before, not this one; drawn below zero). The newest week is
  still going while its Sunday is after the last data: marked so, its churn is not final.
- The login state and device class filters do not apply: dim_customers and client_lifecycle_weekly have no such
  segments (a customer's first order has a device, shown as its own chart).

The page needs the marts of :data:`TABLES` (:func:`state`, read at page load): a warehouse built before them shows
what to run; one without orders shows, in place of the customers, how to connect the shop database, and still the
visitors' lifecycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList, tags
from psycopg import sql
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, reactive, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout, warehouse
from dashboard.filters import Filters
from dashboard.formats import RATE_KPIS, change_text, decimal, kpi_text, number, rate, raw, vnd
from dashboard.overview import CSS as KPI_CSS  # the KPI cards look alike on every page
from dashboard.vocabulary import NOT_TRACKED, UNSEGMENTED, Vocabulary

State = Literal["missing", "empty", "ready"]
Scope = Literal["all", "acquired"]
FirstOrderBy = Literal["channel", "device_class"]

TABLES = ("dim_customers", "client_lifecycle_weekly", "rfm_segments")
SCOPES: dict[str, str] = {"all": "All customers", "acquired": "First order in the dates"}
KPI_NAMES = ("customers", "repeat_rate", "revenue", "orders_per_customer", "revenue_per_customer")
KPI_LABELS = {
    "customers": "Customers",
    "repeat_rate": "Repeat customers",
    "revenue": "Revenue",
    "orders_per_customer": "Orders per customer",
    "revenue_per_customer": "Revenue per customer",
}
KPI_HELP = {
    "customers": "Shop accounts (a guest by its browser) with an order.",
    "repeat_rate": "Share of the customers with more than one order.",
    "revenue": "Paid revenue (VND) of all their orders to date.",
    "orders_per_customer": "Orders placed ÷ customers.",
    "revenue_per_customer": "Paid revenue ÷ customers.",
}
SEGMENT_COLUMNS = (
    "segment",
    "customers",
    "share",
    "revenue",
    "revenue_share",
    "average_orders",
    "average_revenue",
    "average_recency_days",
)
GRID_COLUMNS = ("r_score", "fm_score", "customers", "revenue")
FIRST_ORDER_COLUMNS = ("key", "customers", "revenue")
LIFECYCLE_COLUMNS = (
    "activity_week",
    "new_clients",
    "retained_clients",
    "returning_clients",
    "churned_clients",
    "active_clients",
)
# The lifecycle's states: (column, legend, colour); churned is drawn below zero.
LIFECYCLE_STATES = (
    ("new_clients", "New", "#2c7be5"),
    ("retained_clients", "Retained", "#27ae60"),
    ("returning_clients", "Returning", "#8e44ad"),
    ("churned_clients", "Churned", "#e74c3c"),
)
# Colours of the seed's segments (others: the default), from thriving to lost.
SEGMENT_COLORS = {
    "champions": "#1e8449",
    "loyal": "#27ae60",
    "potential_loyalists": "#52be80",
    "new": "#2c7be5",
    "promising": "#5dade2",
    "need_attention": "#f4d03f",
    "about_to_sleep": "#f5b041",
    "at_risk": "#e67e22",
    "cant_lose_them": "#c0392b",
    "hibernating": "#a6acaf",
    "lost": "#717d7e",
    UNSEGMENTED: "#d5d8dc",
}
CUSTOMERS_COLOR = charts.EVENTS_COLOR
UNTRACKED_COLOR = "#adb5bd"
SCORES = range(1, 6)
CSS = """
#customers_kpis .kpi-grid { display: flex; flex-wrap: wrap; }
#customers_kpis .kpi-card { flex: 1 1 140px; min-width: max-content; }
.segment-swatch { display: inline-block; width: .7rem; height: .7rem; border-radius: 2px; margin-right: .35rem; }
"""


# -- queries --------------------------------------------------------------------------------------
def state(pool: ConnectionPool) -> State:
    """``missing`` (a mart or seed of :data:`TABLES` is not built: marts from before customers), ``empty`` (no
    customer: no order, no shop database) or ``ready``."""
    [found] = db.rows(
        pool,
        "select count(*) filter (where to_regclass('marts.' || quote_ident(name)) is null) as missing"
        " from unnest(%s::text[]) as marts (name)",
        (list(TABLES),),
    )
    if found["missing"]:
        return "missing"
    [customers] = db.rows(pool, "select exists (select 1 from marts.dim_customers) as has_customers")
    return "ready" if customers["has_customers"] else "empty"


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")


def _scope_where(filters: Filters, scope: Scope) -> tuple[sql.Composable, dict[str, Any]]:
    """All customers, or those whose first order was placed in the range."""
    _check_scope(scope)
    if scope == "all":
        return sql.SQL(""), {}
    return (
        sql.SQL("where first_order_at >= %(range_start)s and first_order_at < %(range_end)s"),
        {"range_start": filters.start_at, "range_end": filters.end_at},
    )


def _measures(row: Mapping[str, Any]) -> dict[str, Any]:
    customers, orders, revenue = int(row["customers"]), int(row["orders"]), float(row["revenue"])
    return {
        "customers": customers,
        "repeat_rate": row["repeat_customers"] / customers if customers else None,
        "revenue": revenue,
        "orders_per_customer": orders / customers if customers else None,
        "revenue_per_customer": revenue / customers if customers else None,
    }


def _change(name: str, current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    if name in RATE_KPIS:
        return current - previous
    return None if previous == 0 else (current - previous) / previous


def kpis(pool: ConnectionPool, filters: Filters, scope: Scope = "all") -> dict[str, dict[str, Any] | None]:
    """The customers' KPIs (:data:`KPI_NAMES`): how many, the share with more than one order, the paid revenue of
    all their orders, orders and revenue per customer.

    ``{"current": {...}, "previous": {...} | None, "change": {...} | None}``: with ``scope`` ``acquired`` the
    customers whose first order was placed in the range, against those of the previous period of equal length
    (rates change in points, the others relatively); with ``all`` every customer, nothing to compare with."""
    _check_scope(scope)
    measures = sql.SQL(
        """
        count(*) as customers,
        count(*) filter (where order_count > 1) as repeat_customers,
        coalesce(sum(order_count), 0)::bigint as orders,
        coalesce(sum(revenue), 0)::float8 as revenue
        """
    )
    if scope == "all":
        [row] = db.rows(pool, sql.SQL("select {measures} from marts.dim_customers").format(measures=measures))
        return {"current": _measures(row), "previous": None, "change": None}
    query = sql.SQL(
        """
        select first_order_at >= %(period_start)s as is_current, {measures}
        from marts.dim_customers
        where first_order_at >= %(range_start)s and first_order_at < %(range_end)s
        group by is_current
        """
    ).format(measures=measures)
    params = {"range_start": filters.previous().start_at, "range_end": filters.end_at, "period_start": filters.start_at}
    found = {row["is_current"]: row for row in db.rows(pool, query, params)}
    nothing = dict.fromkeys(("customers", "repeat_customers", "orders", "revenue"), 0)
    current, previous = _measures(found.get(True, nothing)), _measures(found.get(False, nothing))
    return {
        "current": current,
        "previous": previous,
        "change": {name: _change(name, current[name], previous[name]) for name in KPI_NAMES},
    }


def segments(pool: ConnectionPool, filters: Filters, scope: Scope = "all") -> pd.DataFrame:
    """Customers per RFM segment: every segment of the seed rfm_segments in its priority order (zeros where none
    is), then ``unsegmented`` when some are: segment, customers, share (of the customers), revenue (paid, to date),
    revenue_share, average_orders, average_revenue, average_recency_days (days since the last order, as of the last
    build; ``None`` without customers)."""
    scope_where, params = _scope_where(filters, scope)
    query = sql.SQL(
        """
        with customers as (
            select rfm_segment, order_count, revenue, recency_days
            from marts.dim_customers
            {where}
        ),

        per_segment as (
            select
                rfm_segment,
                count(*) as customers,
                coalesce(sum(revenue), 0)::float8 as revenue,
                avg(order_count)::float8 as average_orders,
                avg(revenue)::float8 as average_revenue,
                avg(recency_days)::float8 as average_recency_days
            from customers
            group by rfm_segment
        )

        select
            coalesce(seeds.segment, per_segment.rfm_segment) as segment,
            coalesce(per_segment.customers, 0) as customers,
            coalesce(per_segment.revenue, 0)::float8 as revenue,
            per_segment.average_orders,
            per_segment.average_revenue,
            per_segment.average_recency_days
        from marts.rfm_segments as seeds
        full join per_segment on seeds.segment = per_segment.rfm_segment
        order by seeds.priority nulls last, segment
        """
    ).format(where=scope_where)
    frame = db.frame(
        db.rows(pool, query, params),
        ("segment", "customers", "revenue", "average_orders", "average_revenue", "average_recency_days"),
    )
    customers, revenue = frame["customers"].sum(), frame["revenue"].sum()
    frame["share"] = frame["customers"] / customers if customers else 0.0
    frame["revenue_share"] = frame["revenue"] / revenue if revenue else 0.0
    return frame[list(SEGMENT_COLUMNS)]


def score_grid(pool: ConnectionPool, filters: Filters, scope: Scope = "all") -> pd.DataFrame:
    """Customers per recency score × frequency-monetary score (the axes the segments are drawn on): r_score,
    fm_score, customers, revenue; only the cells with customers."""
    scope_where, params = _scope_where(filters, scope)
    query = sql.SQL(
        """
        select r_score, fm_score, count(*) as customers, coalesce(sum(revenue), 0)::float8 as revenue
        from marts.dim_customers
        {where}
        group by r_score, fm_score
        order by r_score desc, fm_score desc
        """
    ).format(where=scope_where)
    return db.frame(db.rows(pool, query, params), GRID_COLUMNS)


def first_orders(pool: ConnectionPool, filters: Filters, by: FirstOrderBy, scope: Scope = "all") -> pd.DataFrame:
    """Customers by the ``channel`` or ``device_class`` of the session that placed their first order: key (``None``:
    a first order no tracked session placed), customers, revenue (paid, to date). By customers, not tracked last."""
    if by not in ("channel", "device_class"):
        raise ValueError(f"by must be channel or device_class, got {by!r}")
    scope_where, params = _scope_where(filters, scope)
    column = sql.Identifier(f"first_order_{by}")
    query = sql.SQL(
        """
        select {column} as key, count(*) as customers, coalesce(sum(revenue), 0)::float8 as revenue
        from marts.dim_customers
        {where}
        group by {column}
        order by {column} is null, customers desc, revenue desc, {column}
        """
    ).format(column=column, where=scope_where)
    return db.frame(db.rows(pool, query, params), FIRST_ORDER_COLUMNS)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def lifecycle(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """The UTC weeks (Mondays) overlapping the range, every one present (zeros where nothing happened): activity_week,
    new_clients, retained_clients, returning_clients, churned_clients, active_clients (client_lifecycle_weekly; no
    segments)."""
    query = """
        select activity_week, new_clients, retained_clients, returning_clients, churned_clients, active_clients
        from marts.client_lifecycle_weekly
        where activity_week between %(first_week)s and %(end)s
    """
    first_week = _monday(filters.start)
    found = {row["activity_week"]: row for row in db.rows(pool, query, {"first_week": first_week, "end": filters.end})}
    weeks = [first_week + timedelta(weeks=n) for n in range((_monday(filters.end) - first_week).days // 7 + 1)]
    nothing = dict.fromkeys(LIFECYCLE_COLUMNS[1:], 0)
    return db.frame(
        [{"activity_week": week, **{k: int(v) for k, v in (found.get(week) or nothing).items() if k != "activity_week"}}
         for week in weeks],
        LIFECYCLE_COLUMNS,
    )  # fmt: skip


# -- pieces ---------------------------------------------------------------------------------------
def empty_state(page_state: State) -> Tag:
    """Why there are no customers to show: marts from before customers, or no order at all."""
    if page_state == "missing":
        what = tags.p(
            "The warehouse lacks ",
            tags.code(", ".join(f"marts.{name}" for name in TABLES)),
            ": its marts were built by an older version of the pipeline. Run ",
            tags.code("clickstream etl"),
            " (or ",
            tags.code("clickstream transform"),
            ") to build them, then reload this page.",
        )
        title = "Customers need newer marts"
    else:
        what = tags.p(
            "The warehouse holds no shop orders, so no customers yet. Orders come from the shop's own database, which "
            "every ETL run copies once it is configured: set ",
            tags.code("SHOP_DB_URL"),
            " (or ",
            tags.code("SHOP_PG_HOST"),
            " and the other ",
            tags.code("SHOP_PG_*"),
            " variables), then run ",
            tags.code("clickstream etl"),
            " (",
            tags.code("make demo"),
            " fills a demo shop database). Reload this page afterwards.",
            class_="mb-0",
        )
        title = "No customers to show yet"
    return tags.div(
        tags.h5(title), what, class_="alert alert-info page-empty mt-2", id="customers_empty", data_state=page_state
    )


def kpi_cards(data: Mapping[str, Any], filters: Filters, scope: Scope) -> Tag:
    """One card per KPI; with ``acquired``, the change against the customers first ordering in the previous
    period of equal length."""
    previous_period = filters.previous()
    cards = []
    for name in KPI_NAMES:
        value = data["current"][name]
        before = data["previous"][name] if data["previous"] else None
        change = data["change"][name] if data["change"] else None
        if scope == "all":
            line, tone, title = "as of the last build", "flat", None
        else:
            line = change_text(name, change)
            tone = "flat" if change is None or abs(change) < 1e-12 else ("good" if change > 0 else "bad")
            title = f"first order {previous_period.start} to {previous_period.end}: {kpi_text(name, before)}"
        cards.append(
            layout.kpi_card(
                f"customers_kpi_{name}",
                KPI_LABELS[name],
                KPI_HELP[name],
                kpi_text(name, value),
                value,
                previous=before,
                change=change,
                change_text=line,
                tone=tone,
                change_title=title,
            )
        )
    if scope == "all":
        text = (
            "Every customer, as of the last build (the date range does not apply here, only to the weekly "
            "lifecycle); revenue: the paid revenue of all their orders."
        )
    else:
        text = (
            f"Customers whose first order was placed {filters.start} to {filters.end} (UTC, {filters.days} days), "
            f"compared with those first ordering {previous_period.start} to {previous_period.end}; their revenue "
            "and segment as of the last build."
        )
    return tags.div(
        tags.div(*cards, class_="kpi-grid"),
        tags.p(text, id="customers_kpi_period", class_="panel-note mt-2 mb-0"),
        id="customers_kpis",
        data_filters=filters.key(),
        data_scope=scope,
    )


def segment_figure(frame: pd.DataFrame, key: str, vocabulary: Vocabulary) -> go.Figure:
    """Customers per segment as horizontal bars in the seed's order (best on top), coloured by segment, the
    revenue share beside each bar."""
    if frame.empty or frame["customers"].sum() == 0:
        return charts.empty(key, "No customers for this choice")
    shown = frame.iloc[::-1]
    labels = [vocabulary.segment_label(s) for s in shown["segment"]]
    hover = [
        f"{number(c)} customers ({rate(share)})<br>{vnd(v)} revenue ({rate(rshare)})"
        + (f"<br>{decimal(orders)} orders each, last {decimal(days)} days ago" if c else "")
        for c, share, v, rshare, orders, days in zip(
            shown["customers"], shown["share"], shown["revenue"], shown["revenue_share"], shown["average_orders"],
            shown["average_recency_days"], strict=True,
        )
    ]  # fmt: skip
    figure = go.Figure(
        go.Bar(
            y=labels,
            x=shown["customers"].tolist(),
            orientation="h",
            marker_color=[SEGMENT_COLORS.get(s, CUSTOMERS_COLOR) for s in shown["segment"]],
            text=[
                f"{number(c)} · {rate(r, 0)} of revenue" if c else ""
                for c, r in zip(shown["customers"], shown["revenue_share"], strict=True)
            ],
            textposition="outside",
            cliponaxis=False,
            customdata=hover,
            hovertemplate="%{y}: %{customdata}<extra></extra>",
        )
    )
    figure.update_xaxes(range=[0, float(frame["customers"].max()) * 1.45], tickformat=",d", title_text="customers")
    figure.update_yaxes(type="category")
    return charts.style(figure, key, height=max(260, 30 * len(labels) + 80), showlegend=False, separators=",.")


def _cell_label(label: str) -> str:
    """A long segment name on two lines (a cell of the grid is narrow)."""
    return label.replace(" ", "<br>", 1) if len(label) > 9 else label


def grid_figure(frame: pd.DataFrame, key: str, vocabulary: Vocabulary) -> go.Figure:
    """The 5 × 5 grid of recency score (rows, 5 on top) × frequency-monetary score (columns): customers per cell,
    each cell named by the segment its scores make (the seed's rules)."""
    if frame.empty or frame["customers"].sum() == 0:
        return charts.empty(key, "No customers for this choice")
    cells = {(int(r.r_score), int(r.fm_score)): r for r in frame.itertuples(index=False)}
    z, text, hover = [], [], []
    for r_score in SCORES:  # plotly draws the first row at the bottom: 5 on top
        z_row, text_row, hover_row = [], [], []
        for fm_score in SCORES:
            cell = cells.get((r_score, fm_score))
            customers = int(cell.customers) if cell else 0
            label = vocabulary.segment_label(vocabulary.segment_at(r_score, fm_score))
            z_row.append(customers)
            text_row.append(f"{_cell_label(label)}<br><b>{number(customers)}</b>")
            hover_row.append(
                f"R {r_score} · FM {fm_score}: {label}<br>{number(customers)} customers"
                + (f", {vnd(cell.revenue)}" if cell else "")
            )
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"FM {s}" for s in SCORES],
            y=[f"R {s}" for s in SCORES],
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10},
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Blues",
            zmin=0,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "customers"}, "thickness": 12},
        )
    )
    figure.update_xaxes(type="category", side="bottom", title_text="frequency-monetary score (5: most)")
    figure.update_yaxes(type="category", title_text="recency score (5: most recent)")
    return charts.style(figure, key, height=400)


def first_order_figure(frame: pd.DataFrame, key: str, labels: Callable[[str | None], str]) -> go.Figure:
    """Customers by their first order's channel or device: horizontal bars, most on top, "Not tracked" in grey at
    the bottom, revenue in the hover."""
    if frame.empty or frame["customers"].sum() == 0:
        return charts.empty(key, "No customers for this choice")
    shown = frame.iloc[::-1]
    names = [labels(k if isinstance(k, str) else None) for k in shown["key"]]
    figure = go.Figure(
        go.Bar(
            y=names,
            x=shown["customers"].tolist(),
            orientation="h",
            marker_color=[CUSTOMERS_COLOR if isinstance(k, str) else UNTRACKED_COLOR for k in shown["key"]],
            width=0.4 if len(names) <= 2 else None,
            text=[number(c) for c in shown["customers"]],
            textposition="outside",
            cliponaxis=False,
            customdata=[vnd(v) for v in shown["revenue"]],
            hovertemplate="%{y}: %{x:,} customers, %{customdata} revenue<extra></extra>",
        )
    )
    figure.update_xaxes(range=[0, float(frame["customers"].max()) * 1.2], tickformat=",d", title_text="customers")
    figure.update_yaxes(type="category")
    return charts.style(figure, key, height=max(220, 34 * len(names) + 90), showlegend=False, separators=",.")


def lifecycle_figure(frame: pd.DataFrame, key: str, last_date: date | None) -> go.Figure:
    """New, retained and returning clients stacked per week, churned below zero; a week still going (its Sunday
    after ``last_date``, the newest data) is marked."""
    if frame.empty or frame[[c for c, _, _ in LIFECYCLE_STATES]].to_numpy().sum() == 0:
        return charts.empty(key, "No client activity in these weeks")
    x = [w.isoformat() for w in frame["activity_week"]]
    going = [last_date is not None and week <= last_date < week + timedelta(days=6) for week in frame["activity_week"]]
    figure = go.Figure()
    for column, name, color in LIFECYCLE_STATES:
        sign = -1 if column == "churned_clients" else 1
        figure.add_trace(
            go.Bar(
                x=x,
                y=[sign * int(v) for v in frame[column]],
                name=name,
                marker={"color": color, "pattern": {"shape": ["/" if g else "" for g in going], "solidity": 0.25}},
                customdata=frame[column].tolist(),
                hovertemplate=f"{name}: %{{customdata:,}}<extra></extra>",
            )
        )
    figure.add_trace(  # each week's active clients above its bar (the height of the stack)
        go.Scatter(
            x=x,
            y=frame["active_clients"].tolist(),
            text=[
                f"{number(a)} active" + (" · week in progress" if g else "")
                for a, g in zip(frame["active_clients"], going, strict=True)
            ],
            mode="text",
            textposition="top center",
            textfont={"size": 11, "color": "#495057"},
            name="Active",
            showlegend=False,
            hovertemplate="Active: %{y:,}<extra></extra>",
        )
    )
    top = max(1, int(frame["active_clients"].max()))
    bottom = int(frame["churned_clients"].max())
    figure.update_yaxes(range=[-bottom * 1.1, top * 1.18])
    figure.add_hline(y=0, line={"color": "#6c757d", "width": 1})
    figure.update_xaxes(type="category", title_text="week (from Monday, UTC)")
    figure.update_yaxes(title_text="clients", tickformat=",d")
    return charts.style(
        figure,
        key,
        height=380,
        barmode="relative",
        bargap=0.55 if len(x) <= 3 else 0.25,
        legend={"orientation": "h", "y": 1.14, "x": 0},
        hovermode="x unified",
        separators=",.",
    )


def segments_table(frame: pd.DataFrame, filters: Filters, scope: Scope, vocabulary: Vocabulary) -> Tag:
    """The segments' numbers (:func:`segments`), in the seed's order, each row its raw values."""
    headers = (("Segment", False), ("Customers", True), ("Share", True), ("Revenue", True), ("Revenue share", True),
               ("Orders each", True), ("Revenue each", True), ("Days since last order", True))  # fmt: skip
    body = [
        tags.tr(
            tags.td(
                tags.span(
                    class_="segment-swatch", style=f"background: {SEGMENT_COLORS.get(row.segment, CUSTOMERS_COLOR)}"
                ),
                vocabulary.segment_label(row.segment),
            ),
            tags.td(number(row.customers), class_="num"),
            tags.td(rate(row.share), class_="num"),
            tags.td(vnd(row.revenue), class_="num"),
            tags.td(rate(row.revenue_share), class_="num"),
            tags.td(decimal(row.average_orders), class_="num"),
            tags.td(vnd(row.average_revenue), class_="num"),
            tags.td(decimal(row.average_recency_days), class_="num"),
            data_segment=row.segment,
            data_customers=raw(int(row.customers)),
            data_revenue=raw(float(row.revenue)),
            data_average_orders=raw(None if pd.isna(row.average_orders) else float(row.average_orders)),
        )
        for row in frame.itertuples(index=False)
    ]
    return tags.div(
        tags.div(
            layout.data_table(headers, body),
            class_="data-table",
        ),
        id="customers_segments",
        data_filters=filters.key(),
        data_scope=scope,
    )


def lifecycle_summary(frame: pd.DataFrame, filters: Filters) -> Tag:
    weeks = len(frame)
    new = int(frame["new_clients"].sum()) if weeks else 0
    text = (
        f"{weeks} week{'s' if weeks != 1 else ''} overlapping {filters.start} to {filters.end}: {number(new)} new "
        "clients. Clients are browsers with a session (visitors, not only customers); the login state and device "
        "filters do not apply."
    )
    return tags.p(
        text, id="customers_lifecycle", data_value=raw(weeks), data_filters=filters.key(), class_="panel-note"
    )


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel(page_state: State = "ready") -> NavSetArg:
    """The page; ``page_state`` (:func:`state`, read at page load) replaces the customers with :func:`empty_state`
    when there are none (or no marts to read); the weekly lifecycle shows whenever its mart exists."""
    lifecycle_card = layout.card(
        "Weekly lifecycle of the shop's visitors",
        ui.output_ui("lifecycle_note"),
        ui.output_ui("lifecycle_chart"),
        note="UTC weeks from Monday that overlap the selected dates. New: first active week; retained: active the "
        "week before too; returning: back after a pause; churned (below zero): active the week before, not this "
        "one. Active: new + retained + returning.",
    )
    if page_state == "missing":
        return layout.tab("Customers", empty_state(page_state))
    if page_state == "empty":
        return layout.tab("Customers", layout.stylesheet(KPI_CSS), empty_state(page_state), lifecycle_card)
    return layout.tab(
        "Customers",
        layout.stylesheet(KPI_CSS),
        layout.stylesheet(CSS),
        ui.div(ui.input_radio_buttons("scope", "Customers", SCOPES, selected="all", inline=True), class_="mt-2"),
        ui.output_ui("cards"),
        ui.layout_columns(
            layout.card(
                "Customers by RFM segment",
                ui.output_ui("segments_chart"),
                note="Recency, frequency and monetary value scored 1-5 by quintile among all customers as of the last "
                "build; segments by the seed rfm_segments.",
            ),
            layout.card(
                "Recency × frequency-monetary",
                ui.output_ui("grid_chart"),
                note="Frequency-monetary: the rounded mean of the frequency and monetary scores. Each cell is named "
                "by the segment its scores make.",
            ),
            col_widths=(6, 6),
        ),
        layout.card("Segments", ui.output_ui("segments_numbers")),
        ui.layout_columns(
            layout.card(
                "First order's channel",
                ui.output_ui("channel_chart"),
                note="The channel of the session that placed each customer's first order; not tracked: no tracked "
                "session placed it.",
            ),
            layout.card("First order's device", ui.output_ui("device_chart")),
            col_widths=(6, 6),
        ),
        lifecycle_card,
    )


@module.server
def server(
    input: Inputs,
    output: Outputs,
    session: Session,
    filters: Callable[[], Filters],
    pool: ConnectionPool,
    vocabulary: Vocabulary,
) -> None:
    def scope() -> Scope:
        chosen = input.scope()
        return "acquired" if chosen == "acquired" else "all"

    def scoped(figure: go.Figure, f: Filters, s: Scope, element_id: str) -> TagList:
        """The figure, its meta naming the customers' scope too (the browser tests wait for it)."""
        return charts.html(figure.update_layout(meta={"filters": f.key(), "scope": s}), element_id)

    @render.ui
    async def cards() -> Tag:
        f, s = filters(), scope()
        return kpi_cards(await asyncio.to_thread(kpis, pool, f, s), f, s)

    @reactive.calc
    async def segment_frame() -> pd.DataFrame:  # one query for the chart and the table
        return await asyncio.to_thread(segments, pool, filters(), scope())

    @render.ui
    async def segments_chart() -> TagList:
        f, s = filters(), scope()
        return scoped(segment_figure(await segment_frame(), f.key(), vocabulary), f, s, "customers_segments_plot")

    @render.ui
    async def segments_numbers() -> Tag:
        f, s = filters(), scope()
        return segments_table(await segment_frame(), f, s, vocabulary)

    @render.ui
    async def grid_chart() -> TagList:
        f, s = filters(), scope()
        frame = await asyncio.to_thread(score_grid, pool, f, s)
        return scoped(grid_figure(frame, f.key(), vocabulary), f, s, "customers_grid_plot")

    @render.ui
    async def channel_chart() -> TagList:
        f, s = filters(), scope()
        frame = await asyncio.to_thread(first_orders, pool, f, "channel", s)
        return scoped(first_order_figure(frame, f.key(), vocabulary.channel_label), f, s, "customers_channel_plot")

    def device_label(device: str | None) -> str:
        return NOT_TRACKED if device is None else vocabulary.device_classes.get(device, device)

    @render.ui
    async def device_chart() -> TagList:
        f, s = filters(), scope()
        frame = await asyncio.to_thread(first_orders, pool, f, "device_class", s)
        return scoped(first_order_figure(frame, f.key(), device_label), f, s, "customers_device_plot")

    weekly = db.on_filters(lifecycle, pool, filters)

    @render.ui
    async def lifecycle_note() -> Tag:
        return lifecycle_summary(await weekly(), filters())

    @render.ui
    async def lifecycle_chart() -> TagList:
        f = filters()
        bounds = await asyncio.to_thread(warehouse.data_bounds, pool)
        return charts.html(lifecycle_figure(await weekly(), f.key(), bounds["last_date"]), "customers_lifecycle_plot")
