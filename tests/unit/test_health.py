"""Data health without a warehouse: the breaks injected into generated traffic, the open anomalies, the CloudWatch
metrics' EMF line, the CLI's table, and the dashboard page's pieces."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from clickstream.cli import _health_table
from dashboard import health as page
from dashboard.filters import Filters
from loader.breaks import HEADLESS, BotBurst, NoCheckouts, UnknownEvent, VolumeDrop, inject
from loader.generate import SimulatedRequest, TrafficGenerator
from loader.health import HealthHour, HealthSummary, open_anomalies
from loader.metrics import health_metrics, publish_health

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def events_of(request: SimulatedRequest) -> list[dict[str, Any]]:
    body = request.body
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    data = json.loads(body)
    return data["events"] if isinstance(data, dict) and "events" in data else [data]


def traffic() -> list[SimulatedRequest]:
    return list(TrafficGenerator(events=3000, days=1, seed=3, now=NOW).requests())


def test_breaks_change_their_window_and_nothing_else() -> None:
    normal = traffic()
    drop = VolumeDrop(NOW - 6 * HOUR, NOW - 3 * HOUR)
    silent = NoCheckouts(NOW - 20 * HOUR, NOW - 8 * HOUR)
    broken = list(inject(traffic(), [drop, silent], seed=1))
    outside = [r for r in normal if not (drop.start <= r.received_at < drop.end)]
    inside = [r for r in normal if drop.start <= r.received_at < drop.end]
    kept = [r for r in broken if drop.start <= r.received_at < drop.end]
    assert len(inside) > 100 and 0 < len(kept) < 0.12 * len(inside), "about 5% of the window's requests arrive"
    names = [e["eventName"] for r in broken if silent.start <= r.received_at < silent.end for e in events_of(r)]
    assert "checkout_complete" not in names and "checkout_start" in names
    checkouts = [e for r in broken if not silent.start <= r.received_at < silent.end for e in events_of(r)
                 if e["eventName"] == "checkout_complete"]  # fmt: skip
    assert checkouts, "checkouts outside the silent window are kept"
    assert len([r for r in broken if not drop.start <= r.received_at < drop.end]) <= len(outside)
    assert list(inject(traffic(), [], seed=1)) == normal, "no break, the same traffic"


def test_a_bot_burst_and_an_unknown_event_are_added_in_time_order() -> None:
    burst = BotBurst(NOW - 5 * HOUR, NOW - 4 * HOUR, events=300)
    unknown = UnknownEvent(NOW - 2 * HOUR, name="promo_banner_view", events=5)
    normal = traffic()
    broken = list(inject(traffic(), [burst, unknown], seed=2))
    added = [r for r in broken if r not in normal]
    assert len(added) == 305 and [r.received_at for r in added] == sorted(r.received_at for r in added)
    assert [r for r in broken if r in normal] == normal
    bots = [r for r in broken if r.headers["user-agent"] == HEADLESS]
    assert len(bots) == 300 and all(burst.start <= r.received_at < burst.end for r in bots)
    promos = [e for r in broken for e in events_of(r) if e["eventName"] == "promo_banner_view"]
    assert len(promos) == 5 and all(e["element"]["dataset"]["bannerId"] for e in promos)


def hour(at: datetime, anomalies: tuple[str, ...] = (), complete: bool = True, **values: Any) -> HealthHour:
    defaults: dict[str, Any] = {
        "as_of_at": NOW, "events": 120, "expected_events": 110.0, "expected_events_lower": 60.0,
        "expected_events_upper": 180.0, "events_score": 0.4, "checkout_complete_events": 2, "expected_checkouts": 2.0,
        "bot_share": 0.05, "rejected_events": 0, "rejected_share": 0.0, "late_share": 0.0, "unknown_event_names": (),
        "new_event_names": (), "new_payload_fields": (), "capture_rate_24h": 0.86,
    }  # fmt: skip
    return HealthHour(hour_at=at, is_complete=complete, anomalies=anomalies, **{**defaults, **values})


def test_an_anomaly_is_open_in_the_latest_three_complete_hours_or_the_current_one() -> None:
    hours = [hour(NOW - n * HOUR, complete=n > 0) for n in range(8, -1, -1)]
    assert open_anomalies(hours) == []
    old = hour(NOW - 5 * HOUR, ("volume_drop",))
    recent = hour(NOW - 2 * HOUR, ("no_checkouts",))
    current = hour(NOW, ("unknown_event_name",), complete=False)
    flagged = [old if h.hour_at == old.hour_at else recent if h.hour_at == recent.hour_at else h for h in hours]
    assert open_anomalies([*flagged[:-1], current]) == [recent, current]


def test_the_metrics_are_one_emf_line_with_the_latest_complete_hour(capsys: pytest.CaptureFixture[str]) -> None:
    latest = hour(NOW - HOUR, ("bot_spike",), bot_share=0.4123)
    summary = HealthSummary(status="warn", checks_warned=1, freshness="error", latest=latest.as_dict(),
                            open_anomalies=["2026-11-24T11:00Z bot_spike"])  # fmt: skip
    assert dict((name, value) for name, _, value in health_metrics(summary)) == {
        "Events": 120.0, "ExpectedEvents": 110.0, "CheckoutComplete": 2.0, "BotShare": 41.23, "RejectedShare": 0.0,
        "LateShare": 0.0, "CaptureRate": 86.0, "HealthAnomalies": 1.0, "HealthChecksFailed": 1.0,
    }  # fmt: skip
    publish_health(summary, namespace="Clickstream", service="shop-prod")
    [line] = capsys.readouterr().out.splitlines()
    emf = json.loads(line)
    [definition] = emf["_aws"]["CloudWatchMetrics"]
    assert definition["Namespace"] == "Clickstream" and definition["Dimensions"] == [["service"]]
    assert emf["service"] == "shop-prod" and emf["BotShare"] == [41.23]
    assert {m["Name"]: m["Unit"] for m in definition["Metrics"]}["CaptureRate"] == "Percent"
    publish_health(None, namespace="Clickstream", service="shop-prod")
    publish_health(HealthSummary(status="skipped"), namespace="Clickstream", service="shop-prod")
    assert capsys.readouterr().out == "", "nothing to say without a health step"


def test_the_cli_table_marks_anomalies_and_the_current_hour() -> None:
    table = _health_table([hour(NOW - HOUR, ("volume_drop",), events=5), hour(NOW, complete=False)])
    first, second = table.splitlines()[1:]
    assert first.startswith("!") and "volume_drop" in first and "2026-11-24 11:00" in first
    assert second.startswith("…") and "110 (60–180)" in second


# -- the dashboard page's pieces ------------------------------------------------------------------
F = Filters(date(2026, 11, 23), date(2026, 11, 24))


def frame(rows: list[HealthHour]) -> pd.DataFrame:
    return pd.DataFrame([{name: getattr(row, name) for name in page.HOUR_COLUMNS} for row in rows])


def test_the_hours_figure_draws_the_band_and_circles_the_anomalies() -> None:
    rows = [hour(NOW - 3 * HOUR), hour(NOW - 2 * HOUR, ("volume_drop",), events=4), hour(NOW - HOUR)]
    figure = page.hours_figure(frame(rows), F.key())
    names = [trace.name for trace in figure.data]
    assert {"Expected band", "Expected", "Events", "Checkouts", "Anomaly"} <= set(names)
    anomaly = figure.data[names.index("Anomaly")]
    assert list(anomaly.y) == [4] and "Far fewer events" in anomaly.customdata[0]
    assert figure.layout.meta["filters"] == F.key()
    assert page.hours_figure(frame([]).reindex(columns=page.HOUR_COLUMNS), F.key()).layout.annotations


def test_the_anomalies_table_says_why_newest_first() -> None:
    rows = [hour(NOW - 3 * HOUR, ("no_checkouts",)), hour(NOW - 2 * HOUR),
            hour(NOW - HOUR, ("unknown_event_name", "new_payload_field"), new_event_names=("promo_banner_view",))]  # fmt: skip
    html = str(page.anomalies_table(frame(rows), F))
    assert 'data-rows="2"' in html
    assert html.index("2026-11-24 11:00") < html.index("2026-11-24 09:00")
    assert "An event name the contract does not know" in html and "(promo_banner_view)" in html
    assert 'data-anomalies="unknown_event_name,new_payload_field"' in html
    assert "No anomaly in this range" in str(page.anomalies_table(frame(rows[1:2]), F))


def test_the_status_line_is_red_when_an_anomaly_is_open() -> None:
    opened = str(page.status_line({"as_of_at": NOW, "open": [(NOW - HOUR, ["no_checkouts"])]}, now=NOW))
    assert 'class="health-status open"' in opened and "No purchase tracked" in opened and 'data-open="1"' in opened
    healthy = str(page.status_line({"as_of_at": NOW, "open": [], "events": 340, "judged": True}, now=NOW))
    assert 'class="health-status ok"' in healthy and "Healthy" in healthy
    young = str(page.status_line({"as_of_at": NOW, "open": [], "events": 340, "judged": False}, now=NOW))
    assert 'data-tone="unsure"' in young and "needs 4 weeks of history" in young
    silent = str(page.status_line({"as_of_at": NOW, "open": [], "events": 0, "judged": False}, now=NOW))
    assert 'data-tone="unsure"' in silent and "No events in the latest 3 complete hours" in silent


def test_runs_and_rejections_tables_mark_failures_and_keep_raw_counts() -> None:
    runs = pd.DataFrame([
        {"started_at": NOW, "status": "failed", "trigger": "lambda", "objects": 3, "events": 90, "rejected": 1,
         "shop_status": "failed", "models_ok": 50, "tests_failed": 0, "health_status": "warn",
         "health_failures": ["health_traffic_is_not_polluted"], "freshness_status": "pass", "seconds": 41.0,
         "message": "shop database sync failed"},
    ])  # fmt: skip
    html = str(page.runs_table(runs))
    assert re.search(r'<tr class="failed" title="shop database sync failed" data-status="failed">', html)
    assert "warn: health_traffic_is_not_polluted" in html
    assert "No ETL run recorded yet" in str(page.runs_table(runs.iloc[0:0]))
    rejected = pd.DataFrame([{"reason": "eventName: required", "rejected": 12, "objects": 3,
                              "last_rejected_at": NOW, "example_source_key": "events/2026/11/24/11/events-x.json"}])  # fmt: skip
    html = str(page.rejected_table(rejected, F))
    assert 'data-rejected="12"' in html and "events-x.json" in html
    assert 'data-state="missing"' in str(page.empty_state("missing"))
