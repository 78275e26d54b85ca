"""``make demo``: the whole pipeline on the embedded defaults, then a readable summary.

First run: ~50k events of shop traffic over 14 days → the local lake (through the ingest code), and the
orders those visits placed → a second embedded PostgreSQL, the shop's database (Prisma's tables) → the ETL
Lambda handler, called as Lambda calls it (load, shop sync, dbt build) → summary. Later runs add a fresh
slice of traffic since the previous run, move earlier orders along (paid, shipped, refunded, ...) and run
incrementally.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ETL_HANDLER = Path(__file__).resolve().parents[1] / "lambda" / "etl" / "app.py"


def _next_slice(state_path: Path, events: int, days: float, now: datetime) -> tuple[int, float, int]:
    """First run: ``events`` over ``days``. Later runs: traffic since the previous run (at least an hour)."""
    try:
        state: dict[str, Any] = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return events, days, 1
    previous = datetime.fromisoformat(state["now"])
    hours = min(max((now - previous).total_seconds() / 3600, 1.0), days * 24)
    slice_events = max(1000, int(events * hours / (days * 24)))
    return slice_events, hours / 24, int(state["runs"]) + 1


def _scheduled_event(now: datetime) -> dict[str, Any]:
    """What EventBridge sends on a schedule."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "000000000000", "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "local",
        "resources": ["arn:aws:events:local:000000000000:rule/clickstream-etl"], "detail": {},
    }  # fmt: skip


def _invoke_etl_lambda(event: dict[str, Any], log: Path) -> dict[str, Any]:
    """Import the handler module and call it, as Lambda does; its JSON log lines go to ``log``
    (what CloudWatch would get). Raises :class:`loader.etl.EtlFailed` when the run failed."""
    spec = importlib.util.spec_from_file_location("clickstream_etl_lambda", ETL_HANDLER)
    assert spec and spec.loader, ETL_HANDLER
    module = importlib.util.module_from_spec(spec)
    context = SimpleNamespace(function_name="clickstream-etl", aws_request_id=str(uuid.uuid4()),
                              get_remaining_time_in_millis=lambda: 900_000)  # fmt: skip
    with log.open("a") as lines, contextlib.redirect_stdout(lines):
        spec.loader.exec_module(module)
        result: dict[str, Any] = module.handler(event, context)
    return result


