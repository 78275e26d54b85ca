"""The loader's Redshift path without Redshift: the staged files, the SQL of one batch's transaction (parsed as
Redshift SQL by sqlfluff) and the Data API runner against a real boto3 client whose responses botocore's Stubber
gives (moto 5.2 does not implement ``batch_execute_statement``)."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlfluff
from botocore.stub import ANY, Stubber

from loader import redshift_staging
from loader.collector_format import encode_object
from loader.config import ConfigError
from loader.contract import iso_utc
from loader.parse import ParsedObject, parse_object
from loader.rawstore import RawObject
from loader.redshift import (
    BatchFiles,
    RedshiftSettings,
    Statement,
    batch_statements,
    copy_statement,
    ddl_statements,
)
from loader.redshift_data import RedshiftError, load_batch, run_transaction
from loader.redshift_staging import StagedBatch, stage_batch
from tests.unit.test_parse_object import EVENT_IDS, columns, line, stamped

ROLE = "arn:aws:iam::123456789012:role/clickstream-redshift-copy"
ENV = {
    "CLICKSTREAM_REDSHIFT_WORKGROUP": "clickstream",
    "CLICKSTREAM_REDSHIFT_DATABASE": "analytics",
    "CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN": ROLE,
    "RAW_BUCKET_NAME": "clickstream-raw",
    "AWS_REGION": "eu-west-1",
}
SETTINGS = RedshiftSettings.from_env(ENV)
KEY = "events/2026/11/24/13/events-a.json"
ODD_KEY = 'events/2026/11/24/13/it\'s "odd"; drop table raw.events; -- \\ \u00e9\u0000.json'


def parsed(key: str, body: bytes, etag: str = "etag-1") -> ParsedObject:
    return parse_object(RawObject(key, len(body), etag), body, load_id=7)


def collector_object(*event_ids: str) -> bytes:
    return encode_object([line(stamped(event_id)) for event_id in event_ids])


def gunzip_lines(body: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(body).decode()
    assert text.endswith("\n") and "\n\n" not in text, "one JSON object per line"
    return [json.loads(each) for each in text.splitlines()]


def staged_lines(staged: StagedBatch, kind: str) -> list[dict[str, Any]]:
    return [line for key in sorted(staged.files) if f"/{kind}-" in key for line in gunzip_lines(staged.files[key])]


def manifest_entries(staged: StagedBatch, manifest_uri: str | None) -> list[dict[str, Any]]:
    assert manifest_uri is not None
    key = manifest_uri.removeprefix(f"s3://{SETTINGS.staging_bucket}/")
    entries: list[dict[str, Any]] = json.loads(staged.files[key])["entries"]
    return entries


def a_batch() -> list[ParsedObject]:
    """Two objects sharing an event, and an object with a quarantined line."""
    broken = collector_object(EVENT_IDS[0]).replace(b"[\n", b"[\n{oops},\n", 1)
    return [
        parsed(KEY, collector_object(*EVENT_IDS)),
        parsed(KEY.replace("-a", "-b"), collector_object(EVENT_IDS[1])),
        parsed(KEY.replace("-a", "-c"), broken),
    ]


FILES = BatchFiles(
    load_id=7,
    objects_manifest="s3://clickstream-raw/redshift-staging/load_id=7/batch-00001/objects.manifest",
    events_manifest="s3://clickstream-raw/redshift-staging/load_id=7/batch-00001/events.manifest",
    rejected_manifest="s3://clickstream-raw/redshift-staging/load_id=7/batch-00001/rejected.manifest",
)


# -- settings ----------------------------------------------------------------------------------------------------


def test_settings_come_from_the_clickstream_redshift_variables_with_a_default_staging_prefix() -> None:
    expected = RedshiftSettings(
        workgroup="clickstream",
        database="analytics",
        copy_role_arn=ROLE,
        staging_bucket="clickstream-raw",
        staging_prefix="redshift-staging/",
        region="eu-west-1",
    )
    assert expected == SETTINGS
    elsewhere = RedshiftSettings.from_env(
        {**ENV, "RAW_BUCKET_NAME": "", "CLICKSTREAM_REDSHIFT_STAGING_PREFIX": "s3://staging-bucket/copy"}
    )
    assert (elsewhere.staging_bucket, elsewhere.staging_prefix) == ("staging-bucket", "copy/")
    assert RedshiftSettings.from_env({**ENV, "CLICKSTREAM_REDSHIFT_DATABASE": ""}).database == "dev"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"CLICKSTREAM_REDSHIFT_WORKGROUP": ""}, "CLICKSTREAM_REDSHIFT_WORKGROUP"),
        ({"CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN": ""}, "CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN"),
        ({"CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN": "arn:aws:iam::1234:role/x"}, "arn:aws:iam::1234:role/x"),
        ({"CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN": ROLE + "' --"}, "CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN"),
        ({"CLICKSTREAM_REDSHIFT_STAGING_PREFIX": "it's/"}, "CLICKSTREAM_REDSHIFT_STAGING_PREFIX"),
        ({"CLICKSTREAM_REDSHIFT_STAGING_PREFIX": "s3://Bad_Bucket/x/"}, "Bad_Bucket"),
        ({"RAW_BUCKET_NAME": ""}, "RAW_BUCKET_NAME"),
        ({"CLICKSTREAM_REDSHIFT_DATABASE": "dev; drop"}, "CLICKSTREAM_REDSHIFT_DATABASE"),
        ({"AWS_REGION": "eu-west-1' x"}, "AWS_REGION"),
    ],
)
def test_a_missing_or_invalid_variable_is_a_config_error_naming_it(changes: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        RedshiftSettings.from_env({**ENV, **changes})


@pytest.mark.parametrize(
    "uri",
    [
        "s3://clickstream-raw/x/it's.manifest",
        "https://clickstream-raw/x.manifest",
        "s3://clickstream-raw/x.manifest' iam_role 'arn:aws:iam::999999999999:role/other",
        "s3://clickstream-raw/a\\b",
    ],
)
def test_a_bad_s3_uri_is_a_value_error_naming_it(uri: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(uri))):
        copy_statement("staged_events", uri, SETTINGS)
    with pytest.raises(ValueError, match=re.escape(repr(uri))):
        batch_statements(BatchFiles(7, uri, None, None), SETTINGS)


def test_a_bad_role_arn_is_a_value_error_naming_it() -> None:
    bad = "arn:aws:iam::123456789012:user/someone"
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        batch_statements(FILES, RedshiftSettings(**{**SETTINGS.__dict__, "copy_role_arn": bad}))


# -- one batch's statements ----------------------------------------------------------------------------------


def purposes(statements: list[Statement]) -> list[str]:
    return [statement.purpose for statement in statements]


def test_a_batch_is_one_transaction_lock_then_temp_tables_copy_dedup_rejected_and_manifest() -> None:
    assert purposes(batch_statements(FILES, SETTINGS)) == [
        "lock the raw tables",
        "create temp table staged_objects",
        "create temp table staged_events",
        "create temp table staged_rejects",
        "copy staged_objects",
        "copy staged_events",
        "copy staged_rejects",
        "find the objects not loaded yet",
        "keep one copy of each event not stored yet",
        "insert into raw.events",
        "insert into raw.rejected_events",
        "count each object's events and duplicates",
        "update raw.load_manifest for changed objects",
        "insert into raw.load_manifest",
        "select the batch's counts",
    ]
    statements = batch_statements(FILES, SETTINGS)
    assert not any(re.search(r"\b(begin|commit|rollback)\b", s.sql) for s in statements), "the Data API's transaction"
    assert statements[0].sql == 'lock "raw".load_manifest, "raw".events, "raw".rejected_events'


def test_a_batch_without_events_or_rejects_copies_only_what_it_has() -> None:
    only_objects = BatchFiles(7, FILES.objects_manifest, None, None)
    names = purposes(batch_statements(only_objects, SETTINGS))
    assert [name for name in names if name.startswith("copy")] == ["copy staged_objects"]
    assert "insert into raw.load_manifest" in names, "a wholly quarantined object still enters the manifest"


def test_copy_names_the_manifest_the_role_json_auto_gzip_and_the_region() -> None:
    sql = copy_statement("staged_events", FILES.events_manifest or "", SETTINGS)
    assert sql.splitlines() == [
        "copy staged_events",
        f"from '{FILES.events_manifest}'",
        f"iam_role '{ROLE}'",
        "manifest",
        "format as json 'auto'",
        "gzip",
        "timeformat 'auto'",
        "region 'eu-west-1'",
        "compupdate off statupdate off",
    ]
    default_role = RedshiftSettings(**{**SETTINGS.__dict__, "copy_role_arn": "default", "region": None})
    sql = copy_statement("staged_events", FILES.events_manifest or "", default_role)
    assert "iam_role default" in sql.splitlines() and "region" not in sql


def test_events_are_deduplicated_by_event_id_within_the_batch_and_against_raw_events() -> None:
    statements = {s.purpose: s.sql for s in batch_statements(FILES, SETTINGS)}
    dedup = " ".join(statements["keep one copy of each event not stored yet"].split())
    assert "row_number() over ( partition by staged.event_id order by staged.received_at" in dedup
    assert "where ranked.copy_number = 1" in dedup
    assert 'not exists ( select 1 from "raw".events as stored where stored.event_id = ranked.event_id )' in dedup
    assert "inner join pending_objects" in dedup, "only objects not loaded yet"
    assert statements["insert into raw.events"].endswith("from new_events")
    counts = " ".join(statements["count each object's events and duplicates"].split())
    assert "coalesce(staged.copies, 0) - coalesce(kept.events, 0) as batch_duplicates" in counts


def test_the_manifest_insert_skips_objects_already_loaded_so_a_retried_batch_adds_nothing() -> None:
    statements = {s.purpose: " ".join(s.sql.split()) for s in batch_statements(FILES, SETTINGS)}
    pending = statements["find the objects not loaded yet"]
    assert 'not exists ( select 1 from "raw".load_manifest as manifest' in pending
    assert "manifest.source_key = staged.source_key" in pending and "manifest.size = staged.size" in pending
    insert = statements["insert into raw.load_manifest"]
    assert insert.startswith('insert into "raw".load_manifest')
    assert 'where not exists ( select 1 from "raw".load_manifest as manifest' in insert
    assert "inner join pending_objects" in statements["insert into raw.rejected_events"]
    assert ", 7, counts.batch_events" in insert, "the run's load_id"


def test_a_source_key_with_quotes_or_odd_characters_never_reaches_the_sql_text() -> None:
    staged = stage_batch([parsed(ODD_KEY, collector_object(EVENT_IDS[0]))], 7, 1, SETTINGS)
    text = "\n".join(s.sql for s in batch_statements(staged.copy, SETTINGS))
    for piece in ("it's", "odd", "drop table", "\u00e9", "\\"):
        assert piece not in text
    assert [line["source_key"] for line in staged_lines(staged, "objects")] == [ODD_KEY], "a key is data in a file"
    assert {line["source_key"] for line in staged_lines(staged, "events")} == {ODD_KEY}


def test_a_literal_with_a_quote_is_refused_even_past_validation() -> None:
    settings = RedshiftSettings(**{**SETTINGS.__dict__, "region": "eu-west-1' x"})
    with pytest.raises(ValueError, match="SQL literal"):
        copy_statement("staged_events", FILES.events_manifest or "", settings)


STATEMENT_SETS = {
    "batch": [s.sql for s in batch_statements(FILES, SETTINGS)],
    "batch-default-role-only-objects": [
        s.sql
        for s in batch_statements(
            BatchFiles(7, FILES.objects_manifest, None, None),
            RedshiftSettings(**{**SETTINGS.__dict__, "copy_role_arn": "default", "region": None}),
        )
    ],
    "ddl": ddl_statements(),
}


@pytest.mark.parametrize("name", STATEMENT_SETS)
def test_every_generated_statement_parses_as_redshift_sql(name: str) -> None:
    for sql in STATEMENT_SETS[name]:
        sqlfluff.parse(sql, dialect="redshift")  # raises APIParsingError on anything it cannot parse


def test_the_raw_schema_is_delimited_because_raw_is_a_redshift_reserved_word() -> None:
    with pytest.raises(sqlfluff.api.APIParsingError):
        sqlfluff.parse("select event_id from raw.events", dialect="redshift")
    everything = "\n".join([*STATEMENT_SETS["batch"], *STATEMENT_SETS["ddl"]])
    assert re.search(r"(?<![\"\w])raw\.", everything) is None


def test_the_ddl_is_idempotent_and_holds_the_columns_of_the_postgresql_tables() -> None:
    ddl = ddl_statements()
    assert ddl[0] == 'create schema if not exists "raw"'
    assert all(sql.startswith("create table if not exists") for sql in ddl[1:])
    events = next(sql for sql in ddl if '"raw".events' in sql)
    for column in (
        "event_id char(36) not null",
        "payload super not null",
        "received_at timestamptz not null",
        "event_at timestamptz not null",
        "load_id bigint not null",
        "loaded_at timestamptz",
        "distkey (event_id)",
        "sortkey (received_at)",
    ):
        assert column in events
    tables = {re.search(r'"raw"\.(\w+)', sql).group(1) for sql in ddl[1:]}  # type: ignore[union-attr]
    assert tables == {"load_runs", "load_manifest", "events", "rejected_events"}


# -- the staged files --------------------------------------------------------------------------------------------


def test_event_lines_are_gzip_ndjson_whose_payload_is_the_canonical_event() -> None:
    batch = a_batch()
    staged = stage_batch(batch, 7, 1, SETTINGS)
    events = staged_lines(staged, "events")
    # The PostgreSQL path's rows, as the warehouse reads them (payload as jsonb: the last of repeated keys wins).
    assert events == [
        {
            "event_id": event_id,
            "received_at": iso_utc(received_at),
            "event_at": iso_utc(event_at),
            "payload": payload,
            "source_key": key,
            "load_id": load_id,
        }
        for parsed_object in batch
        for event_id, received_at, event_at, payload, key, load_id in columns(parsed_object)
    ]
    assert [line["event_id"] for line in events] == [*EVENT_IDS, EVENT_IDS[1], EVENT_IDS[0]], "copies: SQL dedups"
    assert events[0]["payload"]["orderRef"] == 12345678901234567890123, "big integers keep their digits"
    assert events[0]["payload"]["_enriched"]["userAgent"]["isBot"] is True
    assert staged.events == 4


def test_each_kind_has_a_copy_manifest_naming_exactly_its_files() -> None:
    staged = stage_batch(a_batch(), 7, 3, SETTINGS)
    folder = "redshift-staging/load_id=7/batch-00003/"
    assert all(key.startswith(folder) for key in staged.files)
    for kind, manifest in (
        ("objects", staged.copy.objects_manifest),
        ("events", staged.copy.events_manifest),
        ("rejected", staged.copy.rejected_manifest),
    ):
        assert manifest == f"s3://clickstream-raw/{folder}{kind}.manifest"
        data_files = sorted(key for key in staged.files if key.startswith(f"{folder}{kind}-"))
        assert data_files and all(key.endswith(".json.gz") for key in data_files)
        assert manifest_entries(staged, manifest) == [
            {"url": f"s3://clickstream-raw/{key}", "mandatory": True} for key in data_files
        ]
    keys = list(staged.files)
    assert all(key.endswith(".json.gz") for key in keys[:-3]) and all(k.endswith(".manifest") for k in keys[-3:])


def test_a_big_batch_is_split_into_several_files_in_one_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redshift_staging, "PART_BYTES", 1)
    staged = stage_batch(a_batch(), 7, 1, SETTINGS)
    assert len(manifest_entries(staged, staged.copy.events_manifest)) == 4, "one line per file at 1 byte a part"
    assert len(staged_lines(staged, "events")) == 4


def test_quarantined_events_and_objects_are_staged_with_their_reasons_and_counts() -> None:
    batch = a_batch()
    staged = stage_batch(batch, 7, 1, SETTINGS)
    rejected = staged_lines(staged, "rejected")
    assert [(line["source_key"], line["position"], line["reason"].split(":")[0]) for line in rejected] == [
        (KEY.replace("-a", "-c"), 0, "line is not valid JSON")
    ]
    assert rejected[0]["raw_text"] == "{oops}," and rejected[0]["load_id"] == 7
    objects = staged_lines(staged, "objects")
    assert [(line["source_key"], line["size"], line["etag"], line["rejected"]) for line in objects] == [
        (p.obj.key, p.obj.size, "etag-1", len(p.rejects)) for p in batch
    ]
    assert [line["rejected"] for line in objects] == [0, 0, 1]
    assert {line["partition_hour"] for line in objects} == {"2026-11-24T13:00:00.000Z"}
    whole = stage_batch([parsed("events/not-partitioned.json", b"not json")], 7, 1, SETTINGS)
    assert whole.copy.events_manifest is None and whole.events == 0
    assert staged_lines(whole, "objects")[0]["partition_hour"] is None


def test_a_rejected_text_is_clipped_to_redshifts_longest_varchar_without_nul() -> None:
    line = json.loads(redshift_staging.reject_line(KEY, None, "why\u0000", "\u00e9" * 40_000, 7))
    assert len(line["raw_text"].encode()) <= 65535 and line["raw_text"] == "\u00e9" * 32_767
    assert line["reason"] == "why\ufffd"


def test_a_collector_line_that_is_not_json_makes_the_object_read_again_carefully() -> None:
    body = encode_object([line(stamped(EVENT_IDS[0])), line(stamped(EVENT_IDS[1])).replace(b'"note":"a', b'"note":a')])
    taken = parsed(KEY, body)
    assert taken.body is body, "taken the fast way: the payloads are parsed at staging"
    lines, rejects = redshift_staging.object_events(taken, 7)
    assert [json.loads(each)["event_id"] for each in lines] == EVENT_IDS[:1]
    assert [(position, reason.split(":")[0]) for position, reason, _ in rejects] == [(1, "line is not valid JSON")]


def test_an_event_longer_than_a_copy_row_is_quarantined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redshift_staging, "MAX_LINE_BYTES", 200)
    lines, rejects = redshift_staging.object_events(parsed(KEY, collector_object(EVENT_IDS[0])), 7)
    assert lines == [] and len(rejects) == 1 and "over Redshift's 4 MB row limit" in rejects[0][1]
    assert json.loads(rejects[0][2])["eventId"] == EVENT_IDS[0]


# -- the statements' logic, on SQLite -------------------------------------------------------------------------
# A stand-in for Redshift (whose syntax sqlfluff checks above): the same statements without the distribution and
# sort clauses, each COPY done by reading the staged files as COPY's JSON 'auto' does (keys fill same-named
# columns). SQLite enforces raw.events' primary key, so a duplicate insert would fail the batch.


def on_sqlite(sql: str) -> str:
    sql = re.sub(r"\s*(diststyle \w+|distkey \(\w+\)|compound sortkey \(\w+\))", "", sql)
    return sql.replace("sysdate", "current_timestamp").replace("::bigint", "")


def copy_on_sqlite(conn: sqlite3.Connection, sql: str, staged: StagedBatch) -> None:
    table, manifest_uri = re.match(r"copy (\w+)\nfrom '([^']+)'", sql).groups()  # type: ignore[union-attr]
    for entry in manifest_entries(staged, manifest_uri):
        key = entry["url"].removeprefix(f"s3://{SETTINGS.staging_bucket}/")
        for row in gunzip_lines(staged.files[key]):
            values = [json.dumps(v) if isinstance(v, dict) else v for v in row.values()]
            conn.execute(f"insert into {table} ({', '.join(row)}) values ({', '.join('?' * len(row))})", values)


def load_on_sqlite(database: Path, staged: StagedBatch) -> tuple[int, ...]:
    """One batch's transaction in its own session (its temp tables gone after it); the batch's counts."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"attach database '{database}' as raw")
    if not conn.execute("select count(*) from raw.sqlite_master").fetchone()[0]:
        for sql in ddl_statements()[1:]:
            conn.execute(on_sqlite(sql))
    for statement in batch_statements(staged.copy, SETTINGS):
        if statement.sql.startswith("copy "):
            copy_on_sqlite(conn, statement.sql, staged)
        elif not statement.sql.startswith("lock "):
            result = conn.execute(on_sqlite(statement.sql)).fetchall()
    conn.commit()
    conn.close()
    return tuple(result[0])


