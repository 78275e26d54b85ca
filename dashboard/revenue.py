"""Revenue: the shop's orders (fct_orders, fct_order_items) and the carts its visitors left (fct_carts) over the
range, in VND: revenue, orders and their value, how much of it the tracker saw, revenue by day, device class and
login state, abandoned carts and their recovery, products by revenue.

What the filters mean here:

- Orders count on the UTC day they were placed (``ordered_at`` in the range), in their current status; revenue is
  *paid* revenue (fct_orders.revenue: 0 until paid, and again after a refund or a cancellation).
- Login state and device class are those of the tracked session that placed the order (fct_orders.login_state,
  device_class). An order no tracked purchase placed (match_method ``none``: a visitor who blocked the tracker, or
  a guest checkout whose event named no order) belongs to no segment: without a segment it shows as its own "Not tracked" bar; with one chosen it is left out, and the page
  says how many orders that leaves out (:func:`untracked`).
- The capture rates compare the orders a tracked purchase placed with all orders. With a segment chosen every order
  left was tracked (100 % by construction), so they show "–" there, and a value with both filters on All.
- Carts count on the UTC day of their last activity (fct_carts.cart_date), by their own last event's login state
  and device class.

Revenue needs the shop's database (SHOP_DB_URL / SHOP_PG_*, copied by the ETL): without a single order the page
explains that instead of showing zeros (:func:`state`); every cart would look abandoned without orders, so carts
wait for them too.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList, tags
from plotly.subplots import make_subplots
from psycopg import sql
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout
from dashboard.filters import Filters, date_where, where
from dashboard.formats import RATE_KPIS, change_text, kpi_text, number, rate, raw, vnd, vnd_short
from dashboard.overview import CSS as KPI_CSS  # the KPI cards look alike on every page
from dashboard.vocabulary import Vocabulary

State = Literal["missing", "empty", "ready"]
Breakdown = Literal["device_class", "login_state"]
RankBy = Literal["revenue", "units", "orders"]

# The marts this page reads (built by the pipeline since the shop's orders are part of it).
TABLES = ("fct_orders", "fct_order_items", "fct_carts")
KPI_NAMES = ("revenue", "orders", "paid_orders", "average_order_value", "capture_rate", "revenue_capture_rate")
KPI_LABELS = {
    "revenue": "Revenue",
    "orders": "Orders",
    "paid_orders": "Paid orders",
    "average_order_value": "Avg order value",
    "capture_rate": "Capture rate",
    "revenue_capture_rate": "Revenue captured",
}
KPI_HELP = {
    "revenue": "Paid revenue (VND) of the orders placed in the range: orders paid and not cancelled or refunded.",
    "orders": "Orders placed in the range, whatever their status now.",
    "paid_orders": "Of those orders, the ones counting as revenue now (paid, status counting).",
    "average_order_value": "Revenue ÷ paid orders.",
    "capture_rate": "Share of the orders that a tracked purchase placed (the tracker saw the checkout). "
    "All segments only.",
    "revenue_capture_rate": "Share of the revenue from orders a tracked purchase placed. All segments only.",
}
CAPTURE_KPIS = frozenset({"capture_rate", "revenue_capture_rate"})
NOT_TRACKED = "Not tracked"
UNTRACKED_COLOR = "#adb5bd"
REVENUE_COLOR = charts.EVENTS_COLOR
ORDERS_COLOR = charts.SESSIONS_COLOR
DAILY_COLUMNS = ("date_day", "orders", "paid_orders", "revenue", "tracked_revenue", "untracked_revenue")
SEGMENT_COLUMNS = ("segment", "is_tracked", "orders", "paid_orders", "revenue")
PRODUCT_COLUMNS = (
    "product_id",
    "product_name",
    "product_category",
    "product_brand",
    "orders",
    "units",
    "revenue",
)
RANKINGS: dict[str, tuple[str, ...]] = {
    "revenue": ("revenue", "units", "orders"),
    "units": ("units", "revenue", "orders"),
    "orders": ("orders", "revenue", "units"),
}
CSS = """
#revenue_kpis .kpi-grid { display: flex; flex-wrap: wrap; }
#revenue_kpis .kpi-card { flex: 1 1 140px; min-width: max-content; }  /* an amount in VND never overflows its card */
.revenue-empty { max-width: 60rem; }
.cart-stats { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: .5rem 1rem; }
@media (max-width: 900px) { .cart-stats { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.cart-stat { padding: .35rem 0; }
.cart-stat .stat-label { font-size: .78rem; color: #6c757d; text-transform: uppercase; letter-spacing: .03em; }
.cart-stat .stat-value { font-size: 1.25rem; font-weight: 600; font-variant-numeric: tabular-nums;
                         white-space: nowrap; }
.cart-stat .stat-sub { font-size: .82rem; color: #495057; font-variant-numeric: tabular-nums; white-space: nowrap; }
.revenue-products { max-height: 560px; overflow: auto; }
.revenue-products table { font-size: .88rem; margin-bottom: 0; }
.revenue-products thead th { position: sticky; top: 0; background: #fff; z-index: 1; }
.revenue-products td.num, .revenue-products th.num { text-align: right; font-variant-numeric: tabular-nums;
                                                      white-space: nowrap; }
"""


# -- queries --------------------------------------------------------------------------------------
def state(pool: ConnectionPool) -> State:
    """``missing`` (the marts of :data:`TABLES` are not built: a warehouse built before orders joined the
    pipeline), ``empty`` (no order at all: no shop database configured, or it has none yet) or ``ready``."""
    [found] = db.rows(
        pool,
        "select count(*) filter (where to_regclass('marts.' || quote_ident(name)) is null) as missing"
        " from unnest(%s::text[]) as marts (name)",
        (list(TABLES),),
    )
    if found["missing"]:
        return "missing"
    [orders] = db.rows(pool, "select exists (select 1 from marts.fct_orders) as has_orders")
    return "ready" if orders["has_orders"] else "empty"


def order_bounds(pool: ConnectionPool) -> dict[str, date | None]:
    """First and last UTC day with an order (``None`` when there are none)."""
    [found] = db.rows(
        pool,
        "select (min(ordered_at) at time zone 'UTC')::date as first_date,"
        " (max(ordered_at) at time zone 'UTC')::date as last_date from marts.fct_orders",
    )
    return {"first_date": found["first_date"], "last_date": found["last_date"]}


def _segmented(filters: Filters) -> bool:
    return filters.login_state is not None or filters.device_class is not None


def _change(name: str, current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    if name in RATE_KPIS:
        return current - previous
    return None if previous == 0 else (current - previous) / previous


def kpis(pool: ConnectionPool, filters: Filters) -> dict[str, dict[str, Any]]:
    """The KPIs of the range and of the previous period of equal length, and the change.

    ``{"current": {...}, "previous": {...}, "change": {...}}``, each keyed by :data:`KPI_NAMES`: orders placed in
    the period (fct_orders by ordered_at; the segment of the session that placed them), their paid revenue (VND),
    the paid ones, revenue ÷ paid orders, and the capture rates (orders, and revenue, a tracked purchase placed ÷
    all; ``None`` under a segment, where every order is tracked). Rates are fractions and change in points; the
    others change relatively; a change is ``None`` when the previous period has nothing to compare with.
    """
    orders_where, params = where(
        filters, time_column="ordered_at", login_column="login_state", device_column="device_class", previous=True
    )
    query = sql.SQL(
        """
        select
            ordered_at >= %(period_start)s as is_current,
            count(*) as orders,
            count(*) filter (where is_revenue) as paid_orders,
            coalesce(sum(revenue), 0)::float8 as revenue,
            count(*) filter (where match_method <> 'none') as tracked_orders,
            coalesce(sum(revenue) filter (where match_method <> 'none'), 0)::float8 as tracked_revenue
        from marts.fct_orders
        {where}
        group by is_current
        """
    ).format(where=orders_where)
    found = {row["is_current"]: row for row in db.rows(pool, query, params)}
    segmented = _segmented(filters)
    periods: dict[str, dict[str, Any]] = {}
    for period, is_current in (("current", True), ("previous", False)):
        row = found.get(is_current) or dict.fromkeys(
            ("orders", "paid_orders", "tracked_orders", "revenue", "tracked_revenue"), 0
        )
        orders, paid, revenue = int(row["orders"]), int(row["paid_orders"]), float(row["revenue"])
        periods[period] = {
            "revenue": revenue,
            "orders": orders,
            "paid_orders": paid,
            "average_order_value": revenue / paid if paid else None,
            "capture_rate": row["tracked_orders"] / orders if orders and not segmented else None,
            "revenue_capture_rate": row["tracked_revenue"] / revenue if revenue and not segmented else None,
        }
    change = {name: _change(name, periods["current"][name], periods["previous"][name]) for name in KPI_NAMES}
    return {"current": periods["current"], "previous": periods["previous"], "change": change}


def untracked(pool: ConnectionPool, filters: Filters) -> dict[str, Any]:
    """Orders placed in the range that no tracked purchase placed (match_method none), whatever the segment (they
    have none): ``{"orders": n, "revenue": VND}``."""
    query = """
        select count(*) as orders, coalesce(sum(revenue), 0)::float8 as revenue
        from marts.fct_orders
        where ordered_at >= %(range_start)s and ordered_at < %(range_end)s and match_method = 'none'
    """
    [found] = db.rows(pool, query, {"range_start": filters.start_at, "range_end": filters.end_at})
    return {"orders": int(found["orders"]), "revenue": float(found["revenue"])}


def daily(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """Per UTC day of the range (every day present, zeros where nothing was ordered): date_day, orders, paid_orders,
    revenue, tracked_revenue (of orders a tracked purchase placed), untracked_revenue. The sums equal the KPIs."""
    orders_where, params = where(
        filters, time_column="ordered_at", login_column="login_state", device_column="device_class"
    )
    query = sql.SQL(
        """
        select
            ordered_date as date_day,
            count(*) as orders,
            count(*) filter (where is_revenue) as paid_orders,
            coalesce(sum(revenue), 0)::float8 as revenue,
            coalesce(sum(revenue) filter (where match_method <> 'none'), 0)::float8 as tracked_revenue
        from marts.fct_orders
        {where}
        group by ordered_date
        """
    ).format(where=orders_where)
    found = {row["date_day"]: row for row in db.rows(pool, query, params)}
    days = pd.date_range(filters.start, filters.end, freq="D").date
    frame = pd.DataFrame(
        {
            "date_day": days,
            "orders": [int(found[d]["orders"]) if d in found else 0 for d in days],
            "paid_orders": [int(found[d]["paid_orders"]) if d in found else 0 for d in days],
            "revenue": [float(found[d]["revenue"]) if d in found else 0.0 for d in days],
            "tracked_revenue": [float(found[d]["tracked_revenue"]) if d in found else 0.0 for d in days],
        }
    )
    frame["untracked_revenue"] = frame["revenue"] - frame["tracked_revenue"]
    return frame[list(DAILY_COLUMNS)]


def by_segment(pool: ConnectionPool, filters: Filters, by: Breakdown) -> pd.DataFrame:
    """Orders placed in the range by the ``device_class`` or ``login_state`` of the session that placed them:
    segment, is_tracked, orders, paid_orders, revenue. Orders the tracker never saw make one row, segment ``None``
    and is_tracked false (only without a segment chosen: they belong to none). By revenue, untracked last."""
    if by not in ("device_class", "login_state"):
        raise ValueError(f"by must be device_class or login_state, got {by!r}")
    orders_where, params = where(
        filters, time_column="ordered_at", login_column="login_state", device_column="device_class"
    )
    query = sql.SQL(
        """
        select
            case when match_method <> 'none' then {column} end as segment,
            match_method <> 'none' as is_tracked,
            count(*) as orders,
            count(*) filter (where is_revenue) as paid_orders,
            coalesce(sum(revenue), 0)::float8 as revenue
        from marts.fct_orders
        {where}
        group by 1, 2
        order by is_tracked desc, revenue desc, orders desc, segment nulls last
        """
    ).format(column=sql.Identifier(by), where=orders_where)
    frame = db.frame(db.rows(pool, query, params), SEGMENT_COLUMNS)
    return frame.astype({"is_tracked": bool})  # also when empty: a mask, not column names


def carts(pool: ConnectionPool, filters: Filters) -> dict[str, Any]:
    """Carts left on the range's days (fct_carts by cart_date, the day of their last activity; their own login
    state and device): how many, ordered, abandoned (and their list value), recovered by a later order (and that
    order's paid revenue), the value of abandoned carts never recovered, still open; abandonment rate = abandoned ÷
    (ordered + abandoned), recovery rate = recovered ÷ abandoned (``None`` without a denominator)."""
    carts_where, params = date_where(filters, date_column="cart_date")
    query = sql.SQL(
        """
        select
            count(*) as carts,
            count(*) filter (where outcome = 'ordered') as ordered_carts,
            count(*) filter (where outcome = 'abandoned') as abandoned_carts,
            count(*) filter (where outcome = 'open') as open_carts,
            count(*) filter (where is_recovered) as recovered_carts,
            coalesce(sum(list_value), 0)::float8 as cart_value,
            coalesce(sum(list_value) filter (where outcome = 'abandoned'), 0)::float8 as abandoned_value,
            coalesce(sum(recovered_revenue), 0)::float8 as recovered_revenue,
            coalesce(sum(revenue_left_in_cart), 0)::float8 as revenue_left_in_cart
        from marts.fct_carts
        {where}
        """
    ).format(where=carts_where)
    [found] = db.rows(pool, query, params)
    result: dict[str, Any] = {name: value if isinstance(value, float) else int(value) for name, value in found.items()}
    ended = result["ordered_carts"] + result["abandoned_carts"]
    result["abandonment_rate"] = result["abandoned_carts"] / ended if ended else None
    abandoned = result["abandoned_carts"]
    result["recovery_rate"] = result["recovered_carts"] / abandoned if abandoned else None
    return result


def products(
    pool: ConnectionPool, filters: Filters, rank_by: RankBy = "revenue", limit: int | None = None
) -> pd.DataFrame:
    """Products ordered in the range (fct_order_items by ordered_at; the order's session's segment): product_id,
    its name, category and brand as the catalog has them now, orders (holding it), units, revenue
    (paid, VND). Ranked by ``rank_by`` (revenue, units or orders), then the others."""
    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by must be one of {', '.join(RANKINGS)}, got {rank_by!r}")
    items_where, params = where(
        filters, time_column="ordered_at", login_column="login_state", device_column="device_class"
    )
    ranking = sql.SQL(", ").join(sql.SQL("{} desc").format(sql.Identifier(c)) for c in RANKINGS[rank_by])
    query = sql.SQL(
        """
        select
            product_id,
            max(product_name) as product_name,
            max(product_category) as product_category,
            max(product_brand) as product_brand,
            count(distinct order_id) as orders,
            sum(quantity)::bigint as units,
            coalesce(sum(revenue), 0)::float8 as revenue
        from marts.fct_order_items
        {where}
        group by product_id
        order by {ranking}, product_id
        {limit}
        """
    ).format(
        where=items_where,
        ranking=ranking,
        limit=sql.SQL("limit %(limit)s") if limit is not None else sql.SQL(""),
    )
    if limit is not None:
        params["limit"] = limit
    return db.frame(db.rows(pool, query, params), PRODUCT_COLUMNS)


# -- pieces ---------------------------------------------------------------------------------------
def empty_state(orders: State) -> Tag:
    """Why there is nothing to show: no order in the warehouse (no shop database), or marts built before orders."""
    if orders == "missing":
        what = tags.p(
            "The warehouse lacks ",
            tags.code(", ".join(f"marts.{name}" for name in TABLES)),
            ": its marts were built by a version of the pipeline from before the shop's orders. Run ",
            tags.code("clickstream etl"),
            " to build them, then reload this page.",
        )
    else:
        what = tags.p(
            "The warehouse holds no shop orders. Revenue, orders and abandoned carts come from the shop's own "
            "database, which every ETL run copies once it is configured: set ",
            tags.code("SHOP_DB_URL"),
            " (the storefront's Prisma DATABASE_URL works as it is) or ",
            tags.code("SHOP_PG_HOST"),
            " and the other ",
            tags.code("SHOP_PG_*"),
            " variables, then run ",
            tags.code("clickstream etl"),
            " (",
            tags.code("make demo"),
            " fills a demo shop database). Reload this page afterwards.",
        )
    return tags.div(
        tags.h5("No revenue to show yet"),
        what,
        tags.p(
            "Without the shop's orders every cart would look abandoned, so the carts wait for them too.",
            class_="mb-0 small",
        ),
        class_="alert alert-info revenue-empty mt-2",
        id="revenue_empty",
        data_state=orders,
    )


def _change_label(name: str, change: float | None, segmented: bool) -> str:
    if segmented and name in CAPTURE_KPIS:
        return "all segments only"
    return change_text(name, change)


def kpi_cards(data: Mapping[str, Mapping[str, Any]], filters: Filters, first_date: date | None = None) -> Tag:
    """One card per KPI: value (VND for money), and the change against the previous period of equal length (noted
    when that period starts before the first order, ``first_date``)."""
    previous = filters.previous()
    partial = first_date is not None and previous.start < first_date <= previous.end
    segmented = _segmented(filters)
    cards = []
    for name in KPI_NAMES:
        value, before, change = data["current"][name], data["previous"][name], data["change"][name]
        tone = "flat" if change is None or abs(change) < 1e-12 else ("good" if change > 0 else "bad")
        cards.append(
            tags.div(
                tags.div(KPI_LABELS[name], class_="kpi-label", title=KPI_HELP[name]),
                tags.div(
                    kpi_text(name, value),
                    id=f"revenue_kpi_{name}",
                    class_="kpi-value",
                    data_value=raw(value),
                    data_previous=raw(before),
                    data_change=raw(change),
                ),
                tags.div(
                    _change_label(name, change, segmented),
                    id=f"revenue_kpi_{name}_change",
                    class_=f"kpi-change {tone}",
                    title=f"{previous.start} to {previous.end}: {kpi_text(name, before)}",
                ),
                class_="kpi-card",
            )
        )
    return tags.div(
        tags.div(*cards, class_="kpi-grid"),
        tags.p(
            f"Orders placed {filters.start} to {filters.end} (UTC, {filters.days} days), compared with "
            f"{previous.start} to {previous.end}"
            + (
                f", which has orders only from {first_date}: changes compare with a partial period." if partial else "."
            ),
            id="revenue_kpi_period",
            class_="panel-note mt-2 mb-0",
            data_partial="true" if partial else "false",
        ),
        id="revenue_kpis",
        data_filters=filters.key(),
    )


def scope_note(filters: Filters, missing: Mapping[str, Any]) -> Tag:
    """What the segment does to the orders: the untracked ones (``missing``, from :func:`untracked`) are left out
    under a segment, a bar of their own without one."""
    count, revenue = missing["orders"], missing["revenue"]
    orders = f"{number(count)} order{'s' if count != 1 else ''} ({vnd(revenue)} revenue)"
    if _segmented(filters):
        text = (
            "Login state and device class are those of the tracked session that placed each order. "
            f"{orders} of the range that no tracked purchase placed belong to no segment and are left out here; "
            "the capture rates show with both filters on All."
        )
    else:
        text = (
            "Orders by the UTC day they were placed, in their current status; revenue is paid revenue. "
            f"{orders} of the range that no tracked purchase placed (a visitor who blocked the tracker, a guest"
            f" checkout whose event named no order) show as “{NOT_TRACKED}”."
        )
    return tags.p(text, id="revenue_scope", class_="panel-note", data_value=raw(count), data_filters=filters.key())


def _hover_money(values: pd.Series) -> list[str]:
    return [vnd(v) for v in values]


def _count_step(top: int) -> int:
    """The smallest whole step of 1, 2 or 5 × 10ⁿ that reaches ``top`` in five steps."""
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if step * 5 >= top:
                return step
        magnitude *= 10


def daily_figure(frame: pd.DataFrame, key: str, segmented: bool) -> go.Figure:
    """Paid revenue per day as bars (tracked and not tracked stacked, without a segment), orders placed per day as
    a line on the right axis."""
    if frame.empty or (frame["orders"].sum() == 0):
        return charts.empty(key, "No orders in this range")
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    x = [d.isoformat() for d in frame["date_day"]]
    bars = (
        (("revenue", "Paid revenue", REVENUE_COLOR),)
        if segmented
        else (
            ("tracked_revenue", "Paid revenue: tracked orders", REVENUE_COLOR),
            ("untracked_revenue", f"Paid revenue: {NOT_TRACKED.lower()}", UNTRACKED_COLOR),
        )
    )
    for column, name, color in bars:
        figure.add_trace(
            go.Bar(
                x=x,
                y=charts.values(frame[column]),
                name=name,
                marker_color=color,
                customdata=_hover_money(frame[column]),
                hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
            ),
            secondary_y=False,
        )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=frame["orders"].tolist(),
            name="Orders placed",
            mode="lines+markers",
            line={"color": ORDERS_COLOR, "width": 2, "dash": "dot"},
            hovertemplate="%{y:,} orders placed<extra></extra>",
        ),
        secondary_y=True,
    )
    figure.update_yaxes(title_text="paid revenue", secondary_y=False, **charts.money_axis(frame["revenue"].max()))
    most = max(1, int(frame["orders"].max()))
    step = _count_step(most)
    figure.update_yaxes(
        title_text="orders",
        range=[0, step * math.ceil(most / step) * 1.04],  # whole ticks, the highest point below the top
        dtick=step,
        showgrid=False,
        tickformat=",d",
        secondary_y=True,
    )
    figure.update_xaxes(title_text="day ordered (UTC)", type="category" if len(x) <= 2 else "date")
    return charts.style(
        figure,
        key,
        height=360,
        barmode="stack",
        legend={"orientation": "h", "y": 1.12, "x": 0, "traceorder": "normal"},
        hovermode="x unified",
        separators=",.",
    )


def segment_figure(frame: pd.DataFrame, key: str, labels: Mapping[str, str]) -> go.Figure:
    """Paid revenue per segment as horizontal bars, largest on top, "Not tracked" in grey at the bottom."""
    if frame.empty or frame["orders"].sum() == 0:
        return charts.empty(key, "No orders in this range")
    shown = frame.iloc[::-1]  # plotly draws the first bar at the bottom
    names = [
        (labels.get(segment, segment) if isinstance(segment, str) else "unknown") if tracked else NOT_TRACKED
        for segment, tracked in zip(shown["segment"], shown["is_tracked"], strict=True)
    ]
    hover = [
        f"{vnd(revenue)}<br>{number(orders)} orders, {number(paid)} paid"
        for revenue, orders, paid in zip(shown["revenue"], shown["orders"], shown["paid_orders"], strict=True)
    ]
    axis = charts.money_axis(frame["revenue"].max() * 1.18)  # room for the labels beside the bars
    figure = go.Figure(
        go.Bar(
            y=names,
            x=charts.values(shown["revenue"]),
            orientation="h",
            marker_color=[REVENUE_COLOR if tracked else UNTRACKED_COLOR for tracked in shown["is_tracked"]],
            width=0.4 if len(names) <= 2 else None,  # one or two bars stay bars, not blocks
            text=[vnd_short(v) for v in shown["revenue"]],
            textposition="outside",
            cliponaxis=False,
            customdata=hover,
            hovertemplate="%{y}: %{customdata}<extra></extra>",
        )
    )
    figure.update_xaxes(**axis)
    figure.update_yaxes(type="category")
    return charts.style(figure, key, height=max(220, 46 * len(names) + 90), showlegend=False, separators=",.")


def _stat(name: str, label: str, text: str, value: Any, help: str, sub: tuple[str, str, Any] | None = None) -> Tag:
    """A labelled figure ``cart_<name>`` (its raw value in data-value), and perhaps a line under it, ``sub`` =
    (name, text, value) likewise."""
    return tags.div(
        tags.div(label, class_="stat-label", title=help),
        tags.div(text, id=f"cart_{name}", class_="stat-value", data_value=raw(value)),
        *([tags.div(sub[1], id=f"cart_{sub[0]}", class_="stat-sub", data_value=raw(sub[2]))] if sub else []),
        class_="cart-stat",
    )


def carts_panel(data: Mapping[str, Any], filters: Filters) -> Tag:
    """The carts of the range (:func:`carts`) as labelled figures, each with its raw value."""
    return tags.div(
        tags.div(
            _stat(
                "carts", "Carts left", number(data["carts"]), data["carts"], "Carts whose last activity is in the range.",
                ("cart_value", f"{vnd(data['cart_value'])} in them", data["cart_value"]),
            ),
            _stat(
                "ordered_carts", "Ordered", number(data["ordered_carts"]), data["ordered_carts"],
                "An order followed within the abandon window (24 h) of the cart's last activity.",
            ),
            _stat(
                "abandoned_carts", "Abandoned", number(data["abandoned_carts"]), data["abandoned_carts"],
                "No order within the abandon window (24 h) of the cart's last activity.",
                ("abandoned_value", f"{vnd(data['abandoned_value'])} in them", data["abandoned_value"]),
            ),
            _stat(
                "abandonment_rate", "Abandonment rate", rate(data["abandonment_rate"]), data["abandonment_rate"],
                "Abandoned ÷ (ordered + abandoned); open carts are not counted yet.",
            ),
            _stat(
                "recovered_carts", "Recovered", number(data["recovered_carts"]), data["recovered_carts"],
                "Abandoned, then the same visitor or account ordered within 30 days; that order's paid revenue.",
                ("recovered_revenue", f"{vnd(data['recovered_revenue'])} ordered later", data["recovered_revenue"]),
            ),
            _stat(
                "recovery_rate", "Recovery rate", rate(data["recovery_rate"]), data["recovery_rate"],
                "Recovered ÷ abandoned.",
            ),
            _stat(
                "revenue_left_in_cart", "Revenue left in carts", vnd(data["revenue_left_in_cart"]),
                data["revenue_left_in_cart"], "List value of the abandoned carts never recovered.",
            ),
            _stat(
                "open_carts", "Still open", number(data["open_carts"]), data["open_carts"],
                "Last active within the abandon window: neither ordered nor abandoned yet.",
            ),
            class_="cart-stats",
        ),
        id="revenue_carts",
        data_filters=filters.key(),
    )  # fmt: skip


def products_table(frame: pd.DataFrame, filters: Filters, rank_by: str) -> Tag:
    """Products ordered in the range, ranked by ``rank_by``: revenue in VND, each row its raw values."""
    if frame.empty:
        body: list[Tag] = [tags.tr(tags.td("No orders for these filters", colspan="7", class_="text-muted"))]
    else:
        body = [
            tags.tr(
                tags.td(str(position), class_="num text-muted"),
                tags.td(row.product_name or row.product_id, title=row.product_id),
                tags.td(row.product_category or "–"),
                tags.td(row.product_brand or "–"),
                tags.td(number(row.orders), class_="num"),
                tags.td(number(row.units), class_="num"),
                tags.td(vnd(row.revenue), class_="num"),
                data_product_id=row.product_id,
                data_orders=raw(int(row.orders)),
                data_units=raw(int(row.units)),
                data_revenue=raw(float(row.revenue)),
            )
            for position, row in enumerate(frame.itertuples(index=False), start=1)
        ]
    headers = (("#", True), ("Product", False), ("Category", False), ("Brand", False), ("Orders", True),
               ("Units", True), ("Revenue", True))  # fmt: skip
    return tags.div(
        tags.div(
            layout.data_table(headers, body),
            class_="revenue-products",
        ),
        id="revenue_products",
        data_filters=filters.key(),
        data_rank_by=rank_by,
        data_rows=str(len(frame)),
    )


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel(orders: State = "ready") -> NavSetArg:
    """The page; ``orders`` (:func:`state`, read at page load) replaces it with :func:`empty_state` when there is
    no order to show."""
    if orders != "ready":
        return layout.tab("Revenue", empty_state(orders))
    return layout.tab(
        "Revenue",
        layout.stylesheet(KPI_CSS),
        layout.stylesheet(CSS),
        ui.output_ui("cards"),
        ui.output_ui("scope"),
        layout.card(
            "Revenue by day",
            ui.output_ui("by_day"),
            note="Paid revenue of the orders placed each UTC day (in their current status); tracked orders are those "
            "a tracked purchase placed.",
        ),
        ui.layout_columns(
            layout.card("Revenue by device class", ui.output_ui("by_device")),
            layout.card("Revenue by login state", ui.output_ui("by_login")),
            col_widths=(6, 6),
        ),
        layout.card(
            "Abandoned carts",
            ui.output_ui("abandoned"),
            note="Carts by the UTC day of their last activity, in the login state and device of their last event; "
            "values at list price. Ordered: the visitor or account ordered within 24 h of the cart's last activity "
            "(dbt var cart_abandon_hours); abandoned: no order by then; recovered: an order later, within 30 days "
            "(cart_recovery_days).",
        ),
        layout.card(
            "Products by revenue",
            ui.input_radio_buttons(
                "rank_by", "Rank by", {"revenue": "Revenue", "units": "Units", "orders": "Orders"}, inline=True
            ),
            ui.output_ui("top_products"),
            note="Products as the shop's catalog names them now; orders: orders holding the product; revenue: "
            "its lines' paid totals (an order's total may differ from its lines': shipping, vouchers).",
        ),
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
    @render.ui
    async def cards() -> Tag:
        f = filters()
        data = await asyncio.to_thread(kpis, pool, f)
        bounds = await asyncio.to_thread(order_bounds, pool)
        return kpi_cards(data, f, first_date=bounds["first_date"])

    @render.ui
    async def scope() -> Tag:
        f = filters()
        return scope_note(f, await asyncio.to_thread(untracked, pool, f))

    @render.ui
    async def by_day() -> TagList:
        f = filters()
        frame = await asyncio.to_thread(daily, pool, f)
        return charts.html(daily_figure(frame, f.key(), _segmented(f)), "revenue_daily_plot")

    @render.ui
    async def by_device() -> TagList:
        f = filters()
        frame = await asyncio.to_thread(by_segment, pool, f, "device_class")
        return charts.html(segment_figure(frame, f.key(), vocabulary.device_classes), "revenue_device_plot")

    @render.ui
    async def by_login() -> TagList:
        f = filters()
        frame = await asyncio.to_thread(by_segment, pool, f, "login_state")
        return charts.html(segment_figure(frame, f.key(), vocabulary.login_states), "revenue_login_plot")

    @render.ui
    async def abandoned() -> Tag:
        f = filters()
        return carts_panel(await asyncio.to_thread(carts, pool, f), f)

    @render.ui
    async def top_products() -> Tag:
        f, rank_by = filters(), input.rank_by()
        return products_table(await asyncio.to_thread(products, pool, f, rank_by), f, rank_by)
