"""The dbt project on a real PostgreSQL: incremental runs equal a full refresh; marts agree with raw data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loader.config import WarehouseSettings
from loader.transform import PROJECT, run_dbt
from tests.support.built_warehouse import T, Warehouse


@pytest.fixture
def warehouse(tmp_path: Path, dw: WarehouseSettings) -> Warehouse:
    return Warehouse(tmp_path, dw)


def test_incremental_runs_with_late_events_give_exactly_the_marts_of_a_full_refresh(warehouse: Warehouse) -> None:
    warehouse.add_traffic(5000, 4, seed=1, now=T)
    warehouse.build()
    warehouse.add_traffic(1500, 0.3, seed=2, now=T + timedelta(hours=5))
    warehouse.build()
    sessions_before_late_events = {key for (key,) in warehouse.query("select session_key from marts.fct_sessions")}
    warehouse.add_traffic(1500, 2, seed=3, now=T)  # late: the same visitors, up to two days back
    warehouse.add_traffic(600, 1, seed=10, now=T - timedelta(days=9))  # very late: nine to ten days back
    warehouse.build()
    sessions_after = {key for (key,) in warehouse.query("select session_key from marts.fct_sessions")}
    assert sessions_before_late_events - sessions_after, "late events reopened and merged existing sessions"
    moved = warehouse.resend_session_starts_as_earlier_copies(40)
    assert moved >= 20
    warehouse.load()
    replaced = warehouse.one("select count(*) from raw.events where load_id = (select max(load_id) from raw.load_runs)")
    assert replaced == moved, "the earlier-received copies replaced the stored ones"
    warehouse.build()
    warehouse.add_traffic(400, 0.1, seed=4, now=T + timedelta(hours=6))
    warehouse.build()
    revenue_before = warehouse.query("select session_key, revenue from marts.fct_sessions where revenue > 0")
    warehouse.change_orders_as_the_back_office_does(now=T + timedelta(days=12))
    warehouse.build()
    revenue_after = warehouse.query("select session_key, revenue from marts.fct_sessions where revenue > 0")
    assert set(revenue_before) != set(revenue_after), "the order changes reached the sessions' revenue"

    warehouse.snapshot()
    warehouse.build("--full-refresh")
    differences = warehouse.differences_from_snapshot()
    assert (
        len(differences) >= 18
        and {"marts.fct_events", "marts.fct_cart_items", "marts.fct_orders", "intermediate.int_carts_left"}
        <= differences.keys()
    )
    assert differences == dict.fromkeys(differences, 0), "rows differ between incremental runs and a full refresh"


def test_identity_follows_the_latest_login_whatever_order_logins_arrive_in(warehouse: Warehouse) -> None:
    client = "client-switching-accounts"

    def visit(at: datetime, user_id: str | None, name: str = "page_view") -> None:
        event = {"eventName": name, "clientId": client, "userId": user_id, "pageUrl": "https://shop.example.com/"}
        warehouse.send(at, {**event, "userLoginState": "logged_in" if user_id else "anonymous"})

    visit(T - timedelta(days=3), None)  # anonymous, before any login
    visit(T - timedelta(days=2), "user-a", "login_success")
    warehouse.load()
    warehouse.build()
    visit(T - timedelta(days=1), "user-b", "login_success")  # switches account
    warehouse.load()
    warehouse.build()
    visit(T - timedelta(days=5), "user-old", "login_success")  # late, and older than both: changes nothing
    warehouse.load()
    warehouse.build()

    def users() -> list[tuple[Any, ...]]:
        return warehouse.query(
            "select (started_at at time zone 'UTC')::date, user_id from marts.fct_sessions where client_id = %s "
            "order by started_at",
            client,
        )

    assert warehouse.one("select user_id from marts.dim_clients where client_id = %s", client) == "user-b"
    assert users() == [
        ((T - timedelta(days=5)).date(), "user-old"),  # the event's own user id wins
        ((T - timedelta(days=3)).date(), "user-b"),  # anonymous: the stitched (latest) user
        ((T - timedelta(days=2)).date(), "user-a"),
        ((T - timedelta(days=1)).date(), "user-b"),
    ]
    visit(T - timedelta(hours=12), "user-c", "login_success")  # a newer login: everything anonymous follows it
    warehouse.load()
    warehouse.build()
    assert users()[1] == ((T - timedelta(days=3)).date(), "user-c")
    warehouse.snapshot()
    warehouse.build("--full-refresh")
    differences = warehouse.differences_from_snapshot(every_table_has_rows=False)
    assert differences == dict.fromkeys(warehouse.compared, 0)


def test_marts_agree_with_independent_counts_over_raw_events(warehouse: Warehouse) -> None:
    warehouse.add_traffic(4000, 3, seed=5, now=T)
    warehouse.build()
    raw_events = warehouse.one("select count(*) from raw.events")
    quarantined = warehouse.one("select coalesce(sum(event_count), 0) from marts.quarantined_sessions")
    assert warehouse.one("select count(*) from marts.fct_events") == raw_events - quarantined
    assert warehouse.one("select count(*) from marts.clickstream_events") == raw_events, (
        "the legacy view keeps every event"
    )
    # sessions: recount gaps > 30 minutes per client straight from raw.events
    independent_sessions = warehouse.one(
        """
        with ordered as (
            select payload ->> 'clientId' as client_id, event_at,
                   lag(event_at) over (partition by payload ->> 'clientId' order by event_at, event_id) as previous
            from raw.events
        )
        select count(*) filter (where previous is null or event_at - previous > interval '30 minutes') from ordered
        """
    )
    quarantined_sessions = warehouse.one("select count(*) from marts.quarantined_sessions")
    assert warehouse.one("select count(*) from marts.fct_sessions") == independent_sessions - quarantined_sessions
    assert quarantined_sessions > 0, "the generator's crawlers are quarantined"
    assert (
        warehouse.one("select count(*) from marts.quarantined_sessions where quarantine_reason = 'bot_user_agent'") > 0
    )
    # the funnel's top equals the sessions, and the purchase step never exceeds checkout_complete events
    assert warehouse.one("select sum(sessions) from marts.funnel_daily where step_order = 0") == warehouse.one(
        "select count(*) from marts.fct_sessions"
    )
    purchases = warehouse.one("select count(*) from marts.fct_events where event_name = 'checkout_complete'")
    assert 0 < warehouse.one("select sum(sessions) from marts.funnel_daily where step_order = 4") <= purchases
    # product views per day add up to the product_view events
    assert warehouse.one("select sum(views) from marts.product_engagement_daily") == warehouse.one(
        "select count(*) from marts.fct_events where event_name = 'product_view' and product_id is not null"
    )
    assert warehouse.one("select sum(events) from marts.traffic_hourly") == warehouse.one(
        "select count(*) from marts.fct_events"
    )
    assert warehouse.one("select sum(new_clients) from marts.traffic_hourly") == warehouse.one(
        "select count(*) from marts.dim_clients"
    )
    # the daily grains the issue names: one row per day and step / day and product / hour, recounted
    mismatched_funnel_days = warehouse.one(
        """
        select count(*) from marts.funnel_daily as funnel
        join (select started_date, count(*) filter (where funnel_step >= 2) as carted from marts.fct_sessions
              group by started_date) as sessions on sessions.started_date = funnel.date_day
        where funnel.step_order = 2 and funnel.sessions <> sessions.carted
        """
    )
    assert mismatched_funnel_days == 0
    assert (
        warehouse.one(
            "select count(*) from (select date_day, step_order from marts.funnel_daily group by 1, 2 having count(*) > 1) d"
        )
        == 0
    )
    mismatched_viewers = warehouse.one(
        """
        select count(*) from marts.product_engagement_daily as daily
        join (select (event_at at time zone 'UTC')::date as date_day, product_id, count(distinct client_id) as viewers
              from marts.fct_events where event_name = 'product_view' group by 1, 2) as counted using (date_day, product_id)
        where daily.unique_viewers <> counted.viewers
        """
    )
    assert mismatched_viewers == 0 and warehouse.one("select count(*) from marts.product_engagement_daily") > 0
    shares = warehouse.query(
        """
        select hourly.logged_in_share, round(counted.logged_in::numeric / counted.events, 4)
        from marts.traffic_hourly as hourly
        join (select date_trunc('hour', event_at at time zone 'UTC') at time zone 'UTC' as hour_at, count(*) as events,
                     count(*) filter (where user_login_state = 'logged_in') as logged_in
              from marts.fct_events group by 1) as counted using (hour_at)
        """
    )
    assert all(share == expected for share, expected in shares)
    assert any(0 < share < 1 for share, _ in shares), "logged-in share is a share, not 0 or 1 per row"
    # every client is in exactly one cohort, active in its first week
    assert warehouse.one(
        "select sum(active_clients) from marts.retention_weekly where weeks_since_first_visit = 0"
    ) == warehouse.one("select count(*) from marts.dim_clients")
    assert warehouse.one("select count(*) from marts.retention_weekly where active_clients > cohort_size") == 0
    # every journey starts once per session
    assert warehouse.one("select sum(sessions) from marts.journey_transitions where step_index = 0") == warehouse.one(
        "select count(*) from marts.fct_sessions"
    )
    # identity: a client that logged in carries its user on its anonymous sessions too
    stitched = warehouse.one(
        """
        select count(*) from marts.fct_sessions s join marts.dim_clients c using (client_id)
        where c.user_id is not null and s.login_state = 'anonymous' and s.user_id = c.user_id
        """
    )
    assert stitched > 0
    status = warehouse.query("select last_load_status, newest_event_at from marts.pipeline_status")
    assert status[0][0] == "succeeded" and status[0][1] is not None


def test_schemas_are_exactly_staging_intermediate_and_marts(warehouse: Warehouse) -> None:
    """Plus the loader's raw and raw_shop, and public.clickstream_events, the one name the old dashboard looks up."""
    warehouse.add_traffic(300, 1, seed=6, now=T)
    warehouse.build()
    relations = warehouse.query(
        "select table_schema, table_name from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema')"
    )
    assert {schema for schema, _ in relations} == {"raw", "raw_shop", "staging", "intermediate", "marts", "public"}
    assert [name for schema, name in relations if schema == "public"] == ["clickstream_events"]
    legacy_columns = [
        c
        for (c,) in warehouse.query(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = 'clickstream_events' order by ordinal_position"
        )
    ]
    assert legacy_columns == [
        "event_id", "event_timestamp", "event_name", "user_id", "user_login_state", "identity_source", "client_id",
        "session_id", "is_first_visit", "context_product_id", "context_product_name", "context_product_category",
        "context_product_brand", "context_product_price", "context_product_discount_price", "context_product_url_path",
    ]  # fmt: skip


