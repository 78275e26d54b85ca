"""Running the Redshift path's statements (``loader/redshift.py``) through the Redshift Data API: Serverless
workgroup and database, IAM auth (no password), one ``batch_execute_statement`` per transaction, polled with
``describe_statement`` until it ends or its deadline passes."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from loader.config import IngestSettings
from loader.parse import DEFAULT_PRIVACY, ParsedObject
from loader.redshift import RedshiftSettings, Statement, batch_statements, ddl_statements
from loader.redshift_staging import put_staged, stage_batch

TOTALS = ("objects", "bytes", "events", "duplicates", "rejected")  # the batch's last statement selects them


class RedshiftError(RuntimeError):
    """A transaction failed or was aborted (and rolled back); the message names the statement and Redshift's error."""


def data_api_client(settings: RedshiftSettings) -> Any:
    """A boto3 ``redshift-data`` client, with the process's AWS credentials (the Lambda's role)."""
    import boto3

    return boto3.client("redshift-data", region_name=settings.region)


def run_transaction(
    client: Any,
    settings: RedshiftSettings,
    statements: Sequence[Statement],
    *,
    name: str = "clickstream",
    timeout_seconds: float = 900.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Run ``statements`` as one transaction and wait for it; its id. A failure raises :class:`RedshiftError`; past
    ``timeout_seconds`` the transaction is cancelled and TimeoutError raised (had it committed meanwhile, a retry
    is a no-op: the manifest makes it one)."""
    batch_id: str = client.batch_execute_statement(
        WorkgroupName=settings.workgroup,
        Database=settings.database,
        Sqls=[statement.sql for statement in statements],
        ExecutionMode="TRANSACTION",
        StatementName=name,
    )["Id"]
    deadline = clock() + timeout_seconds
    delay = 0.25
    while True:
        described = client.describe_statement(Id=batch_id)
        status = described["Status"]
        if status == "FINISHED":
            return batch_id
        if status in ("FAILED", "ABORTED"):
            raise RedshiftError(_failure(described, statements))
        if clock() >= deadline:
            with contextlib.suppress(Exception):  # it may have ended meanwhile
                client.cancel_statement(Id=batch_id)
            raise TimeoutError(
                f"Redshift transaction {name} ({batch_id}) still {status} after {timeout_seconds:.0f}s: cancelled"
            )
        sleep(delay)
        delay = min(delay * 2, 5.0)


def _failure(described: dict[str, Any], statements: Sequence[Statement]) -> str:
    batch_id, status = described["Id"], described["Status"].lower()
    subs = list(enumerate(described.get("SubStatements") or [], start=1))
    # The statement that failed; the ones after it are aborted.
    for position, sub in sorted(subs, key=lambda item: item[1].get("Status") != "FAILED"):
        if sub.get("Status") in ("FAILED", "ABORTED"):
            numbered = re.search(r":(\d+)\Z", str(sub.get("Id", "")))  # a sub-statement's id: "<batch id>:<n>"
            number = int(numbered.group(1)) if numbered else position
            purpose = statements[number - 1].purpose if 0 < number <= len(statements) else "unknown statement"
            error = sub.get("Error") or described.get("Error") or "no error message"
            return (
                f"Redshift transaction {batch_id} {status} at statement {number} of {len(statements)} ({purpose}):"
                f" {error}; nothing was committed"
            )
    return f"Redshift transaction {batch_id} {status}: {described.get('Error') or 'no error message'}"


def create_schema(client: Any, settings: RedshiftSettings, *, timeout_seconds: float = 300.0) -> None:
    """Schema ``raw`` in Redshift, idempotently."""
    statements = [Statement(f"schema raw: statement {n}", sql) for n, sql in enumerate(ddl_statements(), start=1)]
    run_transaction(client, settings, statements, name="clickstream schema raw", timeout_seconds=timeout_seconds)


def load_batch(
    batch: list[ParsedObject],
    load_id: int,
    batch_number: int,
    settings: RedshiftSettings,
    *,
    s3: Any,
    redshift: Any,
    privacy: IngestSettings = DEFAULT_PRIVACY,
    timeout_seconds: float = 900.0,
) -> dict[str, int]:
    """Stage a batch's files in S3, load them in one transaction; what it added (``TOTALS``: a retried batch that
    committed before adds nothing)."""
    staged = stage_batch(batch, load_id, batch_number, settings, privacy)
    put_staged(s3, settings, staged)
    statements = batch_statements(staged.copy, settings)
    batch_id = run_transaction(
        redshift,
        settings,
        statements,
        name=f"clickstream load {load_id} batch {batch_number}",
        timeout_seconds=timeout_seconds,
    )
    # The last statement's result: its sub-statement id is "<batch id>:<its position>".
    records = redshift.get_statement_result(Id=f"{batch_id}:{len(statements)}")["Records"]
    return {
        name: int(field.get("longValue", field.get("stringValue", 0)))
        for name, field in zip(TOTALS, records[0], strict=True)
    }