def stored(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


def test_a_batch_stores_each_event_once_and_counts_its_duplicates_and_a_retry_adds_nothing(tmp_path: Path) -> None:
    database, batch = tmp_path / "raw.db", a_batch()
    staged = stage_batch(batch, 7, 1, SETTINGS)
    sizes = sum(p.obj.size for p in batch)
    assert load_on_sqlite(database, staged) == (3, sizes, 2, 2, 1)
    assert stored(database, "select event_id, source_key from events order by event_id") == [
        (EVENT_IDS[0], KEY),
        (EVENT_IDS[1], KEY),  # the earliest received copy; on a tie, the first key
    ]
    manifest = "select source_key, load_id, events, duplicates, rejected from load_manifest order by source_key"
    assert stored(database, manifest) == [
        (KEY, 7, 2, 0, 0),
        (KEY.replace("-a", "-b"), 7, 0, 1, 0),
        (KEY.replace("-a", "-c"), 7, 0, 1, 1),
    ]
    assert load_on_sqlite(database, staged) == (0, 0, 0, 0, 0), "a retried batch adds nothing"
    assert stored(database, "select count(*) from events") == [(2,)]
    assert stored(database, "select count(*) from rejected_events") == [(1,)]
    assert len(stored(database, manifest)) == 3


def test_an_object_changed_since_it_was_loaded_is_loaded_again_and_its_counts_add_up(tmp_path: Path) -> None:
    database = tmp_path / "raw.db"
    load_on_sqlite(database, stage_batch([parsed(KEY, collector_object(EVENT_IDS[0]))], 7, 1, SETTINGS))
    third = "33333333-3333-4333-8333-333333333333"
    changed = parsed(KEY, collector_object(EVENT_IDS[0], third), etag="etag-2")
    assert load_on_sqlite(database, stage_batch([changed], 8, 1, SETTINGS)) == (1, changed.obj.size, 1, 1, 0)
    assert stored(database, "select source_key, etag, load_id, events, duplicates from load_manifest") == [
        (KEY, "etag-2", 8, 2, 1)
    ]
    assert stored(database, "select event_id from events order by event_id") == [(EVENT_IDS[0],), (third,)]


# -- the Data API runner -----------------------------------------------------------------------------------------


def data_api() -> Any:
    return boto3.client("redshift-data", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def submitted(sqls: list[str], name: str) -> dict[str, Any]:
    return {
        "WorkgroupName": "clickstream",
        "Database": "analytics",
        "Sqls": sqls,
        "ExecutionMode": "TRANSACTION",
        "StatementName": name,
    }


STATEMENTS = [Statement("first", "select 1"), Statement("second", "select 2"), Statement("third", "select 3")]


def test_the_runner_submits_one_transaction_and_polls_until_it_finishes() -> None:
    client, batch_id = data_api(), str(uuid.uuid4())
    naps: list[float] = []
    with Stubber(client) as stub:
        stub.add_response(
            "batch_execute_statement", {"Id": batch_id}, submitted(["select 1", "select 2", "select 3"], "t")
        )
        for status in ("SUBMITTED", "STARTED", "FINISHED"):
            stub.add_response("describe_statement", {"Id": batch_id, "Status": status}, {"Id": batch_id})
        assert run_transaction(client, SETTINGS, STATEMENTS, name="t", sleep=naps.append) == batch_id
        stub.assert_no_pending_responses()
    assert naps == [0.25, 0.5]


def test_a_failed_statement_is_reported_by_position_purpose_and_redshift_error() -> None:
    client, batch_id = data_api(), str(uuid.uuid4())
    error = 'ERROR: Load into table "staged_events" failed. Check stl_load_errors'
    described = {
        "Id": batch_id,
        "Status": "FAILED",
        "Error": error,
        "SubStatements": [
            {"Id": f"{batch_id}:1", "Status": "FINISHED"},
            {"Id": f"{batch_id}:2", "Status": "FAILED", "Error": error},
            {"Id": f"{batch_id}:3", "Status": "ABORTED"},
        ],
    }
    with Stubber(client) as stub:
        stub.add_response(
            "batch_execute_statement", {"Id": batch_id}, submitted(["select 1", "select 2", "select 3"], "t")
        )
        stub.add_response("describe_statement", described, {"Id": batch_id})
        with pytest.raises(RedshiftError) as raised:
            run_transaction(client, SETTINGS, STATEMENTS, name="t", sleep=lambda _: None)
    assert str(raised.value) == (
        f"Redshift transaction {batch_id} failed at statement 2 of 3 (second): {error}; nothing was committed"
    )


def test_a_transaction_past_its_deadline_is_cancelled_and_times_out() -> None:
    client, batch_id = data_api(), str(uuid.uuid4())
    ticks = iter([0.0, 5.0, 11.0])
    with Stubber(client) as stub:
        stub.add_response(
            "batch_execute_statement", {"Id": batch_id}, submitted(["select 1", "select 2", "select 3"], "t")
        )
        for _ in range(2):
            stub.add_response("describe_statement", {"Id": batch_id, "Status": "STARTED"}, {"Id": batch_id})
        stub.add_response("cancel_statement", {"Status": True}, {"Id": batch_id})
        with pytest.raises(TimeoutError, match=f"{batch_id}.*STARTED after 10s: cancelled"):
            run_transaction(
                client,
                SETTINGS,
                STATEMENTS,
                name="t",
                timeout_seconds=10,
                sleep=lambda _: None,
                clock=lambda: next(ticks),
            )
        stub.assert_no_pending_responses()


def test_load_batch_puts_the_files_before_their_manifests_then_runs_the_batch_and_returns_its_counts() -> None:
    batch = a_batch()
    staged = stage_batch(batch, 7, 2, SETTINGS)
    statements = batch_statements(staged.copy, SETTINGS)
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    client, batch_id = data_api(), str(uuid.uuid4())
    with Stubber(s3) as s3_stub, Stubber(client) as stub:
        for key in staged.files:  # in order: data files, then manifests
            s3_stub.add_response(
                "put_object", {}, {"Bucket": "clickstream-raw", "Key": key, "Body": ANY, "ContentType": ANY}
            )
        stub.add_response(
            "batch_execute_statement",
            {"Id": batch_id},
            submitted([s.sql for s in statements], "clickstream load 7 batch 2"),
        )
        stub.add_response("describe_statement", {"Id": batch_id, "Status": "FINISHED"}, {"Id": batch_id})
        counts = [{"longValue": 3}, {"longValue": 900}, {"longValue": 2}, {"longValue": 2}, {"stringValue": "1"}]
        stub.add_response("get_statement_result", {"Records": [counts]}, {"Id": f"{batch_id}:{len(statements)}"})
        totals = load_batch(batch, 7, 2, SETTINGS, s3=s3, redshift=client)
        s3_stub.assert_no_pending_responses()
        stub.assert_no_pending_responses()
    assert totals == {"objects": 3, "bytes": 900, "events": 2, "duplicates": 2, "rejected": 1}
