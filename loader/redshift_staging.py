"""One batch's files for Redshift's COPY (``loader/redshift.py``): the accepted events, the quarantined events and
the batch's objects as gzip NDJSON under ``<staging prefix>load_id=<N>/batch-<k>/``, each kind with a COPY manifest
naming exactly its files. Source keys and payloads travel here, as data, never in SQL text."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from loader.config import IngestSettings
from loader.contract import encode_event, iso_utc, loads
from loader.copyrows import row_instants, row_payload
from loader.parse import DEFAULT_PRIVACY, ParsedObject, parse_object
from loader.rawstore import partition_hour
from loader.redshift import MAX_KEY_BYTES, MAX_VARCHAR_BYTES, BatchFiles, RedshiftSettings

MAX_LINE_BYTES = 4 * 1024 * 1024  # COPY's longest row; a longer event is quarantined
PART_BYTES = 64 * 1024 * 1024  # events per file before gzip: a big batch is several files, COPYed in parallel
Reject = tuple[int | None, str, str]  # position, reason, raw text (as ParsedObject.rejects)


@dataclass(frozen=True)
class StagedBatch:
    """A batch's files (key → body: data files first, then the manifests), and where COPY finds them."""

    files: dict[str, bytes]
    copy: BatchFiles
    events: int  # event lines staged (copies included: the warehouse de-duplicates)
    rejected: int


def stage_batch(
    batch: list[ParsedObject],
    load_id: int,
    batch_number: int,
    settings: RedshiftSettings,
    privacy: IngestSettings = DEFAULT_PRIVACY,
) -> StagedBatch:
    """The files of one batch. ``privacy``: as ``parse_object``'s, for an object read again the careful way."""
    if not batch:
        raise ValueError("a batch needs at least one object")
    folder = f"{settings.staging_prefix}load_id={int(load_id)}/batch-{int(batch_number):05d}/"
    event_lines: list[bytes] = []
    reject_lines: list[bytes] = []
    object_lines: list[bytes] = []
    for parsed in batch:
        if len(parsed.obj.key.encode()) > MAX_KEY_BYTES:
            raise ValueError(f"object key longer than {MAX_KEY_BYTES} bytes (not an S3 key): {parsed.obj.key[:80]!r}…")
        lines, rejects = object_events(parsed, load_id, privacy)
        event_lines += lines
        reject_lines += (reject_line(parsed.obj.key, *reject, load_id) for reject in rejects)
        object_lines.append(object_line(parsed, len(rejects)))

    files: dict[str, bytes] = {}
    manifests: dict[str, bytes] = {}

    def stage(kind: str, parts: list[list[bytes]]) -> str | None:
        if not parts:
            return None
        uris = []
        for number, part in enumerate(parts):
            key = f"{folder}{kind}-{number:03d}.json.gz"
            files[key] = gzip.compress(b"".join(line + b"\n" for line in part), compresslevel=6)
            uris.append(settings.staging_uri(key))
        manifests[f"{folder}{kind}.manifest"] = copy_manifest(uris)
        return settings.staging_uri(f"{folder}{kind}.manifest")

    objects_manifest = stage("objects", [object_lines])
    assert objects_manifest is not None  # a batch has objects
    copy = BatchFiles(
        load_id=load_id,
        objects_manifest=objects_manifest,
        events_manifest=stage("events", list(_parts(event_lines, PART_BYTES))),
        rejected_manifest=stage("rejected", list(_parts(reject_lines, PART_BYTES))),
    )
    return StagedBatch({**files, **manifests}, copy, len(event_lines), len(reject_lines))


def object_events(
    parsed: ParsedObject, load_id: int, privacy: IngestSettings = DEFAULT_PRIVACY
) -> tuple[list[bytes], list[Reject]]:
    """An object's event lines and its quarantined pieces.

    Rows taken the fast way (``collector_rows``: ``parsed.body`` is kept) were not parsed whole: each payload is
    parsed and encoded again here, and if one is not valid JSON the object is read again the careful way (as the
    PostgreSQL path does when the warehouse refuses it). An event longer than COPY takes is quarantined.
    """
    lines: list[bytes] = []
    rejects: list[Reject] = list(parsed.rejects)
    key = parsed.obj.key
    for event_id, _, row in parsed.rows:
        payload = row_payload(row)
        if parsed.body is not None:
            try:
                payload = encode_event(loads(payload))  # also drops repeated keys: the last one wins, as in jsonb
            except (ValueError, RecursionError):
                careful = parse_object(parsed.obj, parsed.body, load_id, careful=True, privacy=privacy)
                return object_events(careful, load_id, privacy)
        received_at, event_at = row_instants(row)
        line = orjson.dumps(
            {
                "event_id": event_id,
                "received_at": iso_utc(received_at),
                "event_at": iso_utc(event_at),
                "payload": orjson.Fragment(payload),
                "source_key": key,
                "load_id": load_id,
            }
        )
        if len(line) > MAX_LINE_BYTES:
            reason = f"event {event_id} is {len(line):,} bytes as a COPY line, over Redshift's 4 MB row limit"
            rejects.append((None, reason, payload.decode("utf-8", "replace")))
            continue
        lines.append(line)
    return lines, rejects


def reject_line(key: str, position: int | None, reason: str, raw_text: str, load_id: int) -> bytes:
    """A raw.rejected_events row; texts cut to Redshift's longest varchar (the object stays in the lake whole)."""
    return orjson.dumps(
        {
            "source_key": key,
            "position": position,
            "reason": _clip(reason),
            "raw_text": _clip(raw_text),
            "load_id": load_id,
        }
    )


def object_line(parsed: ParsedObject, rejected: int) -> bytes:
    hour = partition_hour(parsed.obj.key)
    return orjson.dumps(
        {
            "source_key": parsed.obj.key,
            "size": parsed.obj.size,
            "etag": parsed.obj.etag,
            "partition_hour": iso_utc(hour) if hour else None,
            "rejected": rejected,
        }
    )


def copy_manifest(uris: list[str]) -> bytes:
    """Redshift's COPY manifest: exactly these files, each one mandatory (a missing one fails the COPY)."""
    return orjson.dumps({"entries": [{"url": uri, "mandatory": True} for uri in uris]})


def put_staged(s3: Any, settings: RedshiftSettings, staged: StagedBatch) -> None:
    """Upload a batch's files with a boto3 S3 client: the data files before the manifests that name them."""
    for key, body in staged.files.items():
        content_type = "application/json" if key.endswith(".manifest") else "application/x-ndjson"
        s3.put_object(Bucket=settings.staging_bucket, Key=key, Body=body, ContentType=content_type)


def _parts(lines: list[bytes], part_bytes: int) -> Iterator[list[bytes]]:
    part: list[bytes] = []
    size = 0
    for line in lines:
        if part and size + len(line) > part_bytes:
            yield part
            part, size = [], 0
        part.append(line)
        size += len(line) + 1
    if part:
        yield part


def _clip(text: str) -> str:
    """At most Redshift's longest varchar, in UTF-8 bytes; no NUL (varchar cannot hold one), no lone surrogate."""
    data = text.replace("\x00", "\ufffd").encode("utf-8", "replace")
    return data[:MAX_VARCHAR_BYTES].decode("utf-8", "ignore")
