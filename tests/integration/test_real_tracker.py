"""The storefront's real tracker bodies through the whole pipeline, and the old R Shiny dashboard's query on it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loader.config import LoaderSettings, WarehouseSettings
from loader.legacy import LEGACY_ROLE, ensure_legacy_login
from loader.load import Loader, LoadSummary
from loader.rawstore import LocalStore
from loader.runlock import run_lock
from loader.transform import BUILD, run_dbt
from tests.support.real_tracker import (
    CATEGORY_WITH_TITLE,
    KEYBOARD,
    MOUSE,
    OLD_DASHBOARD_QUERY,
    OLD_DASHBOARD_QUERY_BY_LOGIN,
    START,
)


def rows(settings: WarehouseSettings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(**settings.conninfo()) as conn:  # type: ignore[arg-type]
        return conn.execute(sql, params).fetchall()


def test_checkout_order_wishlist_and_share_values_are_typed_in_staging(built: WarehouseSettings) -> None:
    typed = dict(
        (name, rest)
        for name, *rest in rows(
            built,
            "select event_name, cart_id, cart_total, cart_item_count, order_id, order_number, order_total, wishlist_on,"
            " share_channel from staging.stg_clickstream__events where event_name in"
            " ('checkout_start', 'checkout_complete', 'wishlist_toggle', 'share_click')",
        )
    )
    assert typed["checkout_start"] == [None, Decimal(3980000), 1, None, None, None, None, None]
    assert typed["checkout_complete"] == [None, None, None, None, None, Decimal(3980000), None, None], "'' is null"
    assert typed["wishlist_toggle"][6] is True and typed["share_click"][7] == "zalo"


def test_a_category_view_gives_a_category_never_a_product(built: WarehouseSettings) -> None:
    categories = rows(
        built,
        "select category_id, category_name, category_key, product_id from staging.stg_clickstream__events"
        " where event_name = 'category_view' order by event_at",
    )
    assert categories == [
        (CATEGORY_WITH_TITLE["id"], "Bàn phím", "bàn phím", None),
        ("laptop", "laptop", "laptop", None),
    ]
    products = {product for (product,) in rows(built, "select product_id from marts.product_engagement_daily")}
    assert products == {KEYBOARD["id"], MOUSE["id"]}, "no category id appears as a product"


def test_purchases_per_product_come_from_the_reconstructed_cart(built: WarehouseSettings) -> None:
    """The keyboard was added twice and bought the next day in another session; the mouse was removed."""
    per_product = rows(
        built,
        "select product_id, sum(checkout_starts), sum(purchases), sum(purchased_units)"
        " from marts.product_engagement_daily group by product_id order by product_id",
    )
    assert per_product == [(KEYBOARD["id"], 1, 1, 2), (MOUSE["id"], 0, 0, 0)]
    cart = rows(built, "select checkout_event_name, product_id, quantity, list_value from marts.fct_cart_items")
    assert sorted(cart) == [
        ("checkout_complete", KEYBOARD["id"], 2, Decimal(3980000)),
        ("checkout_start", KEYBOARD["id"], 2, Decimal(3980000)),
    ]


def test_tracked_revenue_is_the_sum_of_order_totals(built: WarehouseSettings) -> None:
    [(sessions, clients, funnel, orders)] = rows(
        built,
        "select (select sum(tracked_revenue) from marts.fct_sessions), (select sum(tracked_revenue) from marts.dim_clients),"
        " (select sum(tracked_revenue) from marts.funnel_daily where step_name = 'session_start'),"
        " (select sum(order_total) from marts.fct_events where event_name = 'checkout_complete')",
    )
    assert sessions == clients == funnel == orders == Decimal(3980000)


def old_dashboard(settings: WarehouseSettings, password: str, query: str, *params: str) -> list[tuple[Any, ...]]:
    """The old dashboard's query as it sends it: its own login over TCP on 127.0.0.1, the default search_path,
    the exact text with $n parameters (libpq's PQexecParams, as its R driver uses)."""
    conninfo = psycopg.conninfo.make_conninfo(
        host="127.0.0.1", port=settings.port, dbname=settings.database, user=LEGACY_ROLE, password=password
    )
    with psycopg.connect(conninfo) as conn:
        result = conn.pgconn.exec_params(query.encode(), [p.encode() for p in params])
        assert result.status == psycopg.pq.ExecStatus.TUPLES_OK, result.error_message.decode()
        return [
            tuple(None if (v := result.get_value(r, c)) is None else v.decode() for c in range(result.nfields))
            for r in range(result.ntuples)
        ]


def test_the_old_dashboards_query_runs_unchanged_and_agrees_with_the_marts(built: WarehouseSettings) -> None:
    with psycopg.connect(**built.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        password = ensure_legacy_login(conn)
    since, until = START.isoformat(), (START + timedelta(days=2)).isoformat()
    everything = old_dashboard(built, password, OLD_DASHBOARD_QUERY, since, until)
    logged_in = old_dashboard(built, password, OLD_DASHBOARD_QUERY_BY_LOGIN, since, until, "logged_in")
    [(events, logged_in_events)] = rows(
        built,
        "select sum(events), sum(events) filter (where login_state = 'logged_in') from marts.traffic_hourly_by_segment",
    )
    assert (len(everything), len(logged_in)) == (events, logged_in_events) == (17, 3)
    views = {(r[6], r[1]) for r in everything if r[1] == "product_view"}
    assert views == {(KEYBOARD["id"], "product_view"), (MOUSE["id"], "product_view")}
    [(mart_views,)] = rows(built, "select sum(views) from marts.product_engagement_daily")
    assert sum(r[1] == "product_view" for r in everything) == mart_views
    prices = {r[6]: r[10] for r in everything if r[6]}
    assert prices == {KEYBOARD["id"]: "1990000", MOUSE["id"]: "390000"}
    assert {r[2] for r in everything} == {"logged_in", "anonymous"}


def test_the_old_dashboards_login_reads_but_never_writes(built: WarehouseSettings) -> None:
    with psycopg.connect(**built.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        password = ensure_legacy_login(conn, "a-known-password")
    assert password == "a-known-password"
    conninfo = psycopg.conninfo.make_conninfo(
        host="127.0.0.1", port=built.port, dbname=built.database, user=LEGACY_ROLE, password=password
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert conn.execute("select count(*) from clickstream_events").fetchone() == (17,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table public.scratch (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from raw.events")


def test_a_store_with_the_old_pipelines_objects_fills_the_product_columns(
    tmp_path: Path, dw: WarehouseSettings
) -> None:
    """An object the old ingest wrote: a context_product block with the product_* spellings, no _ingest, the time
    in event_timestamp, a full client IP."""
    import json

    store = LocalStore(tmp_path / "lake", fsync=False)
    old = {
        "event_name": "product_view", "client_id": "c-old", "user_id": "", "identity_source": "cognito",
        "event_timestamp": "2026-11-20T19:30:00+07:00", "sourceIp": "113.161.42.77",
        "context_product": {"product_id": KEYBOARD["id"], "product_name": KEYBOARD["name"],
                            "product_category": "keyboard", "product_brand": "AULA", "product_price": "1990000",
                            "product_url_path": KEYBOARD["urlPath"]},
    }  # fmt: skip
    store.put("events/2026/11/20/12/event-old.json", json.dumps(old).encode())
    with run_lock(dw) as (conn, acquired):
        summary = Loader(store, dw, LoaderSettings(threads=2)).run(conn) if acquired else LoadSummary.lock_taken()
    assert summary.status == "succeeded"
    assert run_dbt([*BUILD, "--quiet"], dw, target_path=tmp_path / "target").success
    assert rows(
        dw,
        "select event_timestamp::text, user_id, identity_source, context_product_id, context_product_brand,"
        " context_product_price from clickstream_events",
    ) == [("2026-11-20 12:30:00+00", None, "cognito", KEYBOARD["id"], "AULA", Decimal(1990000))]
