"""The storefront's real tracker bodies (exactly as the issue gives them), sent through the collector, and the
old R Shiny dashboard's one query, for tests that must not lean on the generator."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loader.config import IngestSettings
from loader.ingest import Collector, HttpRequest
from loader.rawstore import RawStore

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
SHOP = "https://shop.example.com"
START = datetime(2026, 11, 20, 12, tzinfo=UTC)
KEYBOARD = {"id": "cmiplejed000kxzk0du54t4hv", "name": "Bàn phím AULA F75", "category": "keyboard", "brand": "AULA",
            "price": 1990000, "urlPath": "/product/ban-phim-aula-f75"}  # fmt: skip
MOUSE = {"id": "cmiplejee000mxzk0a1b2c3d4", "name": "Chuột Logitech G102", "category": "mouse", "brand": "Logitech",
         "price": 390000, "urlPath": "/product/chuot-logitech-g102"}  # fmt: skip
CATEGORY_WITH_TITLE = {"category": "Bàn phím", "id": "cmiplejed000kxzk0du54t4hv"}  # a category id, not a product
CATEGORY_SLUG = {"id": "laptop"}
# The old dashboard's query, exactly as it runs it (every 10 s per open browser); $3 is optional.
OLD_DASHBOARD_QUERY = (
    "SELECT event_timestamp, event_name, user_login_state, client_id, session_id, is_first_visit, "
    "context_product_id AS product_id, context_product_name AS product_name, context_product_category AS product_category, "
    "context_product_brand AS product_brand, context_product_price::numeric AS product_price, "
    "context_product_discount_price AS product_discount_price, context_product_url_path AS product_url_path "
    "FROM clickstream_events WHERE event_timestamp >= $1 AND event_timestamp < $2"
)
OLD_DASHBOARD_QUERY_BY_LOGIN = OLD_DASHBOARD_QUERY + " AND user_login_state = $3"


def hash_of(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:16], "big")


@dataclass
class Visitor:
    """One browser: its ids, and its user once logged in (anonymous events carry no userId key, page_view and
    click send null)."""

    client_id: str
    session_id: str
    user_id: str | None = None
    first: bool = True
    sent: int = 0

    def event(self, name: str, path: str, **fields: Any) -> dict[str, Any]:
        self.sent += 1
        if "-" in self.client_id[:14] and self.client_id[:13].isdigit():  # a non-secure origin: time-based ids
            event_id = f"{1764700990000 + self.sent}-{self.sent:08x}"
        else:
            event_id = str(uuid.UUID(int=hash_of(self.client_id, self.sent), version=4))
        body: dict[str, Any] = {"eventName": name, "eventId": event_id, "pageUrl": SHOP + path, "referrer": None}
        if self.user_id is not None or name in ("page_view", "click"):
            body["userId"] = self.user_id
        body |= {
            "userLoginState": "logged_in" if self.user_id else "anonymous",
            "clientId": self.client_id,
            "sessionId": self.session_id,
            "isFirstVisit": self.first,
            **fields,
        }
        self.first = False
        return body


def visits() -> list[tuple[timedelta, dict[str, Any]]]:
    """Two visitors' events and when each is sent (after START): the first adds a keyboard and a mouse, removes
    the mouse, and buys the next day in another session (logged in); the second adds a mouse and leaves."""
    one = Visitor("1764700981234-9f8e7d6c", "1764700981301-0a1b2c3d")  # ids of a non-secure origin
    two = Visitor("0d6f1c1e-7b7a-4f6e-9a43-2a1f3c5d8e90", "5b2e9f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
    minute = timedelta(minutes=1)
    sent = [
        (0 * minute, one.event("page_view", "/category/ban-phim")),
        (0 * minute, one.event("category_view", "/category/ban-phim", product=CATEGORY_WITH_TITLE)),
        (1 * minute, one.event("category_view", "/category/laptop", product=CATEGORY_SLUG)),
        (2 * minute, one.event("product_view", KEYBOARD["urlPath"], product=KEYBOARD)),
        (3 * minute, one.event("add_to_cart_click", KEYBOARD["urlPath"], product=KEYBOARD)),
        (
            4 * minute,
            one.event(
                "wishlist_toggle",
                KEYBOARD["urlPath"],
                product=KEYBOARD,
                element={"tag": "button", "dataset": {"toggledOn": "true"}},
            ),
        ),
        (
            5 * minute,
            one.event(
                "share_click",
                KEYBOARD["urlPath"],
                product=KEYBOARD,
                element={"tag": "button", "dataset": {"channel": "zalo"}},
            ),
        ),
        (6 * minute, one.event("product_view", MOUSE["urlPath"], product=MOUSE)),
        (7 * minute, one.event("add_to_cart_click", MOUSE["urlPath"], product=MOUSE)),
        (8 * minute, one.event("remove_from_cart_click", "/cart", product=MOUSE)),
        (9 * minute, one.event("add_to_cart_click", KEYBOARD["urlPath"], product=KEYBOARD)),
        (10 * minute, two.event("page_view", MOUSE["urlPath"])),
        (11 * minute, two.event("product_view", MOUSE["urlPath"], product=MOUSE)),
        (12 * minute, two.event("add_to_cart_click", MOUSE["urlPath"], product=MOUSE)),
    ]
    one.session_id, one.user_id = "1764787381000-11223344", "3f0c2b1a-9d8e-4c7b-a6f5-e4d3c2b1a0f9"  # next day
    day = timedelta(days=1)
    sent += [
        (day, one.event("page_view", "/checkout")),
        (
            day,
            one.event(
                "checkout_start",
                "/checkout",
                element={"tag": "button", "dataset": {"cartId": "", "total": "3980000", "itemCount": "1"}},
            ),
        ),
        (
            day + 3 * minute,
            one.event(
                "checkout_complete",
                "/checkout/success",
                element={"tag": "form", "dataset": {"orderId": "", "orderNumber": "", "total": "3980000"}},
            ),
        ),
    ]
    return sent


def send_visits(store: RawStore) -> int:
    """Each event in its own request, as the tracker POSTs them; returns how many were stored."""
    stored = 0
    for offset, body in visits():
        received = START + offset
        collector = Collector(store, IngestSettings(), clock=lambda received=received: received)
        request = HttpRequest("POST", headers={"user-agent": BROWSER, "content-type": "application/json"},
                              body=json.dumps(body, ensure_ascii=False).encode(), source_ip="113.161.42.77")  # fmt: skip
        response = collector.handle(request)
        assert response.status == 200, response.body
        stored += 1
    return stored
