"""The raw bucket's object notifications: S3 sends an ``s3:ObjectCreated:*`` event for every object the collector
writes to an SQS queue (infra/template.yaml, with a dead-letter queue); a run takes the new keys from there instead
of listing partitions. A late object in an old partition is found as surely as a new one, and discovery costs a
request per ten objects instead of a listing of the whole lookback window on every run.

A message is deleted only once its object is in the manifest (loaded or quarantined): one a run did not get to
(its deadline, an unreadable object) comes back after the queue's visibility timeout. A message that is not an S3
event is left alone: after the queue's maxReceiveCount it moves to the dead-letter queue, where the alarm sees it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from loader import logs
from loader.config import RawStoreSettings
from loader.rawstore import RawObject, StoreError

MAX_OBJECTS_PER_RUN = 20_000  # the rest waits in the queue for the next run (2,000 receive calls at most)


@dataclass
class Notified:
    """What a run took from the queue: the objects to load (latest notification per key), the receipts of their
    messages, and the receipts of messages to delete whatever happens (S3's test event, keys outside the prefix);
    and whether the run's safety-net listing ran, and how many objects it found that no notification announced."""

    objects: dict[str, RawObject] = field(default_factory=dict)
    receipts: dict[str, list[str]] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    safety_net: bool = False
    missed: int = 0


class ObjectQueue:
    """The SQS queue of the raw bucket's object notifications."""

    def __init__(self, queue_url: str, prefix: str, *, endpoint_url: str | None, region: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.queue_url = queue_url
        self.prefix = prefix
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
        self._client: Any = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region, config=config)

    def receive(self, limit: int = MAX_OBJECTS_PER_RUN) -> Notified:
        """Every message waiting (up to ``limit`` objects), without waiting for more."""
        from botocore.exceptions import BotoCoreError, ClientError

        notified = Notified()
        try:
            while len(notified.objects) < limit:
                messages = self._client.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    self._take(message, notified)
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"cannot read the notification queue {self.queue_url}: {error}") from error
        return notified

    def _take(self, message: dict[str, Any], notified: Notified) -> None:
        receipt = message["ReceiptHandle"]
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("Event") == "s3:TestEvent":
            notified.done.append(receipt)  # S3 checking the queue when the notification was configured
            return
        records = body.get("Records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            logs.log("notification queue: a message that is not an S3 event; left for the dead-letter queue",
                     level=logging.WARNING, message_id=message.get("MessageId"))  # fmt: skip
            return
        keys = []
        for record in records:
            s3 = record.get("s3", {}) if isinstance(record, dict) else {}
            item = s3.get("object", {}) if isinstance(s3, dict) else {}
            if not str(record.get("eventName", "")).startswith("ObjectCreated") or "key" not in item:
                continue
            key = unquote_plus(str(item["key"]))  # S3 sends keys URL-encoded, spaces as '+'
            if not key.startswith(self.prefix):
                continue
            keys.append(key)
            notified.objects[key] = RawObject(key=key, size=int(item.get("size", 0)), etag=str(item.get("eTag", "")))
        for key in keys:
            notified.receipts.setdefault(key, []).append(receipt)
        if not keys:
            notified.done.append(receipt)

    def delete(self, receipts: Iterable[str]) -> None:
        """Delete these messages (ten per request); a failure only means they come back and are skipped then."""
        from botocore.exceptions import BotoCoreError, ClientError

        batch = list(dict.fromkeys(receipts))
        for start in range(0, len(batch), 10):
            entries = [{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(batch[start : start + 10])]
            try:
                self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                logs.log("notification queue: messages not deleted; they come back and are skipped",
                         level=logging.WARNING, error=str(error))  # fmt: skip


def open_queue(settings: RawStoreSettings) -> ObjectQueue | None:
    """The notification queue ``RAW_QUEUE_URL`` names, if any."""
    if settings.queue_url is None:
        return None
    return ObjectQueue(settings.queue_url, settings.prefix, endpoint_url=settings.endpoint_url, region=settings.region)
