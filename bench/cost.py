"""Bench section ``cost``: what collection and loading cost per million events, the storefront's one event per
request beside tracker/'s batches, and the ETL's time per run at 1M, 10M and 100M events a day.

Measured: generated traffic (its events and their device times) is sent as requests the way each tracker would —
one per event, or tracker/'s batches (a tab's events within ``flushIntervalMs`` of the first, at most 20) —
through the real collector into S3 (moto's server), then loaded by the real loader from the bucket's notification
queue (SQS, moto). Every AWS API call the code makes is counted (botocore's before-call event), and so are the
collector's and the loader's own seconds (local lake, no network) per request, object and event.

Modelled from those counts: requests and dollars a month at 1M, 10M and 100M events a day, with the list prices
below (us-east-1, x86, no free tier; edit for your region), the ingest Lambda's duration as the collector's
measured time plus S3_PUT_SECONDS; the ETL's load time per run (every 30 minutes) as the loader's measured time plus
its GETs at S3_GET_SECONDS each, LOAD_THREADS at a time. The dbt build after the load is not in these figures
(`make bench`'s dbt section measures it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.sections import Row, _fresh

EVENTS = 3_000
RUN_REQUESTS = 50
RUNS_PER_DAY = 48  # the template's EtlSchedule: every 30 minutes
RATES = (1_000_000, 10_000_000, 100_000_000)  # events a day
PRICES = {  # USD, us-east-1 list prices
    "api_request": 1.00 / 1e6,  # API Gateway HTTP API, first 300M a month
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    "s3_put_list": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "sqs_request": 0.40 / 1e6,  # standard queue; S3's notifications are billed to the queue as requests
}
INGEST_MEMORY_GB = 512 / 1024  # the template's IngestFunction
ETL_MEMORY_GB = 2048 / 1024  # EtlMemorySize's default
S3_PUT_SECONDS = 0.030  # a PUT from Lambda to S3 in the region, typical
S3_GET_SECONDS = 0.015
LOAD_THREADS = 16  # CLICKSTREAM_LOAD_THREADS
LOAD_BUDGET_SECONDS = 900 - 300  # the ETL's timeout minus CLICKSTREAM_ETL_RESERVE_SECONDS
SAFETY_NET_DAYS = 7  # CLICKSTREAM_SAFETY_NET_DAYS, listed once a day
LOOKBACK_HOURS = 72  # discovery by listing (no queue): every run lists this much


def _events() -> list[tuple[datetime, dict[str, Any]]]:
    """Generated traffic's events with their device times, in time order."""
    import gzip

    from loader.generate import TrafficGenerator

    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    events = []
    for request in TrafficGenerator(events=EVENTS, days=1, seed=29, now=now).requests():
        data = gzip.decompress(request.body) if request.headers.get("content-encoding") == "gzip" else request.body
        body = json.loads(data)
        for event in body["events"] if isinstance(body, dict) and "events" in body else [body]:
            if isinstance(event, dict) and event.get("clientId"):
                at = (
                    datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
                    if "timestamp" in event
                    else request.received_at
                )
                stamp = int(at.timestamp() * 1000)  # the device time tracker/ sends with each event
                events.append((at, {**event, "eventId": event.get("eventId") or str(uuid.uuid4()), "timestamp": stamp}))
    return sorted(events, key=lambda item: item[0])


def _batches(events: list[tuple[datetime, dict[str, Any]]], interval: float | None) -> list[list[dict[str, Any]]]:
    """Requests as a tracker sends them: one per event (``interval`` None), or tracker/'s batches: a tab's events
    from the first waiting one until ``interval`` seconds later, at most 20."""
    if interval is None:
        return [[event] for _, event in events]
    open_batches: dict[str, tuple[datetime, list[dict[str, Any]]]] = {}
    batches = []
    for at, event in events:
        tab = f"{event['clientId']}/{event.get('sessionId')}"
        if tab in open_batches:
            started, batch = open_batches[tab]
            if (at - started).total_seconds() <= interval and len(batch) < 20:
                batch.append(event)
                continue
            batches.append(batch)
        open_batches[tab] = (at, [event])
    return batches + [batch for _, batch in open_batches.values()]


@contextlib.contextmanager
def _counted_calls() -> Iterator[Counter[str]]:
    """Every AWS API call made through boto3's default session inside the block, by service and operation."""
    import boto3

    calls: Counter[str] = Counter()
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.removeprefix("before-call.")] += 1

    boto3.DEFAULT_SESSION.events.register("before-call", count)
    try:
        yield calls
    finally:
        boto3.DEFAULT_SESSION.events.unregister("before-call", count)


