"""Discovery from the raw bucket's object notifications (S3 → SQS, moto's server): new and late objects load from
their notifications, their messages go once the objects are in the manifest, the safety net's listing loads and
reports what no notification announced, and a run out of time leaves the rest of the queue to the next run."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from loader.config import LoaderSettings, RawStoreSettings, WarehouseSettings
from loader.load import Loader, LoadSummary
from loader.notifications import open_queue
from loader.rawstore import RawStore, open_store, partition_key
from loader.runlock import run_lock
from tests.unit.test_contract import BROWSER_EVENT


@pytest.fixture
def queue(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The bucket's ObjectCreated notifications under events/ to a new queue (RAW_QUEUE_URL)."""
    endpoint = s3_env["AWS_ENDPOINT_URL"]
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"raw-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    configuration = {"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "events/"}]}}}]}  # fmt: skip
    s3.put_bucket_notification_configuration(Bucket=s3_env["RAW_BUCKET_NAME"], NotificationConfiguration=configuration)
    monkeypatch.setenv("RAW_QUEUE_URL", url)
    yield sqs, url, s3, configuration


def waiting(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def put_event(store: RawStore, received: datetime) -> str:
    event = {**BROWSER_EVENT, "eventId": str(uuid.uuid4())}
    event["_ingest"] = {"receivedAt": received.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "userAgent": "Mozilla/5.0"}
    key = partition_key(store.prefix, received, f"event-{uuid.uuid4()}.json")
    store.put(key, json.dumps(event).encode())
    return key


def load(dw: WarehouseSettings, settings: LoaderSettings | None = None, *, notified: bool = True,
         delay: timedelta | None = None, **kwargs: Any) -> LoadSummary:  # fmt: skip
    store_settings = RawStoreSettings.from_env()
    loader = Loader(open_store(store_settings), dw, settings or LoaderSettings(threads=4),
                    queue=open_queue(store_settings) if notified else None)  # fmt: skip
    if delay is not None:
        loader.notification_delay = delay
    with run_lock(dw) as (conn, acquired):
        assert acquired
        return loader.run(conn, **kwargs)


def test_new_and_late_objects_load_from_their_notifications_and_their_messages_go(
    queue: Any, dw: WarehouseSettings
) -> None:
    sqs, url, _, _ = queue
    store = open_store(RawStoreSettings.from_env())
    now = datetime.now(UTC)
    put_event(store, now)
    first = load(dw)
    assert (first.status, first.objects, first.notified, first.missed_by_notifications) == ("succeeded", 1, 1, 0)
    assert waiting(sqs, url) == 0, "the messages of loaded objects are deleted"
    late = put_event(store, now - timedelta(days=10))  # far behind the 72 hours a listing looks back
    listed = load(dw, notified=False)
    assert listed.objects == 0, "a listing behind the newest partition does not reach it"
    notified = load(dw)
    assert (notified.objects, notified.notified) == (1, 1) and "notification queue" in str(notified.discovery)
    assert "safety net" not in str(notified.discovery), "the safety net ran with the first run; not due again"
    assert waiting(sqs, url) == 0
    with run_lock(dw) as (conn, _):
        assert conn.execute("select count(*) from raw.load_manifest where source_key = %s", (late,)).fetchone() == (1,)


def test_the_safety_net_loads_and_reports_the_objects_no_notification_announced(
    queue: Any, dw: WarehouseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    sqs, url, s3, configuration = queue
    store = open_store(RawStoreSettings.from_env())
    bucket = RawStoreSettings.from_env().bucket
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})  # a broken notification
    unannounced = put_event(store, datetime.now(UTC) - timedelta(days=2))
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
    put_event(store, datetime.now(UTC))
    summary = load(dw, LoaderSettings(threads=4, safety_net_every_hours=24), delay=timedelta(0))
    assert (summary.objects, summary.notified, summary.missed_by_notifications) == (2, 1, 1)
    assert "safety net" in str(summary.discovery)
    [warning] = [record for record in caplog.records if "no notification announced" in record.getMessage()]
    assert warning.fields["keys"] == [unannounced]  # type: ignore[attr-defined]
    assert waiting(sqs, url) == 0


def test_a_run_out_of_time_leaves_the_rest_of_the_queue_to_the_next_one(queue: Any, dw: WarehouseSettings) -> None:
    """Messages of objects a run did not take are not deleted: they come back after the visibility timeout."""
    sqs, url, _, _ = queue
    store = open_store(RawStoreSettings.from_env())
    keys = {put_event(store, datetime.now(UTC) - timedelta(minutes=n)) for n in range(30)}
    tight = LoaderSettings(threads=4, batch_objects=10)
    runs = [load(dw, tight, deadline=time.monotonic())]
    assert (runs[0].status, runs[0].objects, runs[0].out_of_time) == ("partial", 10, True)
    assert waiting(sqs, url) == 20
    while runs[-1].status != "succeeded":
        time.sleep(2.2)  # the queue's visibility timeout: the untaken messages come back
        runs.append(load(dw, tight, deadline=time.monotonic()))
        assert len(runs) < 10
    assert sum(run.objects for run in runs) == len(keys) == 30 and waiting(sqs, url) == 0
    with run_lock(dw) as (conn, _):
        assert conn.execute("select count(*), count(distinct event_id) from raw.events").fetchone() == (30, 30)
