"""ETL Lambda (EventBridge schedule): load new raw objects, then dbt build, under one lock."""

from __future__ import annotations

from typing import Any

from loader import logs
from loader.config import EtlSettings
from loader.etl import EtlFailed, EtlRequest, run_etl
from loader.transform import prepare_dbt
from loader.warehouse import resolve

logs.configure()
SETTINGS = EtlSettings.from_env()  # once per cold start
WAREHOUSE = resolve()  # once per cold start, with the password from Secrets Manager/SSM if so configured
prepare_dbt()  # import dbt during Lambda's init phase, not on the first invocation


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    with logs.correlation(getattr(context, "aws_request_id", None)):
        summary = run_etl(EtlRequest.from_event(event), SETTINGS, WAREHOUSE, trigger="lambda")
    if summary.status == "failed":
        raise EtlFailed(summary.message)  # the invocation fails, so the errors alarm fires
    return summary.as_dict()
