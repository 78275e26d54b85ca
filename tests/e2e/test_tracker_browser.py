"""The first-party tracker (tracker/) in Debian's Chromium, on a storefront page of another origin, against the local
collector (`clickstream serve`'s server): batching, the beacon on page hide, the offline queue, and the storefront's
payload shapes."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loader.config import IngestSettings
from loader.ingest import Collector
from loader.rawstore import LocalStore
from loader.serve import make_server
from tests.conftest import ROOT
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.real_tracker import KEYBOARD, MOUSE, visits

TRACKER = ROOT / "tracker"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Cửa hàng</title></head><body>
<script type="module">
import { createTracker } from "./tracker.js";
window.tracker = createTracker({ endpoint: "%(endpoint)s", flushIntervalMs: %(interval)d });
window.ready = true;
</script></body></html>"""


def build_tracker() -> Path:
    """tracker/dist/tracker.js, built with the package's own TypeScript when the sources are newer."""
    built = TRACKER / "dist" / "tracker.js"
    sources = max(path.stat().st_mtime for path in (TRACKER / "src").glob("*.ts"))
    if not built.exists() or built.stat().st_mtime < sources:
        if not (TRACKER / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TRACKER, check=True, capture_output=True)
        subprocess.run(["npx", "tsc", "-p", "tsconfig.json"], cwd=TRACKER, check=True, capture_output=True)
    return built


