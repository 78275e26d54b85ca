"""Structured logs: one JSON object per line (what CloudWatch Logs Insights queries)."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

_logger = logging.getLogger("clickstream")
_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = dict(getattr(record, "fields", {}))
        if (correlation_id := _correlation_id.get()) is not None:
            line.setdefault("correlationId", correlation_id)
        line.update(  # the standard keys win over same-named fields
            time=datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            level=record.levelname.lower(),
            message=record.getMessage(),
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class _CurrentStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.<name>`` is at the time (so captured output works too)."""

    stream_name = "stdout"

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _StdoutHandler(_CurrentStreamHandler):
    stream_name = "stdout"


class _StderrHandler(_CurrentStreamHandler):
    stream_name = "stderr"


def configure(level: str = "INFO") -> None:
    """Send clickstream logs as JSON lines to stdout (idempotent)."""
    if any(isinstance(h, _StdoutHandler) for h in _logger.handlers):
        return
    handler = _StdoutHandler()
    handler.setFormatter(_JsonFormatter())
    _logger.addHandler(handler)
    _logger.setLevel(level)
    _logger.propagate = False


class _HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        details = ", ".join(f"{name}={value}" for name, value in fields.items() if value is not None)
        return f"{record.levelname.lower()}: {record.getMessage()}" + (f" ({details})" if details else "")


class _NotSummaries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in SUMMARIES


SUMMARIES = frozenset({"load", "shop sync", "etl"})  # one line per run, which the CLI prints in its own words


def configure_cli() -> None:
    """Warnings and errors as human lines on stderr (the CLI prints run summaries itself); idempotent."""
    if any(isinstance(h, (_StdoutHandler, _StderrHandler)) for h in _logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(_HumanFormatter())
    handler.addFilter(_NotSummaries())
    handler.setLevel(logging.WARNING)
    _logger.addHandler(handler)
    _logger.setLevel(logging.INFO)
    _logger.propagate = False


def log(message: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    _logger.log(level, message, extra={"fields": fields})


@contextlib.contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """Tag every line logged inside (e.g. with the Lambda request id)."""
    token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)