def run(*, events: int, days: float, home: Path) -> int:
    import psycopg

    from clickstream.progress import progress
    from loader.ad_spend import import_spend
    from loader.config import IngestSettings, RawStoreSettings
    from loader.etl import EtlFailed
    from loader.generate import TrafficGenerator
    from loader.replay import generate_traffic
    from loader.schema import migrate
    from loader.shop import ad_spend_csv
    from loader.shop_orders import ShopOrders
    from loader.warehouse import EmbeddedShopDatabase, connect, resolve

    store, privacy = RawStoreSettings.from_env(), IngestSettings.from_env()
    now = datetime.now(UTC)
    state_path, log = home / "demo.json", home / "lambda-etl.log"
    slice_events, slice_days, run_number = _next_slice(state_path, events, days, now)
    what = "first run" if run_number == 1 else f"run {run_number}: a fresh slice since the last run"
    span = f"{slice_days:g} days" if slice_days >= 1 else f"{slice_days * 24:.0f} hour(s)"
    print(f"== 1/3 traffic: {slice_events:,} events over the last {span} ({what}), and the shop's orders", flush=True)
    # The demo's own shop database (never a configured SHOP_DB_URL: the demo writes made-up orders into it).
    shop = EmbeddedShopDatabase(home).start()
    with psycopg.connect(**shop.conninfo(), autocommit=True) as shop_conn:  # type: ignore[arg-type]
        orders = ShopOrders.open(shop_conn, seed=run_number, since=now - timedelta(days=slice_days), now=now)
        generator = TrafficGenerator(
            events=slice_events, days=slice_days, seed=run_number, now=now, place_order=orders.place_order
        )
        with progress("generating traffic", slice_events) as advance:
            generated = generate_traffic(generator, store, privacy, on_request=lambda: advance(1))
        written = orders.write(shop_conn)
    print(
        f"   {generated.requests:,} requests through the collector → {generated.events_accepted:,} events in "
        f"{generated.location} ({generated.events_rejected} bad events rejected on purpose) in {generated.seconds}s"
    )
    print(
        f"   shop database {shop.url()}: {written.orders:,} new orders ({written.tracked:,} at tracked checkouts,"
        f" {written.untracked:,} by visitors who blocked the tracker; {written.gateway_errors} tracked purchases"
        f" whose payment failed before an order was saved), {written.status_changes:,} earlier orders moved on"
        " (paid, shipped, delivered, cancelled, refunded)"
    )
    print(
        "== 2/3 ETL: the Lambda handler, invoked with a scheduled event (load, shop sync, then dbt build; about a"
        " minute the first time)",
        flush=True,
    )
    warehouse = resolve()
    spend_file = home / "ad-spend.csv"  # what the shop's ads managers export, for ROAS
    spend_file.write_text(ad_spend_csv((now - timedelta(days=slice_days)).date(), now.date()))
    with connect(warehouse, autocommit=True) as conn:
        migrate(conn)
        spend_added, spend_replaced = import_spend(conn, spend_file)
    print(f"   ad spend: {spend_added + spend_replaced:,} days × channel × campaign imported from {spend_file}")
    os.environ["SHOP_DB_URL"] = shop.url(with_password=True)  # what the deployed ETL reads as SHOP_PG_*
    try:
        result = _invoke_etl_lambda(_scheduled_event(now), log)
    except EtlFailed as failure:
        print(f"   the ETL run failed: {failure}\n   details: {log}", file=sys.stderr)
        return 1
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps({"runs": run_number, "now": now.isoformat()}))
    if result["status"] == "skipped":
        print(f"   skipped: {result['message']} (the traffic stays in the lake for the next run)")
    else:
        load, dbt, synced = result["load"], result["transform"], result["shop"]
        print(
            f"   loaded {load['objects']:,} objects, {load['events']:,} events ({load['duplicates']} duplicates, "
            f"{load['rejected']} quarantined) at {load['events_per_second']:,.0f} events/s; {_synced(synced)}; dbt"
            f" built {dbt['models_ok']} models, {dbt['tests_passed']} tests passed; {result['seconds']:.0f}s"
            f" (Lambda log: {log})"
        )
        health = result.get("health") or {}
        if health:
            opened = "; open: " + ", ".join(health["open_anomalies"]) if health.get("open_anomalies") else ""
            print(
                f"   data health {health['status']}: {health['checks_passed']} checks passed, {health['checks_warned']}"
                f" warned, {health['checks_failed']} failed{opened} (`clickstream health` shows the hours; the"
                " volume is judged once 4 weeks of history exist)"
            )
    print("== 3/3 what the warehouse says", flush=True)
    print(summary_text(warehouse))
    return 0


def _synced(shop: dict[str, Any]) -> str:
    """The shop sync's part of the ETL line."""
    orders = shop.get("tables", {}).get("orders", {})
    return (
        f"shop sync: {orders.get('inserted', 0):,} new orders, {orders.get('updated', 0):,} status changes,"
        f" {orders.get('deleted', 0):,} deleted"
    )


def vnd(amount: Any) -> str:
    """An amount in VND as the shop writes it: 3.980.000 ₫."""
    return f"{float(amount or 0):,.0f}".replace(",", ".") + " ₫"


