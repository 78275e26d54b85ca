"""Independent counts over the marts (and fct tables), written without the dashboard's code: what its queries
and pages must show."""

from __future__ import annotations

import statistics
from datetime import timedelta
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


# -- acquisition ------------------------------------------------------------------------------------
MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "position_based", "time_decay", "markov")


def _session_rows(dw: WarehouseSettings, f: Filters) -> list[tuple[Any, ...]]:
    """(session_key, channel, source, medium, campaign, is_converted) of the sessions started on the range's days,
    in their own segment."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    return query(
        dw,
        "select session_key, channel, source, medium, campaign, is_converted from marts.fct_sessions"
        " where started_date between %(start)s and %(end)s" + segment_sql(f, "login_state", params),
        params,
    )


def _orders_by_session(dw: WarehouseSettings) -> dict[str, tuple[int, float]]:
    """(orders, paid revenue) of fct_orders per session that placed them."""
    return {
        key: (int(orders), float(revenue))
        for key, orders, revenue in query(
            dw,
            "select session_key, count(*), sum(revenue) from marts.fct_orders where session_key is not null group by 1",
        )
    }


def spend_imported(dw: WarehouseSettings, f: Filters, by: str = "channel") -> dict[Any, float]:
    """Ad spend as imported (raw.ad_spend, not the marts) on the range's days per channel, or per (channel,
    campaign) with ``by="campaign"``."""
    keys = "channel" if by == "channel" else "channel, campaign"
    rows = query(
        dw,
        f"select {keys}, sum(spend) from raw.ad_spend where date_day between %s and %s group by {keys}",
        (f.start, f.end),
    )
    return {(row[0] if by == "channel" else (row[0], row[1])): float(row[-1]) for row in rows}


def expected_acquisition_kpis(dw: WarehouseSettings, f: Filters) -> dict[str, Any]:
    """Sessions and conversion from fct_sessions rows; orders and revenue from the fct_orders those sessions placed;
    ad spend as imported (``None`` under a segment, or without spend on those days)."""
    sessions = _session_rows(dw, f)
    placed = _orders_by_session(dw)
    segmented = f.login_state is not None or f.device_class is not None
    spend = spend_imported(dw, f)
    return {
        "sessions": len(sessions),
        "conversion_rate": sum(1 for s in sessions if s[5]) / len(sessions) if sessions else None,
        "orders": sum(placed.get(s[0], (0, 0.0))[0] for s in sessions),
        "revenue": sum(placed.get(s[0], (0, 0.0))[1] for s in sessions),
        "ad_spend": None if segmented or not spend else sum(spend.values()),
    }


def expected_traffic(dw: WarehouseSettings, f: Filters, by: str) -> dict[Any, dict[str, Any]]:
    """Per channel, ``"source / medium"`` or campaign (``None``: no campaign): sessions, converted sessions, the
    orders they placed and those orders' paid revenue, and the set of their channels."""
    placed = _orders_by_session(dw)
    groups: dict[Any, dict[str, Any]] = {}
    for key, channel, source, medium, campaign, converted in _session_rows(dw, f):
        name = {"channel": channel, "source_medium": f"{source} / {medium}", "campaign": campaign}[by]
        group = groups.setdefault(name, {"sessions": 0, "converted": 0, "orders": 0, "revenue": 0.0, "channels": set()})
        orders, revenue = placed.get(key, (0, 0.0))
        group["sessions"] += 1
        group["converted"] += 1 if converted else 0
        group["orders"] += orders
        group["revenue"] += revenue
        group["channels"].add(channel)
    return groups


def _touches(dw: WarehouseSettings, f: Filters) -> list[dict[str, Any]]:
    """attribution_paths rows of the orders placed on the range's days; under a segment, only the touches whose
    session is in it."""
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    segment = segment_sql(f, "s.login_state", params).replace(" device_class", " s.device_class")
    columns = ", ".join(f"p.{m}" for m in MODELS)
    rows = query(
        dw,
        f"select p.order_id, p.revenue, p.channel, p.campaign, {columns} from marts.attribution_paths as p"
        " join marts.fct_sessions as s on s.session_key = p.session_key"
        " where p.ordered_date between %(start)s and %(end)s" + segment,
        params,
    )
    return [
        {
            "order_id": r[0],
            "revenue": float(r[1]),
            "channel": r[2],
            "campaign": r[3],
            **dict(zip(MODELS, r[4:], strict=True)),
        }
        for r in rows
    ]


def expected_attribution(dw: WarehouseSettings, f: Filters) -> dict[tuple[str, str], tuple[float, float]]:
    """(conversions, revenue) each model credits each channel, summed in Python over attribution_paths (credit ×
    the order's revenue), the touches' sessions in the segment."""
    credits: dict[tuple[str, str], tuple[float, float]] = {}
    for touch in _touches(dw, f):
        for model in MODELS:
            conversions, revenue = credits.get((model, touch["channel"]), (0.0, 0.0))
            credit = float(touch[model])
            credits[(model, touch["channel"])] = (conversions + credit, revenue + credit * touch["revenue"])
    return credits


