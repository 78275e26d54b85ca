"""Independent counts over the marts (and fct tables), written without the dashboard's code: what its queries
and pages must show."""

from __future__ import annotations

import statistics
from typing import Any

from dashboard.filters import Filters
from loader.config import WarehouseSettings
from tests.support.dashboard_warehouse import query


def segment_sql(f: Filters, login_column: str, params: dict[str, Any]) -> str:
    text = ""
    if f.login_state:
        text += f" and {login_column} = %(login)s"
        params["login"] = f.login_state
    if f.device_class:
        text += " and device_class = %(device)s"
        params["device"] = f.device_class
    return text


def expected_session_kpis(dw: WarehouseSettings, f: Filters) -> dict[str, Any]:
    """From fct_sessions by started_date, medians computed in Python."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    rows = query(
        dw,
        "select client_id, user_id, is_converted, is_bounce, duration_seconds from marts.fct_sessions"
        " where started_date between %(start)s and %(end)s" + segment_sql(f, "login_state", params),
        params,
    )
    sessions = len(rows)
    return {
        "sessions": sessions,
        "clients": len({r[0] for r in rows}),
        "users": len({r[1] for r in rows if r[1] is not None}),
        "conversion_rate": sum(1 for r in rows if r[2]) / sessions if sessions else None,
        "bounce_rate": sum(1 for r in rows if r[3]) / sessions if sessions else None,
        "median_session_seconds": float(statistics.median(float(r[4]) for r in rows)) if sessions else None,
    }


def expected_events(dw: WarehouseSettings, f: Filters) -> int:
    """From fct_events (the dashboard reads traffic_hourly): the event's own login state and device."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    return query(
        dw,
        "select count(*) from marts.fct_events where (event_at at time zone 'UTC')::date between %(start)s and %(end)s"
        + segment_sql(f, "user_login_state", params),
        params,
    )[0][0]


def expected_products(
    dw: WarehouseSettings, f: Filters, column: str, *, keep_empty: bool = False
) -> dict[Any, tuple[int, int]]:
    """(views, add_to_carts) per product / category / brand, from fct_events by the event's own segment (with
    ``keep_empty``, also those with product events but neither views nor add-to-carts)."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    rows = query(
        dw,
        f"select {column}, count(*) filter (where event_name = 'product_view'),"
        " count(*) filter (where event_name = 'add_to_cart_click') from marts.fct_events"
        " where product_id is not null and (event_at at time zone 'UTC')::date between %(start)s and %(end)s"
        + segment_sql(f, "user_login_state", params)
        + " group by 1",
        params,
    )
    return {key: (views, carts) for key, views, carts in rows if views or carts or keep_empty}


def expected_event_ids(dw: WarehouseSettings, f: Filters, extra: str = "", **extra_params: Any) -> list[str]:
    params: dict[str, Any] = {"start": f.start, "end": f.end, **extra_params}
    return [
        str(r[0])
        for r in query(
            dw,
            "select event_id from marts.fct_events where (event_at at time zone 'UTC')::date between %(start)s and %(end)s"
            + segment_sql(f, "user_login_state", params)
            + extra
            + " order by event_at desc, event_id desc",
            params,
        )
    ]


def expected_funnel(dw: WarehouseSettings, f: Filters) -> list[int]:
    """Sessions started in the range reaching each of the five steps (fct_sessions' reached_* flags)."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    return list(
        query(
            dw,
            "select count(*), count(*) filter (where reached_product_view), count(*) filter (where reached_add_to_cart),"
            " count(*) filter (where reached_checkout_start), count(*) filter (where reached_checkout_complete)"
            " from marts.fct_sessions where started_date between %(start)s and %(end)s"
            + segment_sql(f, "login_state", params),
            params,
        )[0]
    )


def expected_cohorts(dw: WarehouseSettings, f: Filters) -> list[tuple[Any, int]]:
    """(cohort week, size) of the clients whose first session's week overlaps the range, from fct_sessions."""
    return query(
        dw,
        """
        select cohort_week, count(*) from (
            select date_trunc('week', min(started_at) at time zone 'UTC')::date as cohort_week
            from marts.fct_sessions group by client_id
        ) as firsts
        where cohort_week <= %(end)s and cohort_week + 6 >= %(start)s
        group by 1 order by 1
        """,
        {"start": f.start, "end": f.end},
    )


