from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loader.contract import KNOWN_EVENT_NAMES
from loader.generate import SimulatedRequest, TrafficGenerator
from loader.rawstore import LocalStore
from loader.replay import replay
from loader.shop import CATALOG

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _events(request: SimulatedRequest) -> list[dict[str, Any]]:
    body = gzip.decompress(request.body) if request.headers.get("content-encoding") == "gzip" else request.body
    payload = json.loads(body)
    return payload["events"] if isinstance(payload, dict) and "events" in payload else [payload]


def test_the_same_seed_gives_the_same_requests_and_another_seed_does_not() -> None:
    def run(seed: int) -> list[tuple[datetime, bytes]]:
        return [(r.received_at, r.body) for r in TrafficGenerator(events=2000, days=3, seed=seed, now=NOW).requests()]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_traffic_looks_like_a_computer_shop_with_a_funnel() -> None:
    requests = list(TrafficGenerator(events=20_000, days=14, seed=3, now=NOW).requests())
    events = [e for r in requests for e in _events(r)]
    assert 20_000 <= len(events) < 20_500
    assert all(NOW - timedelta(days=14) <= r.received_at <= NOW for r in requests), "within the window, none after now"
    per_day = Counter((NOW - r.received_at).days for r in requests)
    assert sorted(per_day) == list(range(14)) and min(per_day.values()) > max(per_day.values()) / 3, (
        "every day has traffic"
    )
    names = Counter(e.get("eventName", e.get("event_name")) for e in events)
    assert set(names) <= KNOWN_EVENT_NAMES
    assert names["product_view"] > names["add_to_cart_click"] > names["checkout_start"] > names["checkout_complete"] > 0
    for name in ("login_success", "wishlist_toggle", "share_click", "remove_from_cart_click", "click", "home_view"):
        assert names[name] > 0, name
    products = [e["product"] for e in events if e.get("product") and e["eventName"] != "category_view"]
    assert {p["category"] for p in products} == {"laptop", "keyboard", "monitor", "mouse", "headphone", "accessory"}
    assert {"ASUS", "AULA", "Logitech", "Keychron"} <= {p["brand"] for p in products}
    assert all(isinstance(p["price"], int) and p["price"] > 50_000 for p in products), "integer VND"
    assert 0 < sum("discountPrice" in p for p in products) < len(products) / 2, "discountPrice usually absent"
    assert all(p["id"].startswith("c") and len(p["id"]) == 25 for p in products), "cuids"
    clients = Counter(e["clientId"] for e in events)
    assert len(clients) > 300
    flags = Counter(e["isFirstVisit"] for e in events)
    first = Counter(
        e["clientId"] for e in {e.get("eventId"): e for e in events if e["isFirstVisit"] and e["clientId"]}.values()
    )
    assert max(first.values()) == 1, "true only on a new client's very first event (a retry repeats it)"
    assert flags[False] > flags[True] > 0
    batched = [
        r for r in requests if b"sentAt" in (gzip.decompress(r.body) if r.headers.get("content-encoding") else r.body)
    ]
    assert batched and len(batched) < len(requests) / 2, "most requests are the tracker's single events"
    timeline: dict[str, list[tuple[int, str]]] = {}  # client -> (time, tracker session) of its unbatched events
    for r in requests:
        for e in _events(r):
            if e.get("clientId") and e.get("sessionId") and "timestamp" not in e:
                timeline.setdefault(e["clientId"], []).append((int(r.received_at.timestamp()), e["sessionId"]))

    def goes_back_to_a_tab(tabs: list[tuple[int, str]]) -> bool:
        visited: list[str] = []  # tracker sessions in the order they were switched to
        for _, session in sorted(tabs):
            if visited and session != visited[-1] and session in visited:
                return True
            if not visited or session != visited[-1]:
                visited.append(session)
        return False

    assert any(goes_back_to_a_tab(tabs) for tabs in timeline.values()), "visitors go back and forth between open tabs"


def test_replay_stores_through_the_ingest_path(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lake", fsync=False)
    report = replay(TrafficGenerator(events=3000, days=2, seed=1, now=NOW).requests(), store)
    assert report.events_accepted >= 3000 - report.events_rejected
    assert report.statuses[200] == len(list(store.list("events/")))
    stored = [e for o in store.list("events/") for e in json.loads(store.get(o.key))]
    assert len(stored) == report.events_accepted
    assert all(e["_ingest"]["apiId"] == "local" and e["clientId"] for e in stored)
    assert len(CATALOG) >= 75 and len({p.id for p in CATALOG}) == len(CATALOG)


def test_events_have_the_shapes_the_storefronts_tracker_sends() -> None:
    events = [e for r in TrafficGenerator(events=20_000, days=7, seed=4, now=NOW).requests() for e in _events(r)]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_name.setdefault(e["eventName"], []).append(e)
    for e in by_name["checkout_start"]:
        assert "product" not in e and set(e["element"]["dataset"]) == {"cartId", "total", "itemCount"}
        assert e["element"]["dataset"]["cartId"] == "" and int(e["element"]["dataset"]["total"]) > 0
    for e in by_name["checkout_complete"]:
        assert "product" not in e and set(e["element"]["dataset"]) == {"orderId", "orderNumber", "total"}
    categories = [e["product"] for e in by_name["category_view"]]
    assert {"Bàn phím", "Màn hình", "Chuột"} <= {c.get("category") for c in categories}
    assert any(set(c) == {"id"} and c["id"] == "laptop" for c in categories), "some pages send only the slug"
    assert {e["element"]["dataset"]["toggledOn"] for e in by_name["wishlist_toggle"]} == {"true", "false"}
    assert all(e["element"]["dataset"]["channel"] for e in by_name["share_click"])
    assert {e["userLoginState"] for e in events} == {"logged_in", "anonymous"}, "never guest"
    anonymous = [e for e in events if e["userLoginState"] == "anonymous"]
    assert all(e["userId"] is None for e in anonymous if e["eventName"] in ("page_view", "click"))
    assert all("userId" not in e for e in anonymous if e["eventName"] not in ("page_view", "click"))
    assert all(e["userId"] for e in events if e["userLoginState"] == "logged_in")


def test_a_non_secure_origin_gives_time_based_ids() -> None:
    import re

    requests = TrafficGenerator(events=500, days=1, seed=2, now=NOW, non_secure_origin=True).requests()
    events = [e for r in requests for e in _events(r)]
    shape = re.compile(r"\d{13}-[0-9a-f]{8}")
    assert all(shape.fullmatch(e["clientId"]) and shape.fullmatch(e["sessionId"]) for e in events if e["clientId"])
    assert all(shape.fullmatch(e["eventId"]) for e in events if "eventId" in e)


def test_a_shop_database_can_fill_the_order_ids_of_completed_checkouts() -> None:
    from loader.generate import Order

    placed: list[Order] = []

    def place(order: Order) -> tuple[str, str]:
        placed.append(order)
        return f"order-{len(placed)}", f"DH{len(placed):06d}"

    requests = TrafficGenerator(events=5000, days=2, seed=4, now=NOW, place_order=place).requests()
    completed = [e for r in requests for e in _events(r) if e["eventName"] == "checkout_complete"]
    assert placed and len({e["element"]["dataset"]["orderId"] for e in completed}) == len(placed)
    assert all(int(e["element"]["dataset"]["total"]) > 0 for e in completed)
    first = completed[0]["element"]["dataset"]
    assert (first["orderId"], first["orderNumber"]) == ("order-1", "DH000001")
    assert sum(p.effective_price for p in placed[0].items) == int(first["total"])
