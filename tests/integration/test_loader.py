"""The loader against a real PostgreSQL and the S3 API (moto's server) or the local lake."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loader.collector_format import encode_object
from loader.config import LoaderSettings, RawStoreSettings, WarehouseSettings
from loader.contract import CONTRACT_VERSION, iso_utc
from loader.generate import TrafficGenerator
from loader.load import Loader, LoadSummary
from loader.rawstore import RawStore, open_store
from loader.replay import replay
from loader.runlock import LOCK_KEY, run_lock
from tests.conftest import ROOT
from tests.unit.test_contract import BROWSER_EVENT

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)


def node_event(received: datetime, **changes: Any) -> dict[str, Any]:
    """An event exactly as the previous Node collector stored it (one object per event)."""
    return {
        **BROWSER_EVENT,
        "eventId": str(uuid.uuid4()),
        "_ingest": {
            "receivedAt": received.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "sourceIp": "113.161.42.0",
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "requestId": "r-1",
            "method": "POST",
            "path": "/clickstream",
        },
        **changes,
    }


def key_for(received: datetime, name: str | None = None) -> str:
    return f"events/{received:%Y/%m/%d/%H}/{name or f'event-{uuid.uuid4()}.json'}"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, home: Path) -> RawStore:
    if request.param == "s3":
        request.getfixturevalue("s3_env")
    return open_store(RawStoreSettings.from_env())


def load(store: RawStore, dw: WarehouseSettings, settings: LoaderSettings | None = None, **kwargs: Any) -> LoadSummary:
    """One run under the run lock, as ``clickstream load`` takes it."""
    settings = settings or LoaderSettings(threads=4, batch_objects=kwargs.pop("batch_objects", 50))
    with run_lock(dw) as (conn, acquired):
        return Loader(store, dw, settings).run(conn, **kwargs) if acquired else LoadSummary.lock_taken()


def query(dw: WarehouseSettings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(**dw.conninfo()) as conn:  # type: ignore[arg-type]
        return conn.execute(sql, params).fetchall()


def test_generated_traffic_loads_exactly_once_even_when_run_twice(store: RawStore, dw: WarehouseSettings) -> None:
    report = replay(TrafficGenerator(events=800, days=2, seed=3, now=NOW).requests(), store)
    first = load(store, dw)
    assert first.status == "succeeded"
    assert first.objects == report.statuses[200]
    assert first.events + first.duplicates == report.events_accepted
    assert first.duplicates >= 0 and first.rejected == 0
    again = load(store, dw)
    assert (again.status, again.objects, again.events) == ("succeeded", 0, 0)
    [(rows, distinct)] = query(dw, "select count(*), count(distinct event_id) from raw.events")
    assert rows == distinct == first.events
    [(manifest,)] = query(dw, "select count(*) from raw.load_manifest")
    assert manifest == first.objects
    runs = query(dw, "select status, objects, events from raw.load_runs order by load_id")
    assert runs == [("succeeded", first.objects, first.events), ("succeeded", 0, 0)]


def test_a_collector_line_the_warehouse_refuses_is_quarantined_alone_and_its_neighbours_load(
    store: RawStore, dw: WarehouseSettings
) -> None:
    """The loader stores a collector line's text without parsing it; if the warehouse refuses the text, the
    object is read again event by event."""
    report = replay(TrafficGenerator(events=300, days=1, seed=5, now=NOW).requests(), store)
    objects = [obj for obj in store.list("events/") if store.get(obj.key).count(b"\n") >= 3]
    broken, deep = objects[0], objects[1]
    lines = store.get(broken.key).split(b"\n")
    lines[2] = lines[2].replace(b'"eventName":"', b'"eventName":', 1)  # its second event is not JSON
    store.put(broken.key, b"\n".join(lines))
    lines = store.get(deep.key).split(b"\n")  # its first event nests deeper than the warehouse's stack allows
    lines[1] = lines[1].replace(b'",', b'","deep":' + b"[" * 100_000 + b"]" * 100_000 + b",", 1)
    store.put(deep.key, b"\n".join(lines))
    summary = load(store, dw)
    assert summary.status == "succeeded" and summary.rejected == 2
    assert summary.events + summary.duplicates + summary.rejected == report.events_accepted
    rejected = query(dw, "select source_key, position, reason from raw.rejected_events order by source_key")
    assert sorted((key, position) for key, position, _ in rejected) == sorted([(broken.key, 1), (deep.key, 0)])
    assert all("not valid JSON" in reason for _, _, reason in rejected), rejected
    [(mismatched,)] = query(dw, "select count(*) from raw.events where payload ->> 'eventId' <> event_id::text")
    assert mismatched == 0


def test_an_object_delivered_twice_and_an_event_in_two_objects_are_kept_once(
    store: RawStore, dw: WarehouseSettings
) -> None:
    received = NOW - timedelta(hours=1)
    shared = node_event(received)
    body = json.dumps([shared, node_event(received)]).encode()
    store.put(key_for(received, "events-a.json"), body)
    store.put(key_for(received, "events-b.json"), body)  # the same object, delivered twice
    store.put(key_for(received, "events-c.json"), json.dumps([shared]).encode())
    summary = load(store, dw)
    assert (summary.objects, summary.events, summary.duplicates) == (3, 2, 3)
    assert query(dw, "select count(*) from raw.events") == [(2,)]
    per_object = dict(
        (k.rsplit("/", 1)[1], (e, d))
        for k, e, d in query(dw, "select source_key, events, duplicates from raw.load_manifest")
    )
    assert per_object == {"events-a.json": (2, 0), "events-b.json": (0, 2), "events-c.json": (0, 1)}


def test_the_earliest_received_copy_of_an_event_wins_whatever_the_load_order(
    store: RawStore, dw: WarehouseSettings
) -> None:
    late_copy = node_event(NOW - timedelta(hours=1))
    store.put(key_for(NOW - timedelta(hours=1)), json.dumps(late_copy).encode())
    load(store, dw)
    early_copy = {**late_copy, "_ingest": {**late_copy["_ingest"], "receivedAt": "2026-11-24T10:00:00.000Z"}}
    store.put(key_for(NOW - timedelta(hours=2)), json.dumps(early_copy).encode())
    summary = load(store, dw)
    assert (summary.events, summary.duplicates) == (0, 1), "no new event: the stored copy was replaced"
    assert query(dw, "select sum(events), sum(duplicates) from raw.load_manifest") == [(1, 1)], "the first copy lost"
    [(received, count)] = query(dw, "select min(received_at), count(*) from raw.events")
    assert (received, count) == (datetime(2026, 11, 24, 10, tzinfo=timezone.utc), 1)


def test_old_single_event_objects_load_unchanged_beside_new_batched_ones(
    store: RawStore, dw: WarehouseSettings
) -> None:
    received = NOW - timedelta(minutes=30)
    old = node_event(received)
    snake = {"event_name": "click", "event_id": str(uuid.uuid4()), "client_id": "c-2", "_ingest": old["_ingest"]}
    store.put(key_for(received), json.dumps(old).encode())
    store.put(key_for(received), json.dumps(snake).encode())
    store.put(
        key_for(received, "events-x.ndjson"),
        (json.dumps(node_event(received)) + "\n" + json.dumps(node_event(received)) + "\n").encode(),
    )
    summary = load(store, dw)
    assert (summary.objects, summary.events, summary.rejected) == (3, 4, 0)
    [(payload, event_at, received_at)] = query(
        dw, "select payload, event_at, received_at from raw.events where event_id = %s", old["eventId"]
    )
    assert {k: v for k, v in payload.items() if k != "_enriched"} == old, "the old object's event is stored as it was"
    assert payload["_enriched"]["userAgent"] == {
        "browser": "Mobile Safari",
        "browserVersion": "17.5",
        "os": "iOS",
        "osVersion": "17.5",
        "deviceClass": "mobile",
        "isBot": False,
    }
    assert event_at == received_at == datetime.fromisoformat(old["_ingest"]["receivedAt"].replace("Z", "+00:00"))
    [(snake_payload,)] = query(dw, "select payload from raw.events where event_id = %s", snake["event_id"])
    assert snake_payload["eventName"] == "click" and snake_payload["clientId"] == "c-2"


def test_bad_objects_and_events_are_quarantined_never_dropped(store: RawStore, dw: WarehouseSettings) -> None:
    received = NOW - timedelta(minutes=10)
    good = node_event(received)
    store.put(key_for(received, "a-broken.json"), b'[{"eventName": "click", ')
    store.put(key_for(received, "b-latin1.json"), '[{"eventName": "caf\xe9"}]'.encode("latin-1"))
    store.put(
        key_for(received, "c-mixed.json"),
        json.dumps(
            [
                good,
                {**good, "eventId": None, "clientId": None},
                {**good, "eventId": str(uuid.uuid4()), "product": {"price": "cheap"}},
                {**good, "eventId": str(uuid.uuid4()), "element": {"text": "x" * 40_000}},
            ]
        ).encode(),
    )
    store.put(key_for(received, "d-lines.ndjson"), (json.dumps(node_event(received)) + "\n{oops\n").encode())
    store.put(key_for(received, "e-empty.json"), b"   ")
    summary = load(store, dw)
    assert summary.status == "succeeded"
    assert (summary.objects, summary.events, summary.rejected) == (5, 2, 7)
    rejected = {
        (k.rsplit("/", 1)[1], p): r
        for k, p, r in query(dw, "select source_key, position, reason from raw.rejected_events")
    }
    assert rejected[("a-broken.json", None)].startswith("object is not valid JSON")
    assert rejected[("b-latin1.json", None)] == "object is not UTF-8 text"
    assert rejected[("c-mixed.json", 1)] == "clientId: required"
    assert rejected[("c-mixed.json", 2)].startswith("product.price: expected a number")
    assert rejected[("c-mixed.json", 3)].startswith("event: ") and "32768-byte limit" in rejected[("c-mixed.json", 3)]
    assert rejected[("d-lines.ndjson", 1)].startswith("line is not valid JSON")
    assert rejected[("e-empty.json", None)] == "object is empty"
    raw_texts = [
        t
        for (t,) in query(
            dw,
            "select raw_text from raw.rejected_events where position is null and source_key like %s",
            "%a-broken.json",
        )
    ]
    assert raw_texts == ['[{"eventName": "click", ']
    assert query(dw, "select count(*) from raw.load_manifest") == [(5,)], "quarantined objects are marked loaded once"


def test_a_late_object_72_hours_back_is_still_found_and_older_ones_need_a_backfill(
    store: RawStore, dw: WarehouseSettings
) -> None:
    store.put(key_for(NOW), json.dumps(node_event(NOW)).encode())
    assert load(store, dw).objects == 1
    late = NOW - timedelta(hours=72)
    store.put(key_for(late), json.dumps(node_event(late)).encode())
    too_late = NOW - timedelta(hours=80)
    store.put(key_for(too_late), json.dumps(node_event(too_late)).encode())
    found = load(store, dw)
    assert (found.objects, found.events) == (1, 1)
    assert "72h before the newest loaded partition" in (found.discovery or "")
    backfill = load(store, dw, since=too_late, until=too_late)
    assert (backfill.objects, backfill.events) == (1, 1)
    assert query(dw, "select count(*) from raw.events") == [(3,)]


def test_a_backfill_elsewhere_or_a_key_from_the_future_does_not_move_the_lookback_window(
    store: RawStore, dw: WarehouseSettings
) -> None:
    store.put(key_for(NOW), json.dumps(node_event(NOW)).encode())
    store.put("archive/2031/01/01/00/events-old.json", json.dumps(node_event(NOW)).encode())
    store.put("events/2031/01/01/00/events-clock-wrong.json", json.dumps(node_event(NOW)).encode())
    assert load(store, dw).objects == 2
    assert load(store, dw, prefix="archive/").objects == 1
    late = NOW - timedelta(hours=50)
    store.put(key_for(late), json.dumps(node_event(late)).encode())
    found = load(store, dw)
    assert found.objects == 1 and (found.discovery or "").startswith("from 2026-11-21 12:00 UTC")


def test_an_object_rewritten_under_the_same_key_is_loaded_again(store: RawStore, dw: WarehouseSettings) -> None:
    first, second = node_event(NOW), node_event(NOW)
    key = key_for(NOW, "events-rewritten.json")
    store.put(key, json.dumps([first]).encode())
    assert load(store, dw).events == 1
    time.sleep(0.01)  # a new mtime for the local lake's etag
    store.put(key, json.dumps([first, second]).encode())
    again = load(store, dw)
    assert (again.objects, again.events, again.duplicates) == (1, 1, 1)
    assert query(dw, "select events, duplicates from raw.load_manifest") == [(2, 1)]
    assert load(store, dw).objects == 0


def test_the_same_event_in_flight_on_both_writers_is_stored_once_and_nothing_is_quarantined(
    store: RawStore, dw: WarehouseSettings
) -> None:
    events = [node_event(NOW) for _ in range(61)]
    for index in range(60):  # a chain, one object per batch: each writer's batch shares an event with the other's
        store.put(key_for(NOW, f"events-{index:03d}.json"), json.dumps(events[index : index + 2]).encode())
    summary = load(store, dw, LoaderSettings(threads=4, writers=2, batch_objects=1))
    assert (summary.status, summary.objects, summary.events, summary.duplicates, summary.rejected) == (
        "succeeded",
        60,
        61,
        59,
        0,
    )
    assert query(dw, "select count(*) from raw.rejected_events") == [(0,)]


def test_one_bad_object_never_blocks_the_others_and_ndjson_lines_load_on_their_own(
    store: RawStore, dw: WarehouseSettings
) -> None:
    deep = b'{"eventName":"click","clientId":"c1","x":' + b"[" * 1020 + b"]" * 1020 + b"}"
    store.put(key_for(NOW, "a-deep.json"), deep)
    good, other = node_event(NOW, pageTitle="Laptop\u2028gaming"), node_event(NOW)
    ndjson = "{broken\n" + json.dumps(good, ensure_ascii=False) + "\n" + json.dumps([other]) + "\n"
    store.put(key_for(NOW, "b-lines.ndjson"), ndjson.encode())
    summary = load(store, dw)
    assert (summary.status, summary.objects, summary.events, summary.rejected) == ("succeeded", 2, 2, 2)
    rejected = query(dw, "select source_key, position, reason from raw.rejected_events order by source_key")
    assert [(key.rsplit("/", 1)[1], position) for key, position, _ in rejected] == [
        ("a-deep.json", 0),
        ("b-lines.ndjson", 0),
    ]
    assert rejected[0][2] == "event: nested too deeply" and "line is not valid JSON" in rejected[1][2]
    assert query(dw, "select payload ->> 'pageTitle' from raw.events where event_id = %s", good["eventId"]) == [
        ("Laptop\u2028gaming",)
    ]


def test_prefix_backfill_loads_objects_outside_the_hour_layout(store: RawStore, dw: WarehouseSettings) -> None:
    store.put("imports/2025-backfill.ndjson", json.dumps(node_event(NOW - timedelta(days=400))).encode())
    assert load(store, dw).objects == 0
    summary = load(store, dw, prefix="imports/")
    assert (summary.objects, summary.events) == (1, 1)
    assert query(dw, "select partition_hour from raw.load_manifest") == [(None,)]


def test_a_second_concurrent_run_exits_cleanly_saying_another_run_holds_the_lock(
    home: Path, dw: WarehouseSettings
) -> None:
    with psycopg.connect(**dw.conninfo(), autocommit=True) as holder:  # type: ignore[arg-type]
        holder.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        result = subprocess.run(
            [sys.executable, "-m", "clickstream", "load"], capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stderr
    assert "another run holds the lock" in result.stdout


def test_a_run_releases_the_lock_before_it_hangs_up(
    store: RawStore, dw: WarehouseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server drops a closed session's locks only once its process has exited: a run started right after
    (`make demo`, a backfill, CI under load) must not find the lock still held. Here connections outlive
    their close, as a slow-exiting server process would, and the lock must be free all the same."""
    lingering: list[psycopg.Connection[Any]] = []
    monkeypatch.setattr(psycopg.Connection, "close", lambda conn: lingering.append(conn))
    store.put(key_for(NOW), json.dumps(node_event(NOW)).encode())
    assert load(store, dw).status == "succeeded"
    monkeypatch.undo()
    try:
        assert lingering, "the run closed its connections"
        assert load(store, dw).status == "succeeded", "the next run found the lock held"
    finally:
        for conn in lingering:
            conn.close()