class Lake:
    """The collector's lake: what reached it, as requests (objects) and events."""

    def __init__(self, root: Path) -> None:
        self.store = LocalStore(root, fsync=False)

    def objects(self) -> list[list[dict[str, Any]]]:
        return [json.loads(self.store.get(obj.key)) for obj in self.store.list("events/")]

    def events(self) -> list[dict[str, Any]]:
        return [event for objects in self.objects() for event in objects]

    def wait_for(self, count: int, seconds: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(events := self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return events


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[tuple[Lake, str]]:
    """The local collector on its own port (the storefront's page is on another origin)."""
    lake = Lake(tmp_path / "lake")
    server = make_server(Collector(lake.store, IngestSettings()), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield lake, f"http://127.0.0.1:{server.server_port}/clickstream"
    server.shutdown()
    server.server_close()


@pytest.fixture
def storefront(tmp_path: Path, lake: tuple[Lake, str]) -> Iterator[Callable[[int], str]]:
    """A page of the storefront's origin that loads the built tracker; ``storefront(interval)`` is its URL."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(build_tracker(), site / "tracker.js")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def page(interval: int) -> str:
        (site / f"page-{interval}.html").write_text(PAGE % {"endpoint": lake[1], "interval": interval})
        return f"http://127.0.0.1:{server.server_port}/page-{interval}.html"

    yield page
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Any, url: str) -> tuple[Any, Any]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("window.ready === true")
    assert errors == []
    return context, page


SHOP_VISIT = """([keyboard, mouse, count]) => {
    const t = window.tracker;
    t.pageView();
    t.categoryView({ category: "Bàn phím", id: "cmiplejed000kxzk0du54t4hv" });
    for (let i = 0; i < count - 10; i++) t.productView(i % 2 ? keyboard : mouse);
    t.addToCart(keyboard);
    t.wishlistToggle(keyboard, true);
    t.shareClick(keyboard, "zalo");
    t.addToCart(mouse);
    t.removeFromCart(mouse);
    t.click({ tag: "a", id: "cart-link", text: "Giỏ hàng" });
    t.setUser("3f0c2b1a-9d8e-4c7b-a6f5-e4d3c2b1a0f9");
    t.checkoutStart({ total: 1990000, itemCount: 1 });
    t.checkoutComplete({ orderId: "ord_1", orderNumber: "A-1001", total: 1990000 });
}"""


def test_a_hundred_events_reach_the_collector_in_a_handful_of_requests_in_the_storefronts_shapes(
    browser: Any, storefront: Callable[[int], str], lake: tuple[Lake, str]
) -> None:
    context, page = open_page(browser, storefront(500))
    page.evaluate(SHOP_VISIT, [KEYBOARD, MOUSE, 100])
    events = lake[0].wait_for(100)
    assert len(events) == 100 and len({event["eventId"] for event in events}) == 100
    assert len(lake[0].objects()) <= 6, "20 events a request, the rest after the flush interval"
    stored = sorted(events, key=lambda event: event["timestamp"])
    assert [event["isFirstVisit"] for event in stored] == [True] + [False] * 99
    assert {(event["clientId"], event["sessionId"]) for event in events} == {
        tuple(page.evaluate("[window.tracker.clientId, window.tracker.sessionId]"))
    }
    real = {body["eventName"]: body for _, body in visits()}  # the storefront's own bodies, by event name
    for event in events:
        sent = {key for key in event if not key.startswith("_")} - {"timestamp"}
        expected = set(real[event["eventName"]]) if event["eventName"] in real else None
        if expected is not None and event["userLoginState"] == real[event["eventName"]]["userLoginState"]:
            assert sent == expected, (event["eventName"], sent ^ expected)
    by_name = {event["eventName"]: event for event in events}
    assert by_name["page_view"]["userId"] is None and "userId" not in by_name["product_view"]
    assert by_name["category_view"]["product"] == {"category": "Bàn phím", "id": "cmiplejed000kxzk0du54t4hv"}
    assert by_name["wishlist_toggle"]["element"]["dataset"] == {"toggledOn": "true"}
    assert by_name["checkout_start"]["element"]["dataset"] == {"cartId": "", "total": "1990000", "itemCount": "1"}
    complete = by_name["checkout_complete"]
    assert (complete["userLoginState"], complete["userId"]) == ("logged_in", "3f0c2b1a-9d8e-4c7b-a6f5-e4d3c2b1a0f9")
    assert complete["element"]["dataset"] == {"orderId": "ord_1", "orderNumber": "A-1001", "total": "1990000"}
    assert all(event["_ingest"]["sentAt"] for event in events), "sent in {events, sentAt} batches"
    assert page.evaluate("Object.keys(localStorage).filter(k => k.includes(':queue:'))") == [], "nothing left"
    context.close()


def test_the_last_events_survive_a_page_close_by_beacon(
    browser: Any, storefront: Callable[[int], str], lake: tuple[Lake, str]
) -> None:
    context, page = open_page(browser, storefront(600_000))  # the timer never fires: only the page hide sends
    page.evaluate("() => { for (let i = 0; i < 7; i++) window.tracker.pageView(); }")
    time.sleep(0.5)
    assert lake[0].events() == []
    page.goto("about:blank")  # the storefront page goes away: pagehide
    events = lake[0].wait_for(7)
    assert len(events) == 7 and len(lake[0].objects()) == 1
    context.close()


def test_events_tracked_offline_wait_in_local_storage_and_keep_their_device_time(
    browser: Any, storefront: Callable[[int], str], lake: tuple[Lake, str]
) -> None:
    context, page = open_page(browser, storefront(200))
    context.set_offline(True)
    page.evaluate("() => { for (let i = 0; i < 5; i++) window.tracker.productView({ id: 'p' + i, price: 390000 }); }")
    time.sleep(3)  # sends fail and are retried with backoff
    queued = page.evaluate(
        "Object.keys(localStorage).filter(k => k.includes(':queue:')).map(k => JSON.parse(localStorage[k]).events.length)"
    )
    assert queued == [5] and lake[0].events() == []
    context.set_offline(False)  # the browser says "online": the tracker sends at once
    events = lake[0].wait_for(5)
    assert len(events) == 5
    for event in events:
        received = datetime.fromisoformat(event["_ingest"]["receivedAt"].replace("Z", "+00:00"))
        happened = datetime.fromisoformat(event["_ingest"]["eventAt"].replace("Z", "+00:00"))
        assert (received - happened).total_seconds() >= 2.5, "the event's time is when it was tracked"
    context.close()