def test_the_unit_tests_pass_once_the_models_exist(warehouse: Warehouse) -> None:
    warehouse.add_traffic(300, 1, seed=8, now=T)
    warehouse.build()
    summary = run_dbt(["test", "--quiet", "--select", "test_type:unit"], warehouse.dw, target_path=warehouse.target)
    assert summary.success, summary.failures
    assert summary.tests_passed >= 9


def test_a_failing_data_test_fails_the_build(warehouse: Warehouse) -> None:
    warehouse.add_traffic(300, 1, seed=7, now=T)
    warehouse.build()
    with psycopg.connect(**warehouse.dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("update marts.funnel_daily set sessions = sessions + 1000 where step_order = 4")
    summary = run_dbt(
        ["test", "--quiet", "--select", "funnel_never_increases_with_the_step"],
        warehouse.dw,
        target_path=warehouse.target,
    )
    assert not summary.success and summary.tests_failed == 1


def test_data_tests_check_the_latest_run_unless_asked_to_check_every_row(warehouse: Warehouse) -> None:
    warehouse.add_traffic(600, 2, seed=11, now=T)
    warehouse.build()
    warehouse.add_traffic(200, 0.1, seed=12, now=T + timedelta(hours=3))
    warehouse.build()
    with psycopg.connect(**warehouse.dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(  # a row of the first run goes bad behind the pipeline's back
            "update staging.stg_clickstream__events set device_class = 'spaceship' where event_id = "
            "(select event_id from staging.stg_clickstream__events order by dbt_processed_at, event_id limit 1)"
        )
    select = ["--select", "stg_clickstream__events,test_type:data"]
    latest = run_dbt(["test", "--quiet", *select], warehouse.dw, target_path=warehouse.target)
    assert latest.success and latest.tests_passed > 0, latest.failures
    every_row = run_dbt(
        ["test", "--quiet", *select, "--vars", "{data_tests_scope: all}"], warehouse.dw, target_path=warehouse.target
    )
    assert not every_row.success and any("device_class" in failure for failure in every_row.failures)


def test_source_freshness_passes_after_a_load_and_fails_on_a_stale_warehouse(warehouse: Warehouse) -> None:
    warehouse.add_traffic(200, 1, seed=9, now=datetime.now(UTC))
    fresh = run_dbt(["source", "freshness", "--quiet"], warehouse.dw, target_path=warehouse.target)
    assert fresh.success, fresh.failures
    with psycopg.connect(**warehouse.dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("update raw.events set loaded_at = loaded_at - interval '3 days'")
    stale = run_dbt(["source", "freshness", "--quiet"], warehouse.dw, target_path=warehouse.target)
    assert not stale.success


def test_the_cli_points_dbt_at_the_embedded_warehouse_when_nothing_is_configured(home: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "clickstream", "dbt", "debug", "--no-use-colors"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Connection test: [OK connection ok]" in result.stdout
    assert "port: 5432" not in result.stdout, "the embedded warehouse's own port, not the default"


# -- the analyst's view: marts written the plain way, or with one line of machinery ------------------------------
ANALYST_MARTS = {
    # a plain mart, as dbt's tutorials write one: rebuilt whole by every build
    "analyst_sessions_per_day": """
select started_date as date_day, count(*) as sessions, sum(event_count) as events
from {{ ref('fct_sessions') }}
group by started_date
""",
    # the same, incremental: one line, then its SELECT (the filter only makes it cheaper)
    "analyst_sessions_per_day_incremental": """
{{ incremental_by_period('day') }}

select started_date as date_day, count(*) as sessions, sum(event_count) as events
from {{ ref('fct_sessions') }}
where {{ in_changed_periods('started_at') }}
group by started_date
""",
    # the same, incremental WITHOUT the filter: slower, still exact (the materialization keeps the changed days)
    "analyst_sessions_per_day_unfiltered": """
{{ incremental_by_period('day') }}

select started_date as date_day, count(*) as sessions, sum(event_count) as events
from {{ ref('fct_sessions') }}
group by started_date
""",
    # dbt's own incremental with no machinery: appends every run, the mistake the exactness test must catch
    "analyst_forgot_the_machinery": """
{{ config(materialized='incremental') }}

select started_date as date_day, count(*) as sessions
from {{ ref('fct_sessions') }}
{% if is_incremental() %}
where started_at > (select max(date_day) from {{ this }})
{% endif %}
group by started_date
""",
}


@pytest.fixture
def analyst_warehouse(tmp_path: Path, dw: WarehouseSettings) -> Warehouse:
    """The project, copied, with the analyst's marts dropped into marts/."""
    import shutil

    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT / name, project / name)
    shutil.copytree(PROJECT / "dbt_project", project / "dbt_project", ignore=shutil.ignore_patterns("target"))
    for name, sql in ANALYST_MARTS.items():
        (project / "dbt_project" / "models" / "marts" / f"{name}.sql").write_text(sql)
    return Warehouse(tmp_path, dw, project)


def test_marts_an_analyst_drops_in_are_exact_after_scheduled_builds_and_a_forgotten_machinery_is_caught(
    analyst_warehouse: Warehouse,
) -> None:
    warehouse = analyst_warehouse
    warehouse.add_traffic(3000, 3, seed=1, now=T)
    warehouse.build()
    for round_number in range(3):  # scheduled builds, with new and late traffic
        warehouse.add_traffic(400, 1, seed=20 + round_number, now=T - timedelta(hours=10 * round_number))
        warehouse.build()
    plain = warehouse.query("select date_day, sessions, events from marts.analyst_sessions_per_day order by 1")
    truth = warehouse.query(
        "select started_date, count(*), sum(event_count) from marts.fct_sessions group by 1 order by 1"
    )
    assert plain == truth, "a plain mart is a table, rebuilt whole: no duplicated rows"
    for name in ("analyst_sessions_per_day_incremental", "analyst_sessions_per_day_unfiltered"):
        assert warehouse.query(f"select date_day, sessions, events from marts.{name} order by 1") == truth, name

    warehouse.snapshot()
    assert "marts.analyst_sessions_per_day" not in warehouse.compared, "a table needs no comparison"
    assert {"marts.analyst_sessions_per_day_incremental", "marts.analyst_forgot_the_machinery"} <= set(
        warehouse.compared
    ), "the exactness check finds incremental models by itself"
    warehouse.build("--full-refresh")
    wrong = {relation for relation, count in warehouse.differences_from_snapshot().items() if count}
    assert wrong == {"marts.analyst_forgot_the_machinery"}