def _measure(work: Path, batches: list[list[dict[str, Any]]], endpoint: str, server: Any) -> dict[str, float]:
    """One layout through the collector (S3) and the loader (the notification queue): API calls, and the
    collector's and loader's own seconds on a local lake."""
    import boto3
    import psycopg

    from loader.config import IngestSettings, LoaderSettings, RawStoreSettings
    from loader.ingest import Collector, HttpRequest
    from loader.load import Loader
    from loader.notifications import open_queue
    from loader.rawstore import LocalStore, open_store
    from loader.runlock import run_lock

    name = f"cost-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    settings = RawStoreSettings(name, "events/", endpoint, "us-east-1", work / "unused", queue_url)
    bodies = [json.dumps({"events": batch, "sentAt": batch[-1]["timestamp"]}).encode() for batch in batches]
    dw = dataclasses.replace(server, database="bench_cost")
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute("drop database if exists bench_cost with (force)")
        conn.execute("create database bench_cost")
    with _counted_calls() as calls:
        collector = Collector(open_store(settings), IngestSettings())
        loader = Loader(open_store(settings), dw, LoaderSettings(threads=8, safety_net_every_hours=24),
                        queue=open_queue(settings))  # fmt: skip
        loaded = 0
        # A run per RUN_REQUESTS requests, as scheduled runs take what arrived since the last (moto's queue also slows
        # down past a few hundred messages waiting)
        for start in range(0, len(bodies), RUN_REQUESTS):
            for body in bodies[start : start + RUN_REQUESTS]:
                response = collector.handle(HttpRequest("POST", headers={"user-agent": "Mozilla/5.0"}, body=body))
                assert response.status == 200, (response.status, response.body, body[:300])
            with run_lock(dw) as (conn, _):
                summary = loader.run(conn)
            loaded += summary.events + summary.duplicates
        assert loaded == sum(len(batch) for batch in batches), loaded
    counted = dict(calls)
    # the collector's and the loader's own time, without moto's: the same requests into a local lake
    lake = LocalStore(_fresh(work / "lake"), fsync=False)
    local = Collector(lake, IngestSettings())
    started = time.perf_counter()
    for body in bodies:
        local.handle(HttpRequest("POST", headers={"user-agent": "Mozilla/5.0"}, body=body))
    collect_seconds = time.perf_counter() - started
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute("drop database if exists bench_cost with (force)")
        conn.execute("create database bench_cost")
    with run_lock(dw) as (conn, _):
        local_load = Loader(lake, dw, LoaderSettings(threads=8)).run(conn)
    events = sum(len(batch) for batch in batches)
    return {
        "events": events,
        "requests": len(bodies),
        "s3_put": counted.get("s3.PutObject", 0),
        "s3_get": counted.get("s3.GetObject", 0),
        "s3_list": counted.get("s3.ListObjectsV2", 0),
        "sqs": counted.get("sqs.ReceiveMessage", 0) + counted.get("sqs.DeleteMessageBatch", 0),
        "notifications": counted.get("s3.PutObject", 0),  # one message per object, sent by S3 to the queue
        "collect_seconds_per_request": collect_seconds / len(bodies),
        "load_seconds": local_load.seconds,
    }


def _monthly(measured: dict[str, float], per_day: int) -> tuple[float, dict[str, float]]:
    """Dollars a month at ``per_day`` events a day, and the requests a day by kind."""
    scale = per_day / measured["events"]
    requests = {kind: measured[kind] * scale for kind in ("requests", "s3_put", "s3_get", "sqs", "notifications")}
    requests["s3_list"] = requests["s3_put"] * SAFETY_NET_DAYS / 1000  # the daily safety net: 1,000 keys a page
    ingest_gb_seconds = (
        requests["requests"] * (measured["collect_seconds_per_request"] + S3_PUT_SECONDS) * INGEST_MEMORY_GB
    )
    runs = _load_seconds(measured, per_day)
    etl_gb_seconds = RUNS_PER_DAY * runs * ETL_MEMORY_GB
    daily = (
        requests["requests"] * (PRICES["api_request"] + PRICES["lambda_request"])
        + ingest_gb_seconds * PRICES["lambda_gb_second"]
        + (requests["s3_put"] + requests["s3_list"]) * PRICES["s3_put_list"]
        + requests["s3_get"] * PRICES["s3_get"]
        + (requests["sqs"] + requests["notifications"]) * PRICES["sqs_request"]
        + (etl_gb_seconds * PRICES["lambda_gb_second"] + RUNS_PER_DAY * PRICES["lambda_request"])
    )
    return daily * 30, requests