# -- revenue ----------------------------------------------------------------------------------------
def _order_rows(dw: WarehouseSettings, f: Filters) -> list[tuple[Any, ...]]:
    """(ordered_date, revenue, is_revenue, match_method, device_class, login_state) of fct_orders placed on the
    range's days, in the segment of the session that placed them (an untracked order has none)."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    return query(
        dw,
        "select ordered_date, revenue, is_revenue, match_method, device_class, login_state from marts.fct_orders"
        " where ordered_date between %(start)s and %(end)s" + segment_sql(f, "login_state", params),
        params,
    )


def expected_revenue_kpis(dw: WarehouseSettings, f: Filters) -> dict[str, Any]:
    """The Revenue page's KPIs from fct_orders rows, summed in Python; the capture rates only without a segment."""
    rows = _order_rows(dw, f)
    segmented = f.login_state is not None or f.device_class is not None
    revenue = float(sum(r[1] for r in rows))
    orders, paid = len(rows), sum(1 for r in rows if r[2])
    tracked = [r for r in rows if r[3] != "none"]
    return {
        "revenue": revenue,
        "orders": orders,
        "paid_orders": paid,
        "average_order_value": revenue / paid if paid else None,
        "capture_rate": len(tracked) / orders if orders and not segmented else None,
        "revenue_capture_rate": float(sum(r[1] for r in tracked)) / revenue if revenue and not segmented else None,
    }


def expected_revenue_by_day(dw: WarehouseSettings, f: Filters) -> dict[Any, tuple[int, float, float]]:
    """(orders, revenue, revenue of tracked orders) per day with orders."""
    days: dict[Any, tuple[int, float, float]] = {}
    for day, revenue, _, method, _, _ in _order_rows(dw, f):
        orders, total, tracked = days.get(day, (0, 0.0, 0.0))
        days[day] = (orders + 1, total + float(revenue), tracked + (float(revenue) if method != "none" else 0.0))
    return days


def expected_revenue_by_segment(dw: WarehouseSettings, f: Filters, column: str) -> dict[Any, tuple[int, int, float]]:
    """(orders, paid orders, revenue) per device_class or login_state of the placing session; key ``None`` for the
    orders no tracked purchase placed."""
    index = {"device_class": 4, "login_state": 5}[column]
    segments: dict[Any, tuple[int, int, float]] = {}
    for row in _order_rows(dw, f):
        key = row[index] if row[3] != "none" else None
        orders, paid, revenue = segments.get(key, (0, 0, 0.0))
        segments[key] = (orders + 1, paid + (1 if row[2] else 0), revenue + float(row[1]))
    return segments


def expected_carts(dw: WarehouseSettings, f: Filters) -> dict[str, Any]:
    """The carts of the range's days from fct_carts rows (their own segment), counted in Python."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    rows = query(
        dw,
        "select outcome, is_recovered, list_value, recovered_revenue, revenue_left_in_cart from marts.fct_carts"
        " where cart_date between %(start)s and %(end)s" + segment_sql(f, "login_state", params),
        params,
    )
    ordered = sum(1 for r in rows if r[0] == "ordered")
    abandoned = [r for r in rows if r[0] == "abandoned"]
    recovered = [r for r in rows if r[1]]
    return {
        "carts": len(rows),
        "ordered_carts": ordered,
        "abandoned_carts": len(abandoned),
        "open_carts": sum(1 for r in rows if r[0] == "open"),
        "recovered_carts": len(recovered),
        "cart_value": float(sum(r[2] for r in rows)),
        "abandoned_value": float(sum(r[2] for r in abandoned)),
        "recovered_revenue": float(sum(r[3] or 0 for r in recovered)),
        "revenue_left_in_cart": float(sum(r[2] for r in abandoned if not r[1])),
        "abandonment_rate": len(abandoned) / (ordered + len(abandoned)) if ordered + len(abandoned) else None,
        "recovery_rate": len(recovered) / len(abandoned) if abandoned else None,
    }


def expected_order_products(dw: WarehouseSettings, f: Filters) -> dict[str, tuple[int, int, float]]:
    """(orders, units, paid revenue) per product from fct_order_items lines of the range's days (the order's
    session's segment)."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    rows = query(
        dw,
        "select product_id, order_id, quantity, line_total, is_revenue from marts.fct_order_items"
        " where ordered_date between %(start)s and %(end)s" + segment_sql(f, "login_state", params),
        params,
    )
    orders: dict[str, set[str]] = {}
    totals: dict[str, tuple[int, float]] = {}
    for product, order, quantity, line_total, is_revenue in rows:
        orders.setdefault(product, set()).add(order)
        units, revenue = totals.get(product, (0, 0.0))
        totals[product] = (units + quantity, revenue + (float(line_total) if is_revenue else 0.0))
    return {product: (len(orders[product]), *totals[product]) for product in totals}
