"""Generated traffic sent through the real ingest code path, into the configured raw store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from loader.config import IngestSettings, RawStoreSettings
from loader.generate import SimulatedRequest, TrafficGenerator


@dataclass
class ReplayReport:
    requests: int = 0
    events_accepted: int = 0
    events_rejected: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def replay(requests: Iterator[SimulatedRequest], store: Any, settings: Any | None = None) -> ReplayReport:
    """Send generated requests through the real ingest code path, each at its own receive time."""
    from loader.ingest import Collector, HttpRequest

    current: list[SimulatedRequest] = []
    collector = Collector(
        store,
        settings or IngestSettings(),
        clock=lambda: current[-1].received_at,
        new_object_id=lambda: uuid.uuid5(uuid.NAMESPACE_URL, current[-1].request_id),
    )
    report = ReplayReport()
    for request in requests:
        current[:] = [request]
        response = collector.handle(
            HttpRequest(method="POST", path="/clickstream", headers=request.headers, body=request.body,
                        source_ip=request.source_ip, request_id=request.request_id, api_id="local", stage="$default")
        )  # fmt: skip
        report.requests += 1
        report.statuses[response.status] = report.statuses.get(response.status, 0) + 1
        body = response.body or {}
        report.events_accepted += int(body.get("accepted", 0))
        report.events_rejected += len(body.get("rejected", []))
    return report


@dataclass(frozen=True)
class GeneratedTraffic:
    """What :func:`generate_traffic` sent, and where it went."""

    requests: int
    events_accepted: int
    events_rejected: int  # bad events the generator sends on purpose, refused by the contract
    statuses: dict[int, int]
    location: str
    seconds: float


def generate_traffic(
    generator: TrafficGenerator,
    store_settings: RawStoreSettings,
    privacy: IngestSettings,
    *,
    on_request: Callable[[], None] | None = None,
) -> GeneratedTraffic:
    """Send ``generator``'s requests into the configured raw store through the ingest code path (without fsync:
    synthetic data, speed over durability); ``on_request`` is called after each request."""
    from loader.rawstore import LocalStore, open_store

    store = open_store(store_settings)
    if isinstance(store, LocalStore):
        store.fsync = False
    started = time.perf_counter()

    def sent() -> Iterator[SimulatedRequest]:
        for request in generator.requests():
            yield request
            if on_request is not None:
                on_request()

    report = replay(sent(), store, privacy)
    return GeneratedTraffic(
        requests=report.requests,
        events_accepted=report.events_accepted,
        events_rejected=report.events_rejected,
        statuses=report.statuses,
        location=store.location,
        seconds=round(time.perf_counter() - started, 2),
    )
