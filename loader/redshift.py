"""The loader's Redshift path, as SQL: the settings, schema ``raw``'s DDL and one batch's statements.

Pure functions, no connection. A batch's statements run as ONE transaction (the Data API's
``batch_execute_statement``, ``loader/redshift_data.py``): lock the raw tables, COPY the batch's staged files
(``loader/redshift_staging.py``) into temp tables, then insert the events not stored yet, the quarantined events
and the manifest rows of the objects not loaded yet. So an object's rows and its manifest entry commit together,
and a retried batch inserts nothing.

Only validated literals reach the SQL text (the manifests' S3 URIs, the COPY role's ARN, the region, integers):
source keys and payloads are data, in the staged files.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

from loader.config import ConfigError

# RAW is a Redshift reserved word: the schema is always written delimited.
SCHEMA = '"raw"'
MAX_VARCHAR_BYTES = 65535  # Redshift's longest varchar
MAX_KEY_BYTES = 1024  # S3's longest key

_WORKGROUP = re.compile(r"[a-z0-9-]{3,63}\Z")
_DATABASE = re.compile(r"[a-z_][a-z0-9_$]{0,63}\Z")
_ROLE_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}\Z")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}\Z")
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
# S3's "safe characters" and '=' (load_id=<N>/): nothing a SQL string literal would need escaped.
_KEY_CHARS = r"[A-Za-z0-9!_.*()=/-]"
_S3_URI = re.compile(rf"s3://({_BUCKET})/({_KEY_CHARS}{{1,{MAX_KEY_BYTES}}})\Z")
_PREFIX = re.compile(rf"(?:{_KEY_CHARS}+/)?\Z")


def check_role_arn(value: str) -> str:
    """An IAM role ARN COPY can assume, or ``default`` (the workgroup's default role); ValueError otherwise."""
    if value != "default" and not _ROLE_ARN.match(value):
        raise ValueError(
            f"COPY role: expected an IAM role ARN such as arn:aws:iam::123456789012:role/redshift-copy, or 'default';"
            f" got {value!r}"
        )
    return value


def check_s3_uri(value: str) -> str:
    """An ``s3://bucket/key`` URI whose key has only S3's safe characters; ValueError otherwise."""
    if not _S3_URI.match(value):
        raise ValueError(
            f"S3 URI: expected s3://<bucket>/<key> with a key of letters, digits and !_.*()=/- only; got {value!r}"
        )
    return value


def _tidy(sql: str) -> str:
    return textwrap.dedent(sql).strip()


def _literal(value: str) -> str:
    """A SQL string literal of an already validated value (a second guard: no quote, backslash or control)."""
    if re.search(r"['\\\x00-\x1f]", value):
        raise ValueError(f"refusing to write {value!r} as a SQL literal")
    return f"'{value}'"


@dataclass(frozen=True)
class RedshiftSettings:
    """Where the Redshift path loads: a Serverless workgroup and database (IAM auth through the Data API, no
    password), the role COPY assumes to read the staged files, and where those files go."""

    workgroup: str
    database: str
    copy_role_arn: str
    staging_bucket: str
    staging_prefix: str  # ends with '/', or is empty
    region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RedshiftSettings:
        def text(name: str) -> str | None:
            return env.get(name, "").strip() or None

        workgroup = text("CLICKSTREAM_REDSHIFT_WORKGROUP")
        if workgroup is None or not _WORKGROUP.match(workgroup):
            raise ConfigError(
                f"CLICKSTREAM_REDSHIFT_WORKGROUP must name the Serverless workgroup (3 to 63 of a-z, 0-9 and -);"
                f" got {workgroup!r}"
            )
        database = text("CLICKSTREAM_REDSHIFT_DATABASE") or "dev"
        if not _DATABASE.match(database):
            raise ConfigError(f"CLICKSTREAM_REDSHIFT_DATABASE must be a lowercase database name; got {database!r}")
        role = text("CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN")
        if role is None:
            raise ConfigError("CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN is required: the IAM role COPY assumes to read S3")
        try:
            check_role_arn(role)
        except ValueError as error:
            raise ConfigError(f"CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN: {error}") from None
        bucket, prefix = _staging_location(text("CLICKSTREAM_REDSHIFT_STAGING_PREFIX"), text("RAW_BUCKET_NAME"))
        region = text("AWS_REGION") or text("AWS_DEFAULT_REGION")
        if region is not None and not _REGION.match(region):
            raise ConfigError(f"AWS_REGION must be a region such as eu-west-1; got {region!r}")
        return cls(workgroup, database, role, bucket, prefix, region)

    def staging_uri(self, key: str) -> str:
        return check_s3_uri(f"s3://{self.staging_bucket}/{key}")


def _staging_location(configured: str | None, raw_bucket: str | None) -> tuple[str, str]:
    """(bucket, prefix) of the staged files: ``s3://bucket/prefix/``, or a prefix in the raw bucket."""
    name = "CLICKSTREAM_REDSHIFT_STAGING_PREFIX"
    value = configured or "redshift-staging/"
    if value.startswith("s3://"):
        bucket, _, prefix = value.removeprefix("s3://").partition("/")
    elif raw_bucket is None:
        raise ConfigError(
            f"{name} {value!r} is a key prefix in RAW_BUCKET_NAME, which is not set: set it, or give"
            " s3://<bucket>/<prefix>/"
        )
    else:
        bucket, prefix = raw_bucket, value
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    if not re.fullmatch(_BUCKET, bucket) or not _PREFIX.match(prefix) or prefix.startswith("/"):
        raise ConfigError(
            f"{name} must be a key prefix (letters, digits and !_.*()=/- only) or s3://<bucket>/<prefix>/;"
            f" got {value!r} in bucket {bucket!r}"
        )
    return bucket, prefix


# -- schema raw -------------------------------------------------------------------------------------------------

# Redshift enforces no primary key: they are declared for the planner, and the loader keeps them true.
DDL: tuple[str, ...] = (
    f"create schema if not exists {SCHEMA}",
    f"""
    create table if not exists {SCHEMA}.load_runs (
        load_id bigint not null,
        started_at timestamptz not null default sysdate,
        finished_at timestamptz,
        status varchar(16) not null default 'running',
        trigger varchar(64) not null default 'cli',
        params super,
        objects integer not null default 0,
        bytes bigint not null default 0,
        events integer not null default 0,
        duplicates integer not null default 0,
        rejected integer not null default 0,
        failed_objects integer not null default 0,
        error varchar(65535),
        primary key (load_id)
    )
    diststyle all
    """,
    # One row per object. Distributed like the batch's staged objects, for the "already loaded?" join; sorted by
    # key, which starts with the object's hour partition (lookups by key and by recent partitions skip blocks).
    f"""
    create table if not exists {SCHEMA}.load_manifest (
        source_key varchar({MAX_KEY_BYTES}) not null,
        size bigint not null,
        etag varchar(256),
        partition_hour timestamptz,
        load_id bigint not null,
        events integer not null,
        duplicates integer not null,
        rejected integer not null,
        loaded_at timestamptz not null default sysdate,
        primary key (source_key)
    )
    diststyle key distkey (source_key)
    compound sortkey (source_key)
    """,
    # DISTKEY event_id: random UUIDs spread rows evenly, and each batch's "not stored yet" join against this table
    # runs slice-local (the staged events are distributed the same way), never moving the big table.
    # SORTKEY received_at: loads append in about received order, so the table stays nearly sorted, and time windows
    # (dbt's incremental look-backs, the dashboards' date ranges) skip blocks by zone maps.
    # loaded_at: sysdate is the transaction's start, one value per batch.
    f"""
    create table if not exists {SCHEMA}.events (
        event_id char(36) not null,
        received_at timestamptz not null,
        event_at timestamptz not null,
        payload super not null,
        source_key varchar({MAX_KEY_BYTES}) not null,
        load_id bigint not null,
        loaded_at timestamptz not null default sysdate,
        primary key (event_id)
    )
    diststyle key distkey (event_id)
    compound sortkey (received_at)
    """,
    f"""
    create table if not exists {SCHEMA}.rejected_events (
        rejected_id bigint identity(1, 1),
        source_key varchar({MAX_KEY_BYTES}) not null,
        position integer,
        reason varchar({MAX_VARCHAR_BYTES}) not null,
        raw_text varchar({MAX_VARCHAR_BYTES}),
        load_id bigint not null,
        rejected_at timestamptz not null default sysdate
    )
    diststyle even
    compound sortkey (rejected_at)
    """,
)


def ddl_statements() -> list[str]:
    """Schema ``raw`` for Redshift, idempotently (every statement is ``if not exists``)."""
    return [_tidy(sql) for sql in DDL]


# -- one batch -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFiles:
    """One batch's staged files, by their COPY manifests (``s3://`` URIs); None: the batch has no such rows."""

    load_id: int
    objects_manifest: str
    events_manifest: str | None
    rejected_manifest: str | None


@dataclass(frozen=True)
class Statement:
    """One statement of a batch's transaction, and what it does (named in errors)."""

    purpose: str
    sql: str


# The batch's staged files, as temp tables (dropped with the session). Objects are few: a copy on every slice, so
# joining them moves nothing; events are distributed like raw.events.
_STAGED_TABLES = {
    "staged_objects": f"""
        create temp table staged_objects (
            source_key varchar({MAX_KEY_BYTES}) not null,
            size bigint not null,
            etag varchar(256),
            partition_hour timestamptz,
            rejected integer not null
        )
        diststyle all
    """,
    "staged_events": f"""
        create temp table staged_events (
            event_id char(36) not null,
            received_at timestamptz not null,
            event_at timestamptz not null,
            payload super not null,
            source_key varchar({MAX_KEY_BYTES}) not null,
            load_id bigint not null
        )
        diststyle key distkey (event_id)
    """,
    "staged_rejects": f"""
        create temp table staged_rejects (
            source_key varchar({MAX_KEY_BYTES}) not null,
            position integer,
            reason varchar({MAX_VARCHAR_BYTES}) not null,
            raw_text varchar({MAX_VARCHAR_BYTES}),
            load_id bigint not null
        )
        diststyle even
    """,
}


def copy_statement(table: str, manifest_uri: str, settings: RedshiftSettings) -> str:
    """COPY a staged table from the gzip NDJSON files its manifest names.

    FORMAT JSON 'auto': each line's keys fill the same-named columns, a nested object (payload) a SUPER column.
    TIMEFORMAT 'auto' reads ISO 8601 (2026-05-04T12:34:56.789Z). MANIFEST: exactly the files listed, each one
    mandatory, never whatever else shares their prefix. COMPUPDATE/STATUPDATE OFF: no compression analysis or
    statistics for a temp table dropped at the end of the session. MAXERROR stays 0: a line COPY cannot read
    fails the batch rather than going missing.
    """
    if table not in _STAGED_TABLES:
        raise ValueError(f"not a staging table: {table!r}")
    role = check_role_arn(settings.copy_role_arn)
    lines = [
        f"copy {table}",
        f"from {_literal(check_s3_uri(manifest_uri))}",
        "iam_role default" if role == "default" else f"iam_role {_literal(role)}",
        "manifest",
        "format as json 'auto'",
        "gzip",
        "timeformat 'auto'",
    ]
    if settings.region:  # where the staged files are, if not in the workgroup's region
        lines.append(f"region {_literal(settings.region)}")
    lines.append("compupdate off statupdate off")
    return "\n".join(lines)


def batch_statements(files: BatchFiles, settings: RedshiftSettings) -> list[Statement]:
    """One batch's transaction, in order: lock, temp tables, COPY, dedup insert, rejected insert, manifest insert,
    and a last select of the batch's counts (objects, bytes, events, duplicates, rejected)."""
    load_id = int(files.load_id)
    statements = [
        # First: the transaction's snapshot is taken once the lock is held, so the "not stored yet" checks below
        # see every batch committed before, and concurrent batches cannot both insert an event.
        Statement(
            "lock the raw tables",
            f"lock {SCHEMA}.load_manifest, {SCHEMA}.events, {SCHEMA}.rejected_events",
        ),
        *(Statement(f"create temp table {name}", _tidy(create)) for name, create in _STAGED_TABLES.items()),
        Statement("copy staged_objects", copy_statement("staged_objects", files.objects_manifest, settings)),
    ]
    if files.events_manifest is not None:
        statements.append(
            Statement("copy staged_events", copy_statement("staged_events", files.events_manifest, settings))
        )
    if files.rejected_manifest is not None:
        statements.append(
            Statement("copy staged_rejects", copy_statement("staged_rejects", files.rejected_manifest, settings))
        )
    statements += [
        Statement("find the objects not loaded yet", _PENDING_OBJECTS),
        Statement("keep one copy of each event not stored yet", _NEW_EVENTS),
        Statement("insert into raw.events", _INSERT_EVENTS),
        Statement("insert into raw.rejected_events", _INSERT_REJECTED),
        Statement("count each object's events and duplicates", _BATCH_COUNTS),
        Statement("update raw.load_manifest for changed objects", _UPDATE_MANIFEST.format(load_id=load_id)),
        Statement("insert into raw.load_manifest", _INSERT_MANIFEST.format(load_id=load_id)),
        Statement("select the batch's counts", _BATCH_TOTALS),
    ]
    return statements


# An object is loaded already if the manifest has its key with the same etag and size: a retried batch then
# inserts nothing. The same key with another etag or size is new content, loaded again (as the PostgreSQL path).
_PENDING_OBJECTS = _tidy(f"""
    create temp table pending_objects diststyle all as
    select
        staged.source_key,
        staged.size,
        staged.etag,
        staged.partition_hour,
        staged.rejected
    from staged_objects as staged
    where not exists (
        select 1
        from {SCHEMA}.load_manifest as manifest
        where manifest.source_key = staged.source_key
            and coalesce(manifest.etag, '') = coalesce(staged.etag, '')
            and manifest.size = staged.size
    )
""")

# Redshift enforces no unique key: one copy per event_id within the batch (the earliest received), and none
# whose event_id raw.events holds already.
_NEW_EVENTS = _tidy(f"""
    create temp table new_events diststyle key distkey (event_id) as
    select
        ranked.event_id,
        ranked.received_at,
        ranked.event_at,
        ranked.payload,
        ranked.source_key,
        ranked.load_id
    from (
        select
            staged.event_id,
            staged.received_at,
            staged.event_at,
            staged.payload,
            staged.source_key,
            staged.load_id,
            row_number() over (
                partition by staged.event_id order by staged.received_at, staged.source_key
            ) as copy_number
        from staged_events as staged
        inner join pending_objects as pending on staged.source_key = pending.source_key
    ) as ranked
    where ranked.copy_number = 1
        and not exists (
            select 1
            from {SCHEMA}.events as stored
            where stored.event_id = ranked.event_id
        )
""")

_INSERT_EVENTS = _tidy(f"""
    insert into {SCHEMA}.events (event_id, received_at, event_at, payload, source_key, load_id)
    select
        new_events.event_id,
        new_events.received_at,
        new_events.event_at,
        new_events.payload,
        new_events.source_key,
        new_events.load_id
    from new_events
""")

_INSERT_REJECTED = _tidy(f"""
    insert into {SCHEMA}.rejected_events (source_key, position, reason, raw_text, load_id)
    select
        rejects.source_key,
        rejects.position,
        rejects.reason,
        rejects.raw_text,
        rejects.load_id
    from staged_rejects as rejects
    inner join pending_objects as pending on rejects.source_key = pending.source_key
""")

# Per object: events it added, and duplicates (its copies that lost within the batch or were stored already).
_BATCH_COUNTS = _tidy("""
    create temp table batch_counts diststyle all as
    select
        pending.source_key,
        pending.size,
        pending.etag,
        pending.partition_hour,
        coalesce(kept.events, 0) as batch_events,
        coalesce(staged.copies, 0) - coalesce(kept.events, 0) as batch_duplicates,
        pending.rejected as batch_rejected
    from pending_objects as pending
    left join (
        select staged_events.source_key, count(*) as copies
        from staged_events
        group by staged_events.source_key
    ) as staged on pending.source_key = staged.source_key
    left join (
        select new_events.source_key, count(*) as events
        from new_events
        group by new_events.source_key
    ) as kept on pending.source_key = kept.source_key
""")

# An object changed since it was loaded (same key, new content): its counts add up.
_UPDATE_MANIFEST = _tidy(f"""
    update {SCHEMA}.load_manifest
    set
        size = counts.size,
        etag = counts.etag,
        load_id = {{load_id}},
        events = events + counts.batch_events,
        duplicates = duplicates + counts.batch_duplicates,
        rejected = rejected + counts.batch_rejected,
        loaded_at = sysdate
    from batch_counts as counts
    where load_manifest.source_key = counts.source_key
""")

_INSERT_MANIFEST = _tidy(f"""
    insert into {SCHEMA}.load_manifest
        (source_key, size, etag, partition_hour, load_id, events, duplicates, rejected)
    select
        counts.source_key,
        counts.size,
        counts.etag,
        counts.partition_hour,
        {{load_id}},
        counts.batch_events,
        counts.batch_duplicates,
        counts.batch_rejected
    from batch_counts as counts
    where not exists (
        select 1
        from {SCHEMA}.load_manifest as manifest
        where manifest.source_key = counts.source_key
    )
""")

# bigint: the Data API returns a bigint as a number (a sum of bigints, numeric, as a string).
_BATCH_TOTALS = _tidy("""
    select
        count(*) as objects,
        coalesce(sum(batch_counts.size), 0)::bigint as bytes,
        coalesce(sum(batch_counts.batch_events), 0)::bigint as events,
        coalesce(sum(batch_counts.batch_duplicates), 0)::bigint as duplicates,
        coalesce(sum(batch_counts.batch_rejected), 0)::bigint as rejected
    from batch_counts
""")
