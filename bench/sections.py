"""Benchmark sections. Each returns rows: name, value, unit, and a reference measured in the same run."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Row = dict[str, Any]
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _rate_row(
    name: str, count: int, seconds: float, ref_name: str, ref_count: int, ref_seconds: float, goal: str = ""
) -> Row:
    value, reference = count / seconds, ref_count / ref_seconds
    return {"name": name, "value": round(value, 1), "unit": "events/s", "reference": round(reference, 1),
            "reference_name": ref_name, "ratio": round(value / reference, 3), "goal": goal}  # fmt: skip


def ingest(work: Path) -> list[Row]:
    """Events/s through the collector (local store, fsync on) vs writing the same bytes to the store."""
    from loader.config import IngestSettings
    from loader.generate import BROWSER_SAMPLE, TrafficGenerator
    from loader.ingest import Collector, HttpRequest
    from loader.rawstore import LocalStore

    generated = TrafficGenerator(events=11_000, days=1, seed=11, now=NOW).requests()
    events = [e for r in generated for e in _plain_events(r) if e.get("clientId") or e.get("client_id")]
    single = [json.dumps(e).encode() for e in events[:5000]]
    batches = [
        json.dumps({"events": events[i : i + 50], "sentAt": 1_764_000_000_000}).encode() for i in range(0, 10_000, 50)
    ]
    headers = {"content-type": "application/json", "user-agent": BROWSER_SAMPLE}
    rows = []
    for label, bodies, per_request in (("single-event requests", single, 1), ("50-event batches", batches, 50)):
        store = LocalStore(_fresh(work / label.split()[0]))
        collector = Collector(store, IngestSettings())
        started = time.perf_counter()
        for body in bodies:
            response = collector.handle(HttpRequest("POST", headers=headers, body=body, source_ip="113.161.42.77"))
            assert response.status == 200, response.body
        handler_seconds = time.perf_counter() - started
        raw_store = LocalStore(_fresh(work / (label.split()[0] + "-raw")))
        started = time.perf_counter()
        for index, body in enumerate(bodies):
            raw_store.put(f"events/2026/11/24/12/raw-{index}.json", body)
        raw_seconds = time.perf_counter() - started
        count = len(bodies) * per_request
        rows.append(
            _rate_row(
                f"ingest handler, {label}",
                count,
                handler_seconds,
                "same bytes written to the store",
                count,
                raw_seconds,
            )
        )
    return rows


def _plain_events(request: Any) -> list[dict[str, Any]]:
    import gzip

    body = gzip.decompress(request.body) if request.headers.get("content-encoding") == "gzip" else request.body
    payload = json.loads(body)
    return payload["events"] if isinstance(payload, dict) and "events" in payload else [payload]


SECTIONS: dict[str, Callable[[Path], list[Row]]] = {"ingest": ingest}
