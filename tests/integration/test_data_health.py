"""Data health on generated traffic: six weeks of a shop's visits (four of them the baseline), with known breaks
injected in the last week (loader/breaks.py). Each break is flagged in marts.data_health_hourly, by the health tests
and by `clickstream health`'s exit code, the normal hours raise under 1% false alarms, and the marts build and the
ETL run succeeds whatever the health checks say."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from clickstream.cli import main
from loader.config import WarehouseSettings
from loader.health import check_health
from loader.transform import PROJECT, run_dbt
from tests.support.built_warehouse import Warehouse
from tests.support.health_judge import a_week_of_breaks, judge

END = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday: the traffic ends here, and the health is judged as of it
WEEKS = 6
EVENTS = 70_000  # about 70 events an hour, 20 checkouts a day
BREAKS = DROP, SILENT_DAY, BURST, UNKNOWN = a_week_of_breaks(END)
HOUR = timedelta(hours=1)
FIRST_DAY = END - timedelta(weeks=WEEKS)
QUARANTINED = {  # objects the loader quarantines: one not JSON, one with two events breaking the contract
    f"events/{FIRST_DAY + 3 * HOUR:%Y/%m/%d/%H}/events-not-json.json": b"{not json",
    f"events/{FIRST_DAY + 5 * HOUR:%Y/%m/%d/%H}/events-bad.json": b'[{"eventName": "Page View!", "clientId": "c1"},\n'
    b'{"eventName": "page_view"}]',
}


def as_of(instant: datetime) -> list[str]:
    return ["--vars", json.dumps({"health_as_of": instant.isoformat()})]


@pytest.fixture(scope="module")
def health(pg_server: WarehouseSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The warehouse, loaded and built as of END."""
    root = tmp_path_factory.mktemp("health")
    name = "data_health"
    admin = {**pg_server.conninfo(), "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    dw = dataclasses.replace(pg_server, database=name, embedded=False)
    warehouse = Warehouse(root, dw, load_since=END - timedelta(weeks=WEEKS + 1))
    for key, body in QUARANTINED.items():  # in the first week, which no hour is judged against
        warehouse.store.put(key, body)
    warehouse.add_traffic(EVENTS, WEEKS * 7, seed=21, now=END, breaks=BREAKS)
    warehouse.build(*as_of(END))
    yield warehouse
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{name}" with (force)')


def anomalies(warehouse: Warehouse, start: datetime, end: datetime) -> dict[datetime, list[str]]:
    return dict(
        warehouse.query(
            "select hour_at, anomalies from marts.data_health_hourly where hour_at >= %s and hour_at < %s and is_anomaly",
            start,
            end,
        )
    )


def test_each_injected_break_is_flagged(health: Warehouse) -> None:
    assert anomalies(health, DROP.start, DROP.end) == {DROP.start: ["volume_drop"]}
    silent = anomalies(health, SILENT_DAY.start, SILENT_DAY.end)
    assert len(silent) >= 12 and all("no_checkouts" in found for found in silent.values()), silent
    burst = anomalies(health, BURST.start, BURST.end)
    assert set(burst[BURST.start]) >= {"bot_spike", "volume_spike"}
    unknown_hour = UNKNOWN.start.replace(minute=0)
    assert set(anomalies(health, unknown_hour, unknown_hour + HOUR)[unknown_hour]) == {
        "unknown_event_name",
        "new_payload_field",
    }
    [(names, fields)] = health.query(
        "select new_event_names, new_payload_fields from marts.data_health_hourly where hour_at = %s", unknown_hour
    )
    assert (names, fields) == (["promo_banner_view"], ["element.dataset.bannerId"])


def test_normal_traffic_raises_false_alarms_in_under_one_percent_of_the_hours(health: Warehouse) -> None:
    """Every judged hour (complete, with a baseline) but the breaks' own: an anomaly there is a false alarm, unless
    the silent day explains it (tests/support/health_judge.py). A longer judgement, on several shop sizes and seeds,
    is `make bench`'s health section."""
    verdict = judge(health.dw, BREAKS)
    assert verdict.flagged == {"VolumeDrop": True, "NoCheckouts": True, "BotBurst": True, "UnknownEvent": True}
    assert verdict.normal_hours >= 250, "a week and a half of judged hours"
    assert verdict.false_alarm_share < 0.01, verdict.false_alarms
    print(f"false alarms: {len(verdict.false_alarms)} of {verdict.normal_hours} judged normal hours")


def test_a_dead_tracker_is_zero_events_in_hours_that_exist(health: Warehouse) -> None:
    """Hours without a single event are rows of the mart, up to the hour the warehouse last looked at the lake."""
    hours, first, last, complete = health.query(
        "select count(*), min(hour_at), max(hour_at), bool_and(is_complete) filter (where hour_at < %s)"
        " from marts.data_health_hourly",
        END,
    )[0]
    assert last == END and hours == (last - first) / HOUR + 1, "one row per hour, gaps included"
    assert complete and health.one("select is_complete from marts.data_health_hourly where hour_at = %s", END) is False


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (DROP.end + timedelta(minutes=10), "volume_drop"),
        (SILENT_DAY.end - timedelta(minutes=50), "no_checkouts"),
        (BURST.end + timedelta(minutes=10), "bot_spike"),
        (UNKNOWN.start + timedelta(minutes=40), "unknown_event_name"),
    ],
    ids=["volume-drop", "no-checkouts", "bot-burst", "unknown-event"],
)
def test_clickstream_health_exits_1_while_a_break_is_open(
    health: Warehouse, moment: datetime, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    run_dbt(["run", "--select", "data_health_hourly", "--quiet", *as_of(moment)], health.dw, target_path=health.target)
    monkeypatch.setenv("DW_URL", health.dw.url())
    capsys.readouterr()
    assert main(["health", "--hours", "6"]) == 1
    out = capsys.readouterr().out
    assert "OPEN:" in out and expected in out, out


def test_clickstream_health_exits_0_on_normal_hours_and_2_without_the_mart(
    health: Warehouse, dw: WarehouseSettings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    quiet = END - timedelta(days=5, hours=6)  # the day after the drop, nothing broken around it
    run_dbt(["run", "--select", "data_health_hourly", "--quiet", *as_of(quiet)], health.dw, target_path=health.target)
    monkeypatch.setenv("DW_URL", health.dw.url())
    assert main(["health"]) == 0
    assert "healthy" in capsys.readouterr().out
    monkeypatch.setenv("DW_URL", dw.url())  # an empty warehouse
    assert main(["health"]) == 2
    assert "not built" in capsys.readouterr().err


def test_health_checks_warn_or_fail_on_a_break_and_never_stop_the_build(health: Warehouse, tmp_path: Path) -> None:
    """As of the hour after the volume drop the volume check warns (one anomalous hour); during the silent day the
    checkout check fails. The build excludes them (the fixture's build succeeded on the broken traffic), and no
    model depends on them."""
    rebuild = ["run", "--select", "data_health_hourly", "--quiet"]
    run_dbt([*rebuild, *as_of(DROP.end + timedelta(minutes=10))], health.dw, target_path=tmp_path / "target")
    dropped = run_dbt(["test", "--select", "tag:health", "--quiet", *as_of(DROP.end)], health.dw, project=PROJECT)
    assert dropped.warnings == ["test health_events_volume_is_normal"] and dropped.tests_failed == 0
    run_dbt([*rebuild, *as_of(SILENT_DAY.end - timedelta(minutes=50))], health.dw, target_path=tmp_path / "target")
    summary = check_health(health.dw, project=PROJECT, target_path=tmp_path / "target")
    assert summary.status == "error" and "health_checkouts_keep_coming" in summary.failures
    assert summary.latest is not None and summary.latest["checkout_complete_events"] == 0
    assert any("no_checkouts" in found for found in summary.open_anomalies)
    manifest = json.loads((health.target / "manifest.json").read_text())
    health_tests = [node for node in manifest["nodes"].values() if "health" in node.get("tags", [])]
    assert len(health_tests) == 5
    children = {child for node in health_tests for child in manifest["child_map"][node["unique_id"]]}
    assert children == set(), "no model depends on a health test"


# -- the dashboard's Data health page reads the same marts ----------------------------------------------------------


@pytest.fixture(scope="module")
def health_pool(health: Warehouse) -> Iterator[Any]:
    from dashboard.db import open_pool

    run_dbt(["run", "--select", "data_health_hourly", "--quiet", *as_of(END)], health.dw, target_path=health.target)
    pool = open_pool(health.dw)
    yield pool
    pool.close()


def test_the_health_page_shows_every_hour_of_the_range_with_the_events_of_raw_events(
    health: Warehouse, health_pool: Any
) -> None:
    from dashboard import health as page
    from dashboard.filters import Filters

    week = Filters((END - timedelta(days=7)).date(), (END - timedelta(days=1)).date())
    hours = page.hours(health_pool, week)
    assert list(hours["hour_at"]) == [week.start_at + n * HOUR for n in range(7 * 24)]
    assert hours["events"].sum() == health.one(
        "select count(*) from raw.events where event_at >= %s and event_at < %s", week.start_at, week.end_at
    )
    flagged = {row.hour_at: list(row.anomalies) for row in hours.itertuples() if len(row.anomalies)}
    assert flagged == dict(
        health.query(
            "select hour_at, anomalies from marts.data_health_hourly where cardinality(anomalies) > 0"
            " and hour_at >= %s and hour_at < %s",
            week.start_at,
            week.end_at,
        )
    )
    assert flagged[DROP.start] == ["volume_drop"] and "bot_spike" in flagged[BURST.start]
    status = page.status(health_pool)
    assert status["as_of_at"] == END and status["latest_hour_at"] == END - HOUR and status["judged"]
    assert status["events"] == health.one(
        "select count(*) from raw.events where event_at >= %s and event_at < %s", END - 3 * HOUR, END
    )
    assert status["open"] == [
        (hour, list(found))
        for hour, found in health.query(
            "select hour_at, anomalies from marts.data_health_hourly where hour_at >= %s and cardinality(anomalies) > 0"
            " order by hour_at desc",
            END - 3 * HOUR,
        )
    ]


def test_the_health_page_lists_the_quarantine_by_reason_and_the_last_etl_runs(
    health: Warehouse, health_pool: Any
) -> None:
    from dashboard import health as page
    from dashboard.filters import Filters

    first_days = Filters(FIRST_DAY.date(), FIRST_DAY.date() + timedelta(days=1))
    reasons = page.rejected(health_pool, first_days)
    raw = health.query("select reason, source_key from raw.rejected_events order by rejected_id")
    assert reasons["rejected"].sum() == len(raw) == 3
    assert list(reasons["objects"]) == [1, 1, 1], "each kind of reason came from one object"
    assert set(reasons["example_source_key"]) == {key for _, key in raw} == set(QUARANTINED)
    assert any(reason.startswith("object is not valid JSON") for reason in reasons["reason"])
    assert page.rejected(health_pool, Filters(END.date(), END.date())).empty
    started = END + timedelta(minutes=5)
    health.query(
        "insert into raw.etl_runs (started_at, status, trigger, events, health_status, health_failures, seconds)"
        " values (%s, 'succeeded', 'lambda', 1234, 'warn', '{health_tracker_schema_is_unchanged}', 41.5) returning 1",
        started,
    )
    runs = page.runs(health_pool)
    assert len(runs) == health.one("select count(*) from raw.etl_runs") >= 1
    latest = runs.iloc[0]
    assert (latest["started_at"], latest["status"], latest["events"], latest["health_status"]) == (
        started,
        "succeeded",
        1234,
        "warn",
    )
    assert list(latest["health_failures"]) == ["health_tracker_schema_is_unchanged"]
