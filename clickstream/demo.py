"""``make demo``: the whole pipeline on the embedded defaults, then a readable summary.

First run: ~50k events of shop traffic over 14 days → the local lake (through the ingest code) →
the ETL Lambda handler, called as Lambda calls it → summary. Later runs add a fresh slice of traffic
since the previous run and run incrementally.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import uuid
from datetime import UTC, datetime
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
    from clickstream.progress import progress
    from loader.config import IngestSettings, RawStoreSettings
    from loader.etl import EtlFailed
    from loader.generate import TrafficGenerator
    from loader.replay import generate_traffic
    from loader.warehouse import resolve

    store, privacy = RawStoreSettings.from_env(), IngestSettings.from_env()
    now = datetime.now(UTC)
    state_path, log = home / "demo.json", home / "lambda-etl.log"
    slice_events, slice_days, run_number = _next_slice(state_path, events, days, now)
    what = "first run" if run_number == 1 else f"run {run_number}: a fresh slice since the last run"
    span = f"{slice_days:g} days" if slice_days >= 1 else f"{slice_days * 24:.0f} hour(s)"
    print(f"== 1/3 traffic: {slice_events:,} events over the last {span} ({what})", flush=True)
    generator = TrafficGenerator(events=slice_events, days=slice_days, seed=run_number, now=now)
    with progress("generating traffic", slice_events) as advance:
        generated = generate_traffic(generator, store, privacy, on_request=lambda: advance(1))
    print(
        f"   {generated.requests:,} requests through the collector → {generated.events_accepted:,} events in "
        f"{generated.location} ({generated.events_rejected} bad events rejected on purpose) in {generated.seconds}s"
    )
    print(
        "== 2/3 ETL: the Lambda handler, invoked with a scheduled event (load, then dbt build; about a minute"
        " the first time)",
        flush=True,
    )
    warehouse = resolve()
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
        load, dbt = result["load"], result["transform"]
        print(
            f"   loaded {load['objects']:,} objects, {load['events']:,} events ({load['duplicates']} duplicates, "
            f"{load['rejected']} quarantined) at {load['events_per_second']:,.0f} events/s; dbt built "
            f"{dbt['models_ok']} models, {dbt['tests_passed']} tests passed; {result['seconds']:.0f}s (Lambda log: {log})"
        )
    print("== 3/3 what the warehouse says", flush=True)
    print(summary_text(warehouse))
    return 0


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
            "select channel, count(*), avg(is_converted::int) from marts.fct_sessions group by channel order by count(*) desc"
        ).fetchall()
    lines = [
        f"   {events:,} events in {sessions:,} sessions from {clients:,} browsers ({users:,} known users), "
        f"{first_day} to {last_day} (UTC); bounce rate {float(bounce or 0):.0%}; {quarantined} bot/zombie sessions quarantined",
        f"   Tracked revenue {vnd(revenue)} from {orders:,} completed checkouts"
        f" (average {vnd(revenue / orders if orders else 0)}; the tracker's order totals, before reconciliation)",
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
    lines += ["", "   Channels              sessions   converted"]
    lines += [f"     {channel:<16} {count:>10,}   {float(rate):>8.1%}" for channel, count, rate in channels]
    lines += [
        "",
        f'   Warehouse: {warehouse.url()}  (psql "$(.venv/bin/clickstream db url)"; schemas raw, staging, intermediate, marts)',
        "   Dashboard: .venv/bin/clickstream dashboard   then open http://127.0.0.1:8050/",
        "   Old R dashboard: .venv/bin/clickstream db legacy-login   prints its read-only login (public.clickstream_events)",
        "   Again:     make demo   (adds a fresh slice of traffic and runs incrementally)",
    ]
    return "\n".join(lines)
