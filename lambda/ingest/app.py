"""Ingest Lambda: API Gateway HTTP API ``POST /clickstream`` → one raw object in S3."""

from __future__ import annotations

from typing import Any

from loader import logs
from loader.ingest import Collector

logs.configure()
_collector = Collector.from_env()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _collector.handle_apigw(event)