def expected_campaign_attribution(
    dw: WarehouseSettings, f: Filters, model: str
) -> dict[tuple[str, str], tuple[float, float]]:
    """(conversions, revenue) ``model`` credits each (channel, campaign), ``(not set)`` without a campaign."""
    credits: dict[tuple[str, str], tuple[float, float]] = {}
    for touch in _touches(dw, f):
        key = (touch["channel"], touch["campaign"] or "(not set)")
        conversions, revenue = credits.get(key, (0.0, 0.0))
        credit = float(touch[model])
        credits[key] = (conversions + credit, revenue + credit * touch["revenue"])
    return credits


def expected_attributed_orders(dw: WarehouseSettings, f: Filters) -> dict[str, Any]:
    """Orders placed on the range's days (fct_orders), those with a touch (in the segment) and their revenue."""
    orders = query(dw, "select count(*) from marts.fct_orders where ordered_date between %s and %s", (f.start, f.end))
    touched = {t["order_id"]: t["revenue"] for t in _touches(dw, f)}
    return {"orders": orders[0][0], "attributed_orders": len(touched), "attributed_revenue": sum(touched.values())}


# -- customers --------------------------------------------------------------------------------------
def _customer_rows(dw: WarehouseSettings, f: Filters, scope: str) -> list[dict[str, Any]]:
    """dim_customers rows: all, or (``acquired``) those whose first order was placed on the range's days."""
    condition = " where (first_order_at at time zone 'UTC')::date between %s and %s" if scope == "acquired" else ""
    rows = query(
        dw,
        "select customer_key, order_count, revenue, recency_days, rfm_segment, r_score, fm_score, first_order_channel,"
        " first_order_device_class from marts.dim_customers" + condition,
        (f.start, f.end) if scope == "acquired" else (),
    )
    names = ("customer_key", "order_count", "revenue", "recency_days", "rfm_segment", "r_score", "fm_score",
             "first_order_channel", "first_order_device_class")  # fmt: skip
    return [dict(zip(names, row, strict=True)) for row in rows]


def expected_customer_kpis(dw: WarehouseSettings, f: Filters, scope: str) -> dict[str, Any]:
    rows = _customer_rows(dw, f, scope)
    customers = len(rows)
    revenue = float(sum(r["revenue"] for r in rows))
    return {
        "customers": customers,
        "repeat_rate": sum(1 for r in rows if r["order_count"] > 1) / customers if customers else None,
        "revenue": revenue,
        "orders_per_customer": sum(r["order_count"] for r in rows) / customers if customers else None,
        "revenue_per_customer": revenue / customers if customers else None,
    }


def expected_segments(dw: WarehouseSettings, f: Filters, scope: str) -> dict[str, tuple[int, float, float]]:
    """(customers, revenue, average orders) per segment with customers."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in _customer_rows(dw, f, scope):
        groups.setdefault(row["rfm_segment"], []).append(row)
    return {
        segment: (len(rows), float(sum(r["revenue"] for r in rows)), sum(r["order_count"] for r in rows) / len(rows))
        for segment, rows in groups.items()
    }


def expected_score_grid(dw: WarehouseSettings, f: Filters, scope: str) -> dict[tuple[int, int], tuple[int, str]]:
    """(customers, the segment the mart names them) per (r_score, fm_score)."""
    cells: dict[tuple[int, int], tuple[int, str]] = {}
    for row in _customer_rows(dw, f, scope):
        count, _ = cells.get((row["r_score"], row["fm_score"]), (0, ""))
        cells[(row["r_score"], row["fm_score"])] = (count + 1, row["rfm_segment"])
    return cells


def expected_first_orders(dw: WarehouseSettings, f: Filters, column: str, scope: str) -> dict[Any, tuple[int, float]]:
    """(customers, revenue) per first order's channel or device class (``None``: not tracked)."""
    groups: dict[Any, tuple[int, float]] = {}
    for row in _customer_rows(dw, f, scope):
        customers, revenue = groups.get(row[column], (0, 0.0))
        groups[row[column]] = (customers + 1, revenue + float(row["revenue"]))
    return groups


def expected_lifecycle(dw: WarehouseSettings, f: Filters) -> dict[Any, tuple[int, int, int, int]]:
    """(new, retained, returning, churned) clients per UTC week (Monday) overlapping the range, recomputed in Python
    from the weeks each client had a session in (fct_sessions): weeks with none of them left out."""
    weeks: dict[str, list[Any]] = {}
    for client, week in query(
        dw,
        "select distinct client_id, date_trunc('week', started_at at time zone 'UTC')::date from marts.fct_sessions"
        " order by 1, 2",
    ):
        weeks.setdefault(client, []).append(week)
    newest = max((w for ws in weeks.values() for w in ws), default=None)
    counts: dict[Any, list[int]] = {}
    for active in weeks.values():
        for index, week in enumerate(active):
            state = 0 if index == 0 else (1 if active[index - 1] == week - timedelta(days=7) else 2)
            counts.setdefault(week, [0, 0, 0, 0])[state] += 1
            after = week + timedelta(days=7)
            if (index + 1 == len(active) or active[index + 1] != after) and newest is not None and after <= newest:
                counts.setdefault(after, [0, 0, 0, 0])[3] += 1
    first = f.start - timedelta(days=f.start.weekday())
    return {week: (n, r, b, c) for week, (n, r, b, c) in counts.items() if first <= week <= f.end}
