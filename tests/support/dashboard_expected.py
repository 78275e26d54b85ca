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