def test_two_loaders_started_together_load_once_and_the_second_says_why_it_stopped(
    home: Path, dw: WarehouseSettings
) -> None:
    store = open_store(RawStoreSettings.from_env())
    report = replay(TrafficGenerator(events=4000, days=1, seed=13, now=NOW).requests(), store)
    env = {**os.environ, "CLICKSTREAM_LOAD_BATCH_OBJECTS": "10", "CLICKSTREAM_LOAD_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "clickstream", "load"], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the first run is loading
        with contextlib.suppress(psycopg.Error):
            if query(dw, "select count(*) from raw.load_runs where status = 'running'")[0][0]:
                break
        time.sleep(0.02)
    second = subprocess.run([sys.executable, "-m", "clickstream", "load"], capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=300) == 0
    assert second.returncode == 0 and "another run holds the lock" in second.stdout, second.stdout + second.stderr
    assert query(dw, "select count(*), count(distinct source_key) from raw.load_manifest")[0] == (
        report.statuses[200],
        report.statuses[200],
    )
    assert [s for (s,) in query(dw, "select status from raw.load_runs")] == ["succeeded"]


def test_an_unreachable_warehouse_is_a_clear_error_and_a_non_zero_exit(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DW_URL", "postgresql://etl@127.0.0.1:1/dw")
    result = subprocess.run([sys.executable, "-m", "clickstream", "load"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "cannot connect to the warehouse at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_killed_mid_load_leaves_nothing_half_loaded_and_the_next_run_finishes(
    home: Path, dw: WarehouseSettings
) -> None:
    store = open_store(RawStoreSettings.from_env())
    report = replay(TrafficGenerator(events=6000, days=1, seed=9, now=NOW).requests(), store)
    env = {**os.environ, "CLICKSTREAM_LOAD_BATCH_OBJECTS": "20", "CLICKSTREAM_LOAD_THREADS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "clickstream", "load"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and committed < 40:
        with contextlib.suppress(psycopg.Error):
            committed = query(dw, "select count(*) from raw.load_manifest")[0][0]
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < committed < report.statuses[200], "killed after some batches committed and before the end"
    [(manifest_events, rows)] = query(
        dw, "select (select coalesce(sum(events), 0) from raw.load_manifest), (select count(*) from raw.events)"
    )
    assert manifest_events == rows, "every committed object's rows are there, and no row without its object"
    resumed = subprocess.run(
        [sys.executable, "-m", "clickstream", "load", "--json"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    [(objects, events, distinct)] = query(
        dw, "select (select count(*) from raw.load_manifest), count(*), count(distinct event_id) from raw.events"
    )
    assert objects == report.statuses[200]
    assert events == distinct
    [(loaded_and_duplicates,)] = query(dw, "select sum(events + duplicates) from raw.load_manifest")
    assert loaded_and_duplicates == report.events_accepted
    statuses = [s for (s,) in query(dw, "select status from raw.load_runs order by load_id")]
    assert statuses == ["aborted", "succeeded"]


class _FlakyS3Proxy:
    """An HTTP proxy in front of moto that fails requests for chosen keys (503, like S3's SlowDown)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.fail_times: dict[str, int] = {}  # path suffix -> failures left (-1: always)
        self.failures = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward()

            def do_PUT(self) -> None:
                self._forward()

            def _forward(self) -> None:
                import urllib.error
                import urllib.request

                for suffix, left in proxy.fail_times.items():
                    if self.path.split("?")[0].endswith(suffix) and left != 0:
                        proxy.fail_times[suffix] = left - 1 if left > 0 else -1
                        proxy.failures += 1
                        body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                        self.send_response(503)
                        self.send_header("content-length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length) if length else None
                request = urllib.request.Request(
                    proxy.upstream + self.path,
                    data=data,
                    method=self.command,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, headers, body = response.status, response.headers, response.read()
                except urllib.error.HTTPError as error:
                    status, headers, body = error.code, error.headers, error.read()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def flaky_s3(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[_FlakyS3Proxy]:
    proxy = _FlakyS3Proxy(s3_env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.server.shutdown()


def test_transient_s3_errors_are_retried(flaky_s3: _FlakyS3Proxy, dw: WarehouseSettings) -> None:
    store = open_store(RawStoreSettings.from_env())
    store.put(key_for(NOW, "events-flaky.json"), json.dumps([node_event(NOW)]).encode())
    flaky_s3.fail_times["events-flaky.json"] = 2
    summary = load(store, dw)
    assert (summary.status, summary.events, summary.failed_objects) == ("succeeded", 1, 0)
    assert flaky_s3.failures == 2


def test_an_object_that_stays_unreadable_is_not_marked_loaded_and_the_next_run_takes_it(
    flaky_s3: _FlakyS3Proxy, dw: WarehouseSettings
) -> None:
    store = open_store(RawStoreSettings.from_env())
    store.put(key_for(NOW, "events-ok.json"), json.dumps([node_event(NOW)]).encode())
    store.put(key_for(NOW, "events-down.json"), json.dumps([node_event(NOW)]).encode())
    flaky_s3.fail_times["events-down.json"] = -1
    partial = load(store, dw)
    assert (partial.status, partial.events, partial.failed_objects) == ("partial", 1, 1)
    assert [k.rsplit("/", 1)[1] for (k,) in query(dw, "select source_key from raw.load_manifest")] == ["events-ok.json"]
    flaky_s3.fail_times.clear()
    healed = load(store, dw)
    assert (healed.status, healed.objects, healed.events) == ("succeeded", 1, 1)


def test_an_unreadable_object_is_retried_after_its_partition_left_the_lookback_window(
    flaky_s3: _FlakyS3Proxy, dw: WarehouseSettings
) -> None:
    store = open_store(RawStoreSettings.from_env())
    store.put(key_for(NOW, "events-ok.json"), json.dumps([node_event(NOW)]).encode())
    store.put(key_for(NOW, "events-down.json"), json.dumps([node_event(NOW)]).encode())
    flaky_s3.fail_times["events-down.json"] = -1
    assert load(store, dw).status == "partial"
    later = NOW + timedelta(days=10)  # the window moves on, far past the failed object's hour
    store.put(key_for(later), json.dumps(node_event(later)).encode())
    assert load(store, dw).status == "partial"
    [(attempts, error)] = query(dw, "select attempts, last_error from raw.load_failures")
    assert attempts == 2 and "events-down.json" in error, "tried again though its hour left the window"
    flaky_s3.fail_times.clear()
    healed = load(store, dw)
    assert (healed.status, healed.objects, healed.events) == ("succeeded", 1, 1)
    assert "1 objects earlier runs could not read" in (healed.discovery or "")
    assert query(dw, "select count(*) from raw.load_failures") == [(0,)]


def test_the_cli_prints_a_one_line_summary_and_json_on_request(home: Path, dw: WarehouseSettings) -> None:
    store = open_store(RawStoreSettings.from_env())
    store.put(key_for(NOW), json.dumps(node_event(NOW)).encode())
    line = subprocess.run(
        [sys.executable, "-m", "clickstream", "load"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert line.returncode == 0, line.stderr
    assert line.stdout.startswith("load succeeded: 1 objects, 1 events, 0 duplicates, 0 rejected in ")
    assert "events/s" in line.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "clickstream", "load", "--json"], capture_output=True, text=True, timeout=120
    )
    summary = json.loads(as_json.stdout)
    assert summary["status"] == "succeeded" and summary["objects"] == 0 and "events_per_second" in summary


def test_an_object_the_warehouse_refuses_is_quarantined_and_the_rest_of_its_batch_loads(
    store: RawStore, dw: WarehouseSettings
) -> None:
    load(store, dw)  # creates schema raw
    with psycopg.connect(**dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(  # a value the warehouse cannot take (SQLSTATE class 22, data exception)
            """
            create function raw.refuse_poison() returns trigger language plpgsql as $$
            begin
                if new.payload ->> 'eventName' = 'poison' then
                    raise exception 'cannot store this value' using errcode = '22023';
                end if;
                return new;
            end $$;
            create trigger refuse_poison before insert on raw.events for each row execute function raw.refuse_poison();
            """
        )
    received = NOW - timedelta(minutes=5)
    poison = node_event(received, eventName="poison")
    store.put(key_for(received, "a-fine.json"), json.dumps([node_event(received)]).encode())
    store.put(key_for(received, "b-refused.json"), json.dumps([poison]).encode())
    store.put(key_for(received, "c-fine.json"), json.dumps([node_event(received)]).encode())
    summary = load(store, dw)
    assert (summary.status, summary.objects, summary.events, summary.rejected) == ("succeeded", 3, 2, 1)
    [(key, reason, raw_text)] = query(dw, "select source_key, reason, raw_text from raw.rejected_events")
    assert key.endswith("b-refused.json") and reason.startswith("the warehouse refused this object")
    assert "cannot store this value" in reason and json.loads(raw_text)["eventId"] == poison["eventId"]
    assert load(store, dw).objects == 0, "the refused object is not retried forever"


def test_an_impossible_date_stamped_by_the_collector_is_checked_again(store: RawStore, dw: WarehouseSettings) -> None:
    received = NOW - timedelta(minutes=5)
    ingest = {**node_event(received)["_ingest"], "contract": CONTRACT_VERSION, "receivedAt": "2026-11-24T11:55:00.000Z"}
    stamped = node_event(received, _ingest={**ingest, "eventAt": "2026-02-30T11:55:00.000Z"})
    store.put(key_for(received, "impossible-date.json"), json.dumps([stamped]).encode())
    assert (load(store, dw).events, query(dw, "select event_at = received_at from raw.events")) == (1, [(True,)])


@pytest.mark.parametrize(
    "instant", ["1999-12-31T23:59:59.999Z", "2000-01-01T00:00:00.000Z", "2024-02-29T23:59:00.001Z", "2026-11-24T11:55:00.120Z"]
)  # fmt: skip
def test_the_instants_columns_hold_the_events_instants_to_the_millisecond(
    store: RawStore, dw: WarehouseSettings, instant: str
) -> None:
    """On the collector's path (its text kept) and the careful one (each event parsed), either side of
    PostgreSQL's epoch (rows go in COPY's binary format)."""
    received, expected = NOW - timedelta(minutes=5), datetime.fromisoformat(instant)
    sent = expected - timedelta(seconds=1, milliseconds=1)
    ingest = {
        **node_event(received)["_ingest"],
        "contract": CONTRACT_VERSION,
        "receivedAt": instant,
        "eventAt": iso_utc(sent),
    }
    event = node_event(received, _ingest=ingest)
    as_collected = {"eventId": event.pop("eventId"), **event}  # as the collector writes it: the id first
    store.put(
        key_for(received, "events-collector.json"),
        encode_object([json.dumps(as_collected, separators=(",", ":")).encode()]),
    )
    node = node_event(received, _ingest={**ingest, "contract": None})
    store.put(key_for(received, "events-node.json"), json.dumps([node]).encode())
    assert load(store, dw).events == 2
    assert query(dw, "select event_id::text, received_at, event_at from raw.events order by source_key") == [
        (as_collected["eventId"], expected, sent),
        (node["eventId"], expected, sent),
    ]


def test_an_old_object_without_ingest_is_timed_by_its_store_and_its_address_anonymised(
    store: RawStore, dw: WarehouseSettings
) -> None:
    """The old ingest's object with no _ingest.receivedAt and no event_timestamp: the time the store wrote it
    (S3's LastModified, the file's mtime), not the start of its key's hour; its full address truncated."""
    received = NOW - timedelta(hours=3)
    old = node_event(received)
    old["_ingest"] = {"sourceIp": "113.161.42.77", "userAgent": old["_ingest"]["userAgent"]}
    before = datetime.now(UTC)
    store.put(key_for(received.replace(minute=0, second=0, microsecond=0), "event-old.json"), json.dumps(old).encode())
    assert load(store, dw).events == 1
    [(received_at, address, source)] = query(
        dw,
        "select received_at, payload -> '_ingest' ->> 'sourceIp', payload -> '_contract' ->> 'receivedAtFrom'"
        " from raw.events",
    )
    assert (address, source) == ("113.161.42.0", "lastModified")
    assert before - timedelta(seconds=2) <= received_at <= datetime.now(UTC) + timedelta(seconds=2)


def test_a_storm_of_new_user_agents_costs_the_parsing_budget_and_a_later_run_parses_them(
    store: RawStore, dw: WarehouseSettings
) -> None:
    """Every event of a bot storm with its own agent: past the budget they load unparsed (nothing waits, nothing
    is lost), are not cached, and a later run with budget left parses those that come again."""
    from loader.config import IngestSettings
    from loader.ingest import Collector, HttpRequest

    collector = Collector(store, IngestSettings(), clock=lambda: NOW - timedelta(minutes=5))
    agents = [f"Mozilla/5.0 (X11; storm {uuid.uuid4()})" for _ in range(120)]

    def send(agent: str) -> None:
        body = json.dumps({**BROWSER_EVENT, "eventId": str(uuid.uuid4())}).encode()
        assert collector.handle(HttpRequest("POST", headers={"user-agent": agent}, body=body)).status == 200

    for agent in agents:
        send(agent)
    spent = LoaderSettings(threads=4, ua_parse_seconds=0, ua_parse_us_per_event=0)
    storm = load(store, dw, spent)
    assert (storm.status, storm.events, storm.agents_parsed, storm.agents_unparsed) == ("succeeded", 120, 0, 120)
    unparsed = "(payload -> '_enriched' -> 'userAgent' ->> 'unparsed')::boolean"
    assert query(dw, f"select count(*) filter (where {unparsed}), count(*) from raw.events") == [(120, 120)]
    assert query(dw, "select count(*) from raw.user_agents where user_agent = any(%s)", agents) == [(0,)]
    for agent in agents[:10]:
        send(agent)
    later = load(store, dw)
    assert (later.events, later.agents_parsed, later.agents_unparsed) == (10, 10, 0)
    assert query(dw, "select count(*) from raw.user_agents where user_agent = any(%s)", agents) == [(10,)]


def test_a_backlog_larger_than_a_runs_time_drains_over_several_runs_exactly_once(
    store: RawStore, dw: WarehouseSettings
) -> None:
    """Each run is given a deadline already passed: it takes one batch (a run always makes progress), commits it,
    and says it is partial; the next continues where it stopped, until the backlog is gone."""
    report = replay(TrafficGenerator(events=600, days=1, seed=9, now=NOW).requests(), store)
    settings = LoaderSettings(threads=4, batch_objects=25)
    runs = []
    while not runs or runs[-1].status != "succeeded":
        runs.append(load(store, dw, settings, deadline=time.monotonic()))
        assert runs[-1].status in ("partial", "succeeded") and len(runs) < 100, runs[-1]
    partial = runs[:-1]
    assert len(partial) >= 3 and all(run.out_of_time and run.objects == 25 for run in partial)
    assert "the next run continues" in str(partial[0].message)
    assert sum(run.objects for run in runs) == report.statuses[200]
    assert sum(run.events + run.duplicates for run in runs) == report.events_accepted
    [(rows, distinct)] = query(dw, "select count(*), count(distinct event_id) from raw.events")
    assert rows == distinct == sum(run.events for run in runs)