def summary_text(warehouse: Any) -> str:
    from loader.warehouse import connect

    with connect(warehouse) as conn:
        events, sessions, clients, users = conn.execute(
            "select (select count(*) from marts.fct_events), (select count(*) from marts.fct_sessions),"
            " (select count(*) from marts.dim_clients), (select count(distinct user_id) from marts.dim_clients)"
        ).fetchone() or (0, 0, 0, 0)
        quarantined, bounce, first_day, last_day = conn.execute(
            "select (select count(*) from marts.quarantined_sessions), (select avg(is_bounce::int) from marts.fct_sessions),"
            " (select min(started_date) from marts.fct_sessions), (select max(started_date) from marts.fct_sessions)"
        ).fetchone() or (0, None, None, None)
        funnel = conn.execute(
            "select step_name, sum(sessions), sum(tracked_revenue) from marts.funnel_daily"
            " group by step_order, step_name order by step_order"
        ).fetchall()
        revenue, orders = conn.execute(
            "select coalesce(sum(tracked_revenue), 0), coalesce(sum(purchase_count), 0) from marts.fct_sessions"
        ).fetchone() or (0, 0)
        products = conn.execute(
            "select max(product_name), sum(views), sum(add_to_carts), sum(purchases), sum(purchased_units)"
            " from marts.product_engagement_daily group by product_id order by sum(views) desc limit 5"
        ).fetchall()
        categories = conn.execute(
            "select product_category, sum(views), sum(add_to_carts) from marts.product_engagement_daily"
            " group by product_category order by sum(views) desc"
        ).fetchall()
        channels = conn.execute(
            "select channel, count(*), avg(is_converted::int), sum(revenue) from marts.fct_sessions"
            " group by channel order by count(*) desc"
        ).fetchall()
        shop = (
            conn.execute(
                "select coalesce(sum(shop_orders), 0), coalesce(sum(paid_orders), 0), coalesce(sum(shop_revenue), 0),"
                " coalesce(sum(matched_orders), 0), coalesce(sum(matched_by_order_id), 0),"
                " coalesce(sum(matched_by_user_time), 0), coalesce(sum(matched_revenue), 0),"
                " coalesce(sum(unmatched_tracked_purchases), 0), coalesce(sum(duplicate_tracked_purchases), 0)"
                " from marts.order_reconciliation_daily"
            ).fetchone()
            or (0,) * 9
        )
        carts = (
            conn.execute(
                "select coalesce(sum(carts), 0), coalesce(sum(abandoned_carts), 0), coalesce(sum(abandoned_value), 0),"
                " coalesce(sum(recovered_carts), 0), coalesce(sum(recovered_revenue), 0),"
                " coalesce(sum(revenue_left_in_cart), 0), coalesce(sum(open_carts), 0) from marts.abandoned_carts_daily"
            ).fetchone()
            or (0,) * 7
        )
        attributed = conn.execute(
            "select channel, sum(attributed_revenue) filter (where model = 'last_non_direct'),"
            " sum(attributed_revenue) filter (where model = 'markov'), sum(spend) filter (where model = 'markov')"
            " from marts.attribution_channel_daily group by channel order by 3 desc nulls last"
        ).fetchall()
        segments = conn.execute(
            "select rfm_segment, count(*), sum(revenue) from marts.dim_customers group by 1 order by 3 desc"
        ).fetchall()
        lifecycle = conn.execute(
            "select activity_week, new_clients, retained_clients, returning_clients, churned_clients"
            " from marts.client_lifecycle_weekly order by activity_week desc limit 1"
        ).fetchone()
        best_sellers = conn.execute(
            "select max(product_name), sum(orders), sum(units), sum(revenue) from marts.product_sales_daily"
            " group by product_id having sum(revenue) > 0 order by sum(revenue) desc limit 5"
        ).fetchall()
    placed, paid, shop_revenue, matched, by_id, by_user_time, matched_revenue, unmatched, duplicates = shop
    carted, abandoned, abandoned_value, recovered, recovered_revenue, left_in_cart, still_open = carts
    lines = [
        f"   {events:,} events in {sessions:,} sessions from {clients:,} browsers ({users:,} known users), "
        f"{first_day} to {last_day} (UTC); bounce rate {float(bounce or 0):.0%}; {quarantined} bot/zombie sessions quarantined",
        f"   Revenue {vnd(shop_revenue)} from {paid:,} paid orders of {placed:,} placed in the shop's database"
        f" (average order {vnd(shop_revenue / paid if paid else 0)})",
        f"   Capture rate {matched / placed if placed else 0:.1%} of orders, {matched_revenue / shop_revenue if shop_revenue else 0:.1%}"
        f" of revenue: {by_id:,} matched by order id, {by_user_time:,} by user and time, {placed - matched:,} unmatched"
        f" (tracking blocked, or a guest checkout whose event named no order); {unmatched:,} tracked purchases match"
        f" no order, {duplicates:,} were seen twice",
        f"   Tracked revenue {vnd(revenue)} from {orders:,} completed checkouts (the tracker's order totals, paid or not)",
        f"   Carts: {carted:,}, {abandoned:,} abandoned ({vnd(abandoned_value)}), {recovered:,} of them recovered later"
        f" ({vnd(recovered_revenue)} paid), {still_open:,} still open; revenue left in carts {vnd(left_in_cart)}",
        "",
        "   Conversion funnel (steps in order)       sessions   of previous   of all   tracked revenue",
    ]
    top = funnel[0][1] if funnel else 0
    previous = None
    for name, count, step_revenue in funnel:
        of_previous = f"{count / previous:.1%}" if previous else ""
        share = f"{count / top if top else 0:>6.1%}"
        lines.append(f"     {name:<36} {count:>9,}   {of_previous:>11}   {share}   {vnd(step_revenue):>17}")
        previous = count
    lines += ["", "   Top products by views                                 views   to cart   bought   units"]
    lines += [
        f"     {name[:48]:<48} {views:>9,}   {cart:>7,}   {bought:>6,}   {units:>5,}"
        for name, views, cart, bought, units in products
    ]
    lines += ["", "   Categories            views   to cart   view→cart"]
    lines += [
        f"     {category:<16} {views:>9,}   {cart:>7,}   {cart / views if views else 0:>8.1%}"
        for category, views, cart in categories
    ]
    lines += ["", "   Best sellers by revenue                               orders   units           revenue"]
    lines += [
        f"     {(name or '?')[:48]:<48} {sold:>9,}   {units:>5,}   {vnd(money):>15}"
        for name, sold, units, money in best_sellers
    ]
    lines += ["", "   Channels              sessions   converted           revenue"]
    lines += [
        f"     {channel:<16} {count:>10,}   {float(rate):>8.1%}   {vnd(money):>15}"
        for channel, count, rate, money in channels
    ]
    lines += ["", "   Attributed revenue     last non-direct            Markov      ad spend   ROAS (Markov)"]
    for channel, last, markov, spend in attributed:
        roas = f"{vnd(spend):>13}   {float(markov or 0) / float(spend):>8.2f}" if spend else ""
        lines.append(f"     {channel:<16} {vnd(last):>17} {vnd(markov):>17} {roas}".rstrip())
    lines += ["", "   Customers by RFM segment        customers           revenue"]
    lines += [f"     {segment:<28} {count:>9,}   {vnd(money):>15}" for segment, count, money in segments]
    if lifecycle:
        week, new, retained, returning, churned = lifecycle
        lines.append(
            f"   Week of {week}: {new:,} new clients, {retained:,} retained, {returning:,} returning, {churned:,} churned"
        )
    lines += [
        "",
        f'   Warehouse: {warehouse.url()}  (psql "$(.venv/bin/clickstream db url)"; schemas raw, staging, intermediate, marts)',
        "   Dashboard: .venv/bin/clickstream dashboard   then open http://127.0.0.1:8050/",
        "   Old R dashboard: .venv/bin/clickstream db legacy-login   prints its read-only login (public.clickstream_events)",
        "   Again:     make demo   (adds a fresh slice of traffic and runs incrementally)",
    ]
    return "\n".join(lines)
