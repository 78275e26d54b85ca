"""The dbt project on a real PostgreSQL: incremental runs equal a full refresh; marts agree with raw data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loader.config import LoaderSettings, WarehouseSettings
from loader.generate import TrafficGenerator, replay
from loader.load import Loader
from loader.rawstore import LocalStore
from loader.transform import BUILD, DbtSummary, run_dbt

T = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
MARTS = [
    "fct_events", "fct_sessions", "dim_clients", "funnel_daily", "product_engagement_daily",
    "traffic_hourly", "journey_transitions", "retention_weekly",
]  # fmt: skip


class Warehouse:
    """A lake and a warehouse database, loaded and built step by step like the ETL does."""

    def __init__(self, home: Path, dw: WarehouseSettings) -> None:
        self.store = LocalStore(home / "lake", fsync=False)
        self.dw = dw
        self.target = home / "target"

    def add_traffic(self, events: int, days: float, seed: int, now: datetime) -> None:
        replay(TrafficGenerator(events=events, days=days, seed=seed, now=now).requests(), self.store)
        summary = Loader(self.store, self.dw, LoaderSettings(threads=4)).run(since=T - timedelta(days=30))
        assert summary.status == "succeeded", summary

    def build(self, *extra: str) -> DbtSummary:
        summary = run_dbt([*BUILD, "--quiet", *extra], self.dw, target_path=self.target)
        assert summary.success, summary.failures or summary.error
        return summary

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(**self.dw.conninfo()) as conn:  # type: ignore[arg-type]
            return conn.execute(sql, params).fetchall()

    def one(self, sql: str, *params: Any) -> Any:
        return self.query(sql, *params)[0][0]


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
    warehouse.build()
    sessions_after = {key for (key,) in warehouse.query("select session_key from marts.fct_sessions")}
    assert sessions_before_late_events - sessions_after, "late events reopened and merged existing sessions"
    warehouse.add_traffic(400, 0.1, seed=4, now=T + timedelta(hours=6))
    warehouse.build()

    with psycopg.connect(**warehouse.dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("create schema incremental_result")
        for mart in MARTS:
            conn.execute(f"create table incremental_result.{mart} as select * from marts.{mart}")
    warehouse.build("--full-refresh")
    for mart in MARTS:
        columns = ", ".join(
            name
            for (name,) in warehouse.query(
                "select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s "
                "and column_name <> 'dbt_processed_at' order by ordinal_position",
                mart,
            )
        )
        differences = warehouse.one(
            f"select count(*) from ((select {columns} from incremental_result.{mart} except all select {columns} from marts.{mart})"
            f" union all (select {columns} from marts.{mart} except all select {columns} from incremental_result.{mart})) as d"
        )
        assert differences == 0, f"{mart}: {differences} rows differ between incremental and full refresh"
        assert warehouse.one(f"select count(*) from marts.{mart}") > 0, mart


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
    warehouse.add_traffic(300, 1, seed=6, now=T)
    warehouse.build()
    schemas = {
        s
        for (s,) in warehouse.query(
            "select distinct table_schema from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema')"
        )
    }
    assert schemas == {"raw", "staging", "intermediate", "marts"}
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
    assert summary.tests_passed >= 6


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
        [sys.executable, "-m", "loader.cli", "dbt", "debug", "--no-use-colors"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Connection test: [OK connection ok]" in result.stdout
    assert "port: 5432" not in result.stdout, "the embedded warehouse's own port, not the default"
