"""Known tracking breaks injected into generated traffic, to show that the data health monitor
(``marts.data_health_hourly``, ``clickstream health``) notices them: what a deploy, a checkout page or a bot does to
a real shop's clickstream.

- :class:`VolumeDrop`: between ``start`` and ``end`` only ``keep`` (5%) of the requests arrive (a release dropped
  the tracker from most pages, the collector failed).
- :class:`NoCheckouts`: between ``start`` and ``end`` no ``checkout_complete`` event is sent, while the shop still
  takes the orders (the success page lost its tracking).
- :class:`BotBurst`: ``events`` product views from a headless browser between ``start`` and ``end`` (a scraper
  hammering the catalog).
- :class:`UnknownEvent`: ``events`` events of a name the event contract does not know, with a field the tracker
  never sent, from ``start`` on (a storefront release shipped a new event).

:func:`inject` applies them to a request stream (:meth:`loader.generate.TrafficGenerator.requests`) without changing
the rest of it: its own random numbers come from ``seed``.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loader.generate import SimulatedRequest
from loader.shop import BOT_AGENTS, CATALOG, SHOP, USER_AGENTS

HEADLESS = next(agent for agent in BOT_AGENTS if "HeadlessChrome" in agent)


@dataclass(frozen=True)
class VolumeDrop:
    start: datetime
    end: datetime
    keep: float = 0.05


@dataclass(frozen=True)
class NoCheckouts:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class BotBurst:
    start: datetime
    end: datetime
    events: int = 2000


@dataclass(frozen=True)
class UnknownEvent:
    start: datetime
    name: str = "promo_banner_view"
    events: int = 12
    field: str = "bannerId"  # in element.dataset: a field the tracker never sent


Break = VolumeDrop | NoCheckouts | BotBurst | UnknownEvent


def _body(request: SimulatedRequest) -> Any:
    data = request.body
    if request.headers.get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    return json.loads(data)


def _with_body(request: SimulatedRequest, body: Any) -> SimulatedRequest:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {name: value for name, value in request.headers.items() if name != "content-encoding"}
    return SimulatedRequest(request.received_at, data, headers, request.source_ip, request.request_id)


def _without_checkouts(request: SimulatedRequest) -> SimulatedRequest | None:
    """The request without its checkout_complete events (``None`` when nothing is left to send)."""
    body = _body(request)
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        kept = [event for event in body["events"] if event.get("eventName") != "checkout_complete"]
        if len(kept) == len(body["events"]):
            return request
        return _with_body(request, {**body, "events": kept}) if kept else None
    if isinstance(body, dict) and body.get("eventName") == "checkout_complete":
        return None
    return request


def _request(rng: random.Random, at: datetime, event: dict[str, Any], agent: str, ip: str) -> SimulatedRequest:
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {"content-type": "application/json", "user-agent": agent, "origin": SHOP}
    return SimulatedRequest(at, data, headers, ip, str(uuid.UUID(int=rng.getrandbits(128), version=4)))


def _bot_burst(burst: BotBurst, rng: random.Random) -> list[SimulatedRequest]:
    client = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    step = (burst.end - burst.start) / max(burst.events, 1)
    requests = []
    for index in range(burst.events):
        product = rng.choice(CATALOG)
        event = {
            "eventName": "product_view",
            "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "clientId": client,
            "sessionId": client,
            "userLoginState": "anonymous",
            "pageUrl": SHOP + product.url_path,
            "product": product.payload(),
        }
        requests.append(_request(rng, burst.start + step * index, event, HEADLESS, "203.0.113.0"))
    return requests


def _unknown_events(unknown: UnknownEvent, rng: random.Random) -> list[SimulatedRequest]:
    requests = []
    for index in range(unknown.events):
        client = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        event = {
            "eventName": unknown.name,
            "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "clientId": client,
            "userLoginState": "anonymous",
            "pageUrl": SHOP + "/",
            "element": {"tag": "a", "id": "promo-banner", "dataset": {unknown.field: f"banner-{index % 3}"}},
        }
        at = unknown.start + timedelta(minutes=2 * index)
        requests.append(_request(rng, at, event, USER_AGENTS[0][0], "14.160.0.0"))
    return requests


def inject(requests: Iterable[SimulatedRequest], breaks: Sequence[Break], seed: int = 0) -> Iterator[SimulatedRequest]:
    """``requests`` with ``breaks`` applied, in time order where they add requests."""
    rng = random.Random(f"breaks-{seed}")
    added = sorted(
        (
            request
            for item in breaks
            for request in (
                _bot_burst(item, rng)
                if isinstance(item, BotBurst)
                else _unknown_events(item, rng)
                if isinstance(item, UnknownEvent)
                else []
            )
        ),
        key=lambda request: request.received_at,
    )
    drops = [item for item in breaks if isinstance(item, VolumeDrop)]
    silenced = [item for item in breaks if isinstance(item, NoCheckouts)]
    position = 0
    for request in requests:
        while position < len(added) and added[position].received_at <= request.received_at:
            yield added[position]
            position += 1
        at = request.received_at
        drop = next((item for item in drops if item.start <= at < item.end), None)
        if drop is not None and rng.random() >= drop.keep:
            continue
        if any(item.start <= at < item.end for item in silenced):
            kept = _without_checkouts(request)
            if kept is None:
                continue
            request = kept
        yield request
    yield from added[position:]
