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


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (so captured output works too)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(level: str = "INFO") -> None:
    """Send clickstream logs as JSON lines to stdout (idempotent)."""
    if any(isinstance(h, _StdoutHandler) for h in _logger.handlers):
        return
    handler = _StdoutHandler()
    handler.setFormatter(_JsonFormatter())
    _logger.addHandler(handler)
    _logger.setLevel(level)
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