def _load_seconds(measured: dict[str, float], per_day: int) -> float:
    """The load's seconds in one run: the loader's own time per event, and its GETs, LOAD_THREADS at a time."""
    events = per_day / RUNS_PER_DAY
    objects = measured["s3_get"] / measured["events"] * events
    return measured["load_seconds"] / measured["events"] * events + objects * S3_GET_SECONDS / LOAD_THREADS


def cost(work: Path) -> list[Row]:
    import logging

    from moto.server import ThreadedMotoServer

    from loader.warehouse import EmbeddedWarehouse
    from tests.conftest import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    work.mkdir(parents=True, exist_ok=True)
    events = _events()
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    server = EmbeddedWarehouse(work.parent / "home").start()
    layouts = {"one event per request (the storefront's tracker)": None, "tracker/ batches, 3 s": 3.0,
               "tracker/ batches, 10 s": 10.0}  # fmt: skip
    try:
        measured = {name: _measure(work, _batches(events, interval), f"http://127.0.0.1:{port}", server)
                    for name, interval in layouts.items()}  # fmt: skip
    finally:
        moto.stop()
    old = measured["one event per request (the storefront's tracker)"]
    rows: list[Row] = []
    kinds = {"requests": "API Gateway requests and ingest Lambda invocations", "s3_put": "S3 PUTs",
             "notifications": "S3 notifications (SQS messages)", "sqs": "SQS receive and delete calls",
             "s3_get": "S3 GETs"}  # fmt: skip
    for name, counts in measured.items():
        per_million = 1e6 / counts["events"]
        print(f"   {name}: {counts['events'] / counts['requests']:.2f} events a request, {counts}", flush=True)
        for kind, label in kinds.items():
            value = round(counts[kind] * per_million)
            row: Row = {"name": f"{label} per 1M events, {name}", "value": value, "unit": ""}
            if counts is not old:
                reference = round(old[kind] * 1e6 / old["events"])
                row |= {"reference": reference, "reference_name": "one event per request",
                        "ratio": round(value / reference, 3) if reference else None}  # fmt: skip
            rows.append(row)
    for per_day in RATES:
        old_cost, _ = _monthly(old, per_day)
        for name, counts in measured.items():
            if counts is old:
                continue
            monthly, _ = _monthly(counts, per_day)
            rows.append({"name": f"collection + loading a month at {per_day / 1e6:,.0f}M events/day, {name}",
                         "value": round(monthly, 2), "unit": "USD", "reference": round(old_cost, 2),
                         "reference_name": "one event per request", "ratio": round(monthly / old_cost, 3)})  # fmt: skip
    for per_day in RATES:  # what notifications save: every run listing the lookback's objects, 1,000 a page
        for name, counts in measured.items():
            objects = counts["s3_put"] / counts["events"] * per_day
            listing = RUNS_PER_DAY * objects * LOOKBACK_HOURS / 24 / 1000 * PRICES["s3_put_list"] * 30
            notified = (objects + objects / 10 * 2) * PRICES["sqs_request"] * 30  # messages, receives, deletes
            rows.append({"name": f"discovery a month at {per_day / 1e6:,.0f}M events/day, {name}: notifications"
                                 " (messages, receives, deletes) and the daily safety net",
                         "value": round(notified + objects * SAFETY_NET_DAYS / 1000 * PRICES["s3_put_list"] * 30, 2),
                         "unit": "USD", "reference": round(listing, 2),
                         "reference_name": f"listing the {LOOKBACK_HOURS} h lookback every run",
                         "ratio": round((notified + objects * SAFETY_NET_DAYS / 1000 * PRICES["s3_put_list"] * 30)
                                        / listing, 3)})  # fmt: skip
    for per_day in RATES:
        for name, counts in measured.items():
            seconds = _load_seconds(counts, per_day)
            keeps_up = "keeps up" if seconds <= LOAD_BUDGET_SECONDS else "falls behind: the backlog grows"
            rows.append({"name": f"ETL load time per 30-minute run at {per_day / 1e6:,.0f}M events/day, {name}"
                                 f" ({per_day / RUNS_PER_DAY:,.0f} events; {keeps_up})",
                         "value": round(seconds, 1), "unit": "s", "reference": LOAD_BUDGET_SECONDS,
                         "reference_name": "a run's load budget", "ratio": round(seconds / LOAD_BUDGET_SECONDS, 3)})  # fmt: skip
    return rows
