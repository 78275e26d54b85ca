"""The raw lake: S3 (boto3) or a local directory, with one key layout.

Keys look like ``<prefix>YYYY/MM/DD/HH/events-<uuid>.json`` (UTC hour of ``receivedAt``).
Listing returns keys in lexicographic (and so chronological) order on both back ends.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from loader.config import RawStoreSettings

_PARTITION = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


class StoreError(RuntimeError):
    """The store could not be reached or refused the operation."""


@dataclass(frozen=True)
class RawObject:
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None  # when the store last wrote it (unknown for a retried failure)


def hour_prefix(prefix: str, moment: datetime) -> str:
    """The prefix of the keys of ``moment``'s UTC hour: ``<prefix>YYYY/MM/DD/HH/``."""
    return f"{prefix}{moment.astimezone(UTC):%Y/%m/%d/%H}/"


def partition_key(prefix: str, moment: datetime, name: str) -> str:
    return hour_prefix(prefix, moment) + name


def partition_hour(key: str) -> datetime | None:
    """The UTC hour a key is partitioned under, or None if it is not in the layout (or not a real hour)."""
    match = _PARTITION.search(key)
    if not match:
        return None
    try:
        year, month, day, hour = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


class RawStore(Protocol):
    prefix: str
    location: str

    def put(self, key: str, body: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[RawObject]: ...


class LocalStore:
    """A directory standing in for the bucket; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path, prefix: str = "events/", *, fsync: bool = True) -> None:
        self.root = root
        self.prefix = prefix
        self.fsync = fsync  # off only for bulk synthetic data, where durability does not matter
        self.location = str(root / prefix)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"invalid object key {key!r}")
        return self.root / key

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(body)
                    if self.fsync:
                        handle.flush()
                        os.fsync(handle.fileno())
                os.replace(tmp, path)
                if self.fsync:  # the rename itself must survive a crash before a 2xx is answered
                    directory = os.open(path.parent, os.O_RDONLY)
                    try:
                        os.fsync(directory)
                    finally:
                        os.close(directory)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise StoreError(f"cannot write {path}: {error}") from error

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as error:
            raise StoreError(f"cannot read {key}: {error}") from error

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[RawObject]:
        directory, _, name_start = prefix.rpartition("/")
        base = self.root / directory if directory else self.root
        yield from self._walk(base, f"{directory}/" if directory else "", name_start, start_after)

    def _walk(self, path: Path, key_prefix: str, name_start: str, start_after: str | None) -> Iterator[RawObject]:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not entry.name.startswith(name_start) or entry.name.startswith(".tmp-"):
                continue
            key = key_prefix + entry.name
            if entry.is_dir():
                sub = key + "/"
                # Skip a subtree whose keys all sort before start_after.
                if start_after and sub < start_after and not start_after.startswith(sub):
                    continue
                yield from self._walk(Path(entry.path), sub, "", start_after)
            elif entry.is_file() and (start_after is None or key > start_after):
                stat = entry.stat()
                yield RawObject(
                    key=key,
                    size=stat.st_size,
                    etag=f"{stat.st_size:x}-{stat.st_mtime_ns:x}",
                    last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                )


class S3Store:
    """The raw bucket through boto3, with standard retries and a pool sized for parallel GETs."""

    def __init__(self, settings: RawStoreSettings, *, max_pool_connections: int = 32) -> None:
        import boto3
        from botocore.config import Config

        assert settings.bucket is not None
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.location = settings.location
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            max_pool_connections=max_pool_connections,
            connect_timeout=5,
            read_timeout=30,
        )
        self._client: Any = boto3.client(
            "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
        )

    def put(self, key: str, body: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"cannot write s3://{self.bucket}/{key}: {error}") from error

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return body
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"cannot read s3://{self.bucket}/{key}: {error}") from error

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[RawObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            params["StartAfter"] = start_after
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(**params):
                for item in page.get("Contents", []):
                    yield RawObject(
                        key=item["Key"],
                        size=int(item["Size"]),
                        etag=item["ETag"].strip('"'),
                        last_modified=item.get("LastModified"),
                    )
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"cannot list s3://{self.bucket}/{prefix}: {error}") from error


def open_store(settings: RawStoreSettings, *, max_pool_connections: int = 32) -> RawStore:
    if settings.bucket:
        return S3Store(settings, max_pool_connections=max_pool_connections)
    return LocalStore(settings.local_root, settings.prefix)
