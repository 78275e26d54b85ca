"""ETL Lambda (EventBridge schedule): load new raw objects, then dbt build and the data health checks, under one lock;
the data health goes to CloudWatch as metrics (one EMF line)."""

from __future__ import annotations

import time
from typing import Any

from loader import logs
from loader.config import EtlSettings
from loader.etl import EtlFailed, EtlRequest, run_etl
from loader.metrics import publish_health
from loader.transform import prepare_dbt
from loader.warehouse import resolve

logs.configure()
SETTINGS = EtlSettings.from_env()  # once per cold start
WAREHOUSE = resolve()  # once per cold start, with the password from Secrets Manager/SSM if so configured
prepare_dbt()  # import dbt during Lambda's init phase, not on the first invocation


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = time.monotonic() + remaining() / 1000 if remaining else None  # the load stops in time to build
    with logs.correlation(getattr(context, "aws_request_id", None)):
        summary = run_etl(EtlRequest.from_event(event), SETTINGS, WAREHOUSE, trigger="lambda", deadline=deadline)
    publish_health(summary.health, namespace=SETTINGS.metrics_namespace, service=SETTINGS.metrics_service)
    if summary.status == "failed":
        raise EtlFailed(summary.message)  # the invocation fails, so the errors alarm fires
    return summary.as_dict()
