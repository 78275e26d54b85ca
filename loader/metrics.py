"""The data health as CloudWatch metrics: one line in the embedded metric format (EMF) on the ETL Lambda's
standard output, which CloudWatch Logs turns into metrics. No API call and no cloudwatch:PutMetricData permission
(the function runs in a private subnet without a monitoring endpoint), no agent.

Written with Powertools for AWS Lambda's Metrics (aws-lambda-powertools, maintained by AWS, pure Python; the ETL
package already carries its two dependencies): it validates the names, units and dimensions and writes the EMF
document. One dimension, ``service`` (the stack's name), so an alarm names its metric exactly and the cost stays one
metric per name.

Published after each ETL run, from the latest complete hour of ``marts.data_health_hourly`` (infra/template.yaml's
alarms read them): ``Events``, ``ExpectedEvents``, ``CheckoutComplete``, ``BotShare``, ``RejectedShare``,
``LateShare`` and ``CaptureRate`` (percent; the last 24 hours, with a shop database only), ``HealthAnomalies`` (the
anomalies open in the latest hours) and ``HealthChecksFailed`` (health tests failing at severity error, and an
erroring raw.events freshness).
"""

from __future__ import annotations

from typing import Any

from loader.health import HealthSummary


def health_metrics(health: HealthSummary) -> list[tuple[str, str, float]]:
    """(name, unit, value) of each metric ``health`` has a value for."""
    found: list[tuple[str, str, float]] = []
    latest: dict[str, Any] = health.latest or {}
    if latest:
        found.append(("Events", "Count", float(latest["events"])))
        if latest.get("expected_events") is not None:
            found.append(("ExpectedEvents", "Count", float(latest["expected_events"])))
        found.append(("CheckoutComplete", "Count", float(latest["checkout_complete_events"])))
        for name, column in (("BotShare", "bot_share"), ("RejectedShare", "rejected_share"),
                             ("LateShare", "late_share"), ("CaptureRate", "capture_rate_24h")):  # fmt: skip
            if latest.get(column) is not None:
                found.append((name, "Percent", round(100 * float(latest[column]), 2)))
    found.append(("HealthAnomalies", "Count", float(len(health.open_anomalies))))
    errors = health.checks_failed + (1 if health.freshness == "error" else 0)
    found.append(("HealthChecksFailed", "Count", float(errors)))
    return found


def publish_health(health: HealthSummary | None, *, namespace: str, service: str) -> None:
    """Print the EMF line of ``health`` (nothing when the run did not get to the health step)."""
    if health is None or health.status == "skipped":
        return
    from aws_lambda_powertools import Metrics

    metrics = Metrics(namespace=namespace, service=service)
    for name, unit, value in health_metrics(health):
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()
