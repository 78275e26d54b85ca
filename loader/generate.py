"""Synthetic traffic of a computer-products shop, in the real tracker's payload shapes.

Visits are simulated in time order by a small state machine (home → category → product →
cart → checkout) with realistic drop-off, returning visitors, logins mid-visit, multi-tab
browsing, device clocks that drift, retries, and a little bad input. Everything is drawn from
one ``random.Random(seed)``, so a seed always yields the same requests.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loader.shop import (
    BOT_AGENTS,
    CATALOG,
    CATEGORIES,
    CATEGORY_BY_SLUG,
    PAYMENT_GATEWAYS,
    SHARE_CHANNELS,
    SHOP,
    SOURCES,
    USER_AGENTS,
    Product,
)

# Hourly weight of visits by UTC hour (the shop's visitors are on UTC+7; evenings peak).
# A visit's events stop this long before ``now``, so even batched requests (sent up to ~20 s later) arrive by then.
_LAST_EVENT_MARGIN = timedelta(seconds=30)
_USER_NAMESPACE = uuid.UUID("0b9c7a52-3f1e-4d6a-8c2b-5e4f3a2d1c0b")  # users' ids: Cognito subs (UUIDs)
_HOUR_WEIGHTS = [6, 7, 8, 8, 7, 6, 6, 6, 6, 7, 8, 10, 12, 13, 14, 12, 8, 5, 3, 2, 1.5, 1.5, 2, 4]


@dataclass(frozen=True)
class Order:
    """A completed checkout, as a shop database would receive it."""

    client_id: str
    user_id: str | None
    items: tuple[Product, ...]  # one per unit
    placed_at: datetime


OrderHook = Callable[[Order], "tuple[str, str] | None"]


def user_id_of(index: int) -> str:
    """The shop user (Cognito sub) of client ``index`` of the audience: the same for every seed."""
    return str(uuid.uuid5(_USER_NAMESPACE, f"user-{index}"))


@dataclass(frozen=True)
class SimulatedRequest:
    """One HTTP request as the browser would send it."""

    received_at: datetime
    body: bytes
    headers: dict[str, str]
    source_ip: str
    request_id: str


@dataclass
class _Client:
    client_id: str
    user_agent: str
    ip: str
    user_id: str | None
    clock_skew: timedelta
    batched: bool
    logged_in: bool = False
    events_sent: int = 0  # isFirstVisit is true on a new client's very first event only
    visits: int = 0
    cart: list[Product] = field(default_factory=list)  # the storefront keeps the cart across visits


@dataclass
class _Visit:
    client: _Client
    now: datetime
    tab_session: str
    landing: bool = True
    page_url: str = SHOP + "/"
    previous_url: str | None = None
    events: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    tabs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tabs.append(self.tab_session)


class TrafficGenerator:
    """Generates requests for ``events`` events spread over ``days`` days ending at ``now``."""

    def __init__(
        self,
        *,
        events: int,
        days: float,
        seed: int,
        now: datetime,
        client_pool: int | None = None,
        non_secure_origin: bool = False,
        place_order: OrderHook | None = None,
    ) -> None:
        """``non_secure_origin``: the storefront on http://, where the tracker has no crypto.randomUUID and
        makes its client, session and event ids from epoch milliseconds and 8 hex digits. ``place_order``: called
        at each completed checkout (a shop database placing the order); the (orderId, orderNumber) it returns
        go into the event's dataset, which the storefront leaves empty today."""
        if events < 1 or days <= 0:
            raise ValueError("events must be at least 1 and days more than 0")
        self.non_secure_origin = non_secure_origin
        self.place_order = place_order
        self.target = events
        self.days = days
        self.rng = random.Random(seed)
        self.now = now.astimezone(UTC)
        self.pool_size = client_pool or max(50, events // 18)
        self._clients: dict[int, _Client] = {}
        self._popularity = [1 / (rank + 1) ** 0.9 for rank in range(len(CATALOG))]
        self._products = self.rng.sample(CATALOG, len(CATALOG))

    # -- population -------------------------------------------------------------------------
    def _client(self, index: int) -> _Client:
        """Client ``index`` of the shop's audience; the same index is the same person for every seed."""
        if index not in self._clients:
            rng = random.Random(f"client-{index}")
            agent = rng.choices([a for a, _ in USER_AGENTS], [w for _, w in USER_AGENTS])[0]
            if rng.random() < 0.01:
                agent = rng.choice(BOT_AGENTS)
            ip = f"{rng.choice([14, 27, 42, 113, 115, 171, 183])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            if rng.random() < 0.15:
                ip = f"2402:800:{rng.randrange(65536):x}:{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}"
            skew = (
                timedelta(seconds=rng.gauss(0, 45)) if rng.random() < 0.9 else timedelta(minutes=rng.uniform(-240, 240))
            )
            if self.non_secure_origin:
                client_id = f"{1_760_000_000_000 + rng.randrange(10**10)}-{rng.getrandbits(32):08x}"
            else:
                client_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self._clients[index] = _Client(
                client_id=client_id,
                user_agent=agent,
                ip=ip,
                user_id=user_id_of(index) if rng.random() < 0.35 else None,
                clock_skew=skew,
                batched=rng.random() < 0.25,
            )
        return self._clients[index]

    def _uuid(self, moment: datetime | None = None) -> str:
        """A new id as the tracker makes it (``moment``: when, for a non-secure origin's time-based ids)."""
        if self.non_secure_origin:
            return f"{int((moment or self.now).timestamp() * 1000)}-{self.rng.getrandbits(32):08x}"
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _product(self, category: str | None = None) -> Product:
        if category is None:
            return self.rng.choices(self._products, self._popularity)[0]
        choices = [(p, w) for p, w in zip(self._products, self._popularity, strict=True) if p.category == category]
        return self.rng.choices([p for p, _ in choices], [w for _, w in choices])[0]

    # -- visits -----------------------------------------------------------------------------
    def requests(self) -> Iterator[SimulatedRequest]:
        """Visits in time order; their rate adapts to the events still to produce, so the traffic
        fills the whole window and stops at ``now``."""
        rng = self.rng
        moment = self.now - timedelta(days=self.days)
        acceptance = sum(_HOUR_WEIGHTS) / len(_HOUR_WEIGHTS) / max(_HOUR_WEIGHTS)  # of the hour-of-day thinning
        produced = visits = 0
        while produced < self.target:
            remaining_seconds = max((self.now - moment).total_seconds(), 1.0)
            per_visit = produced / visits if visits else 8.5
            expected_visits = max((self.target - produced) / per_visit, 1.0)
            moment += timedelta(seconds=rng.expovariate(expected_visits / remaining_seconds / acceptance))
            if moment >= self.now - _LAST_EVENT_MARGIN:  # short of the target at the end: top up in the last hour
                moment = self.now - timedelta(seconds=rng.uniform(120, 3600))
            elif rng.random() * max(_HOUR_WEIGHTS) > _HOUR_WEIGHTS[moment.hour]:
                continue
            client = self._client(int(self.pool_size * rng.random() ** 1.6))
            visits += 1
            for request, count in self._simulate(client, moment):
                yield request
                produced += count
                if produced >= self.target:
                    return

    def _simulate(self, client: _Client, start: datetime) -> Iterator[tuple[SimulatedRequest, int]]:
        visit = _Visit(client=client, now=start, tab_session=self._uuid(start))
        if client.user_id and client.visits and self.rng.random() < 0.6:
            client.logged_in = True
        client.visits += 1
        if client.user_agent in BOT_AGENTS:
            self._crawl(visit)
        else:
            self._browse(visit)
        visit.events = [(moment, event) for moment, event in visit.events if moment <= self.now - _LAST_EVENT_MARGIN]
        yield from self._send(visit)

    def _emit(
        self, visit: _Visit, name: str, *, product: dict[str, Any] | None = None, element: dict[str, Any] | None = None
    ) -> None:
        """One event as the storefront's tracker builds it: page_view and click always carry ``userId`` (null when
        anonymous), the other events only when logged in; login states are logged_in or anonymous."""
        client = visit.client
        event: dict[str, Any] = {
            "eventName": name,
            "eventId": self._uuid(visit.now),
            "pageUrl": visit.page_url,
            "referrer": visit.previous_url,
        }
        if client.logged_in or name in ("page_view", "click"):
            event["userId"] = client.user_id if client.logged_in else None
        event.update(
            userLoginState="logged_in" if client.logged_in else "anonymous",
            clientId=client.client_id,
            sessionId=visit.tab_session,
            isFirstVisit=client.events_sent == 0,
        )
        client.events_sent += 1
        if product is not None:
            event["product"] = product
        if element is not None:
            event["element"] = element
        visit.events.append((visit.now, event))

    def _wait(self, visit: _Visit, mean_seconds: float) -> None:
        visit.now += timedelta(seconds=max(1.0, self.rng.expovariate(1 / mean_seconds)))
        if self.rng.random() < 0.012:  # the visitor leaves the tab open and comes back later
            visit.now += timedelta(minutes=self.rng.uniform(31, 120))

    def _open(
        self, visit: _Visit, path: str, view: str, product: dict[str, Any] | None = None, query: str = ""
    ) -> None:
        if not visit.landing:  # on the landing page the referrer is the external one
            visit.previous_url = visit.page_url
        visit.page_url = f"{SHOP}{path}{'?' + query if query else ''}"
        visit.landing = False
        if product is not None and self.rng.random() < 0.12:  # opened in a new tab: the tracker starts a new session id
            visit.tab_session = self._uuid(visit.now)
            visit.tabs.append(visit.tab_session)
        elif len(visit.tabs) > 1 and self.rng.random() < 0.25:  # back to another open tab
            visit.tab_session = self.rng.choice(visit.tabs)
        self._emit(visit, "page_view")
        visit.now += timedelta(milliseconds=self.rng.randint(5, 400))
        self._emit(visit, view, product=product)

    def _click(self, visit: _Visit, element_id: str, text: str, product: Product | None = None) -> None:
        dataset = {"productId": product.id} if product else {}
        self._emit(
            visit,
            "click",
            element={"tag": "button", "id": element_id, "role": "button", "text": text, "dataset": dataset},
        )

    def _browse(self, visit: _Visit) -> None:
        rng = self.rng
        referrer, query, landing, _ = rng.choices(SOURCES, [s[3] for s in SOURCES])[0]
        visit.previous_url = referrer
        page = landing
        product: Product | None = None
        category = rng.choice(CATEGORIES)
        for _ in range(rng.randint(3, 30)):
            if page == "home":
                self._open(visit, "/", "home_view", query=query)
                page = rng.choices(["category", "product", "login", "exit"], [0.45, 0.3, 0.05, 0.2])[0]
            elif page == "category":
                category = rng.choice(CATEGORIES) if rng.random() < 0.4 else category
                self._open(visit, f"/category/{category}", "category_view", self._category_payload(category), query)
                page = rng.choices(["product", "category", "home", "exit"], [0.62, 0.1, 0.05, 0.23])[0]
            elif page == "product":
                product = self._product(category if rng.random() < 0.6 else None)
                category = product.category
                self._open(visit, product.url_path, "product_view", product.payload(), query=query)
                page = self._on_product(visit, product)
            elif page == "login":
                self._login(visit)
                page = rng.choice(["home", "category", "product"])
            elif page == "checkout":
                page = self._checkout(visit)
            else:
                break
            query = ""
            self._wait(visit, 35)

    def _category_payload(self, slug: str) -> dict[str, Any]:
        """category_view's ``product``: the category's id and title, or on some pages only its slug as the id."""
        row = CATEGORY_BY_SLUG[slug]
        return {"category": row.title, "id": row.id} if self.rng.random() < 0.7 else {"id": row.slug}

    def _on_product(self, visit: _Visit, product: Product) -> str:
        rng = self.rng
        cart = visit.client.cart
        if rng.random() < 0.45:
            self._wait(visit, 12)
            self._click(visit, "product-gallery", "Xem ảnh", product)
        affordability = 0.32 if product.effective_price < 5_000_000 else 0.18
        if rng.random() < affordability:
            self._wait(visit, 20)
            self._emit(visit, "add_to_cart_click", product=product.payload(),
                       element={"tag": "button", "id": "btn-add-to-cart", "role": "button", "text": "Thêm vào giỏ hàng"})  # fmt: skip
            cart.append(product)
        if rng.random() < 0.05:
            self._wait(visit, 8)
            toggled_on = rng.random() < 0.8
            self._emit(visit, "wishlist_toggle", product=product.payload(),
                       element={"tag": "button", "id": "btn-wishlist", "dataset": {"toggledOn": str(toggled_on).lower()}})  # fmt: skip
        if rng.random() < 0.03:
            self._wait(visit, 8)
            self._emit(visit, "share_click", product=product.payload(),
                       element={"tag": "button", "id": "btn-share", "dataset": {"channel": rng.choice(SHARE_CHANNELS)}})  # fmt: skip
        if cart and rng.random() < 0.08:
            self._wait(visit, 10)
            removed = cart[0]
            self._emit(visit, "remove_from_cart_click", product=removed.payload())
            cart[:] = [item for item in cart if item.id != removed.id]  # the storefront removes the whole line
        if cart:
            return rng.choices(["checkout", "product", "category", "exit"], [0.42, 0.28, 0.12, 0.18])[0]
        return rng.choices(["product", "category", "home", "login", "exit"], [0.36, 0.16, 0.05, 0.03, 0.4])[0]

    def _login(self, visit: _Visit) -> bool:
        client = visit.client
        self._emit(visit, "login_open")
        self._wait(visit, 25)
        if client.logged_in or self.rng.random() < 0.25:
            return client.logged_in
        if client.user_id is None and self.rng.random() < 0.5:
            client.user_id = str(uuid.uuid5(_USER_NAMESPACE, f"signup-{client.client_id}"))  # signs up
        if client.user_id is not None:
            client.logged_in = True
            self._emit(visit, "login_success")
        return client.logged_in

    def _checkout(self, visit: _Visit) -> str:
        """checkout_start and checkout_complete carry no product: the cart's total and size, as strings, in
        ``element.dataset`` (the storefront leaves cartId, orderId and orderNumber empty today)."""
        rng = self.rng
        cart = visit.client.cart
        if not visit.client.logged_in and rng.random() < 0.5:
            self._login(visit)
        total = str(sum(item.effective_price for item in cart))
        self._open(visit, "/checkout", "checkout_start")
        visit.events[-1][1]["element"] = {
            "tag": "button", "id": "btn-checkout", "dataset": {"cartId": "", "total": total, "itemCount": str(len(cart))},
        }  # fmt: skip
        if rng.random() < 0.58:
            self._wait(visit, 90)
            # paid through a gateway (VNPay, MoMo, OnePay) one time in three: the success page comes back from it,
            # after an OTP that sometimes took a while (the return is then a new session)
            gateway = rng.choice(PAYMENT_GATEWAYS) if rng.random() < 0.35 else None
            slow = gateway is not None and rng.random() < 0.05
            payment = timedelta(minutes=rng.uniform(35, 60) if slow else rng.uniform(1, 4)) if gateway else timedelta()
            if visit.now + payment > self.now - _LAST_EVENT_MARGIN:
                return "exit"  # the traffic ends before the payment would return: no order
            visit.page_url = f"{SHOP}/checkout/success"
            order = Order(visit.client.client_id, visit.client.user_id if visit.client.logged_in else None,
                          tuple(cart), visit.now)  # fmt: skip
            order_id, order_number = (self.place_order(order) if self.place_order else None) or ("", "")
            if gateway:
                visit.previous_url = gateway
                visit.now += payment
            self._emit(visit, "checkout_complete",
                       element={"tag": "form", "id": "checkout-form",
                                "dataset": {"orderId": order_id, "orderNumber": order_number, "total": total}})  # fmt: skip
            cart.clear()
            if visit.client.logged_in and rng.random() < 0.05:
                self._wait(visit, 30)
                self._emit(visit, "logout")
                visit.client.logged_in = False
            return "exit" if rng.random() < 0.7 else "home"
        return rng.choice(["product", "exit", "exit"])

    def _crawl(self, visit: _Visit) -> None:
        """A crawler walks product pages quickly; one in twenty never stops (a 'zombie' session)."""
        visit.previous_url = None
        zombie = self.rng.random() < 0.05
        for _ in range(self.rng.randint(10, 40) if not zombie else 200):
            product = self._product()
            self._open(visit, product.url_path, "product_view", product.payload())
            visit.now += timedelta(seconds=self.rng.uniform(2, 15) if not zombie else self.rng.uniform(300, 900))

    # -- requests ---------------------------------------------------------------------------
    def _send(self, visit: _Visit) -> Iterator[tuple[SimulatedRequest, int]]:
        client = visit.client
        rng = self.rng
        if client.batched:
            index = 0
            while index < len(visit.events):
                size = rng.randint(1, 12)
                chunk = visit.events[index : index + size]
                index += size
                sent = chunk[-1][0] + timedelta(seconds=rng.uniform(0.5, 20))
                batch = []
                for moment, event in chunk:
                    event = dict(event)
                    event.pop("eventId") if rng.random() < 0.3 else None  # newer tracker builds omit ids
                    event["timestamp"] = int((moment + client.clock_skew).timestamp() * 1000)
                    batch.append(event)
                body = {"events": batch, "sentAt": int((sent + client.clock_skew).timestamp() * 1000)}
                yield (
                    self._request(
                        client, sent + timedelta(milliseconds=rng.randint(30, 400)), body, gzip_it=rng.random() < 0.5
                    ),
                    len(batch),
                )
        else:
            for moment, event in visit.events:
                payload: Any = event
                if rng.random() < 0.002:
                    payload = {**payload, "clientId": None, "client_id": None}  # a broken page build
                received = moment + timedelta(milliseconds=rng.randint(30, 400))
                request = self._request(client, received, payload)
                yield request, 1
                if rng.random() < 0.004:  # the browser retried after a timeout: same body again
                    yield self._request(client, received + timedelta(seconds=rng.uniform(1, 10)), payload), 0

    def _request(self, client: _Client, received: datetime, body: Any, *, gzip_it: bool = False) -> SimulatedRequest:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {
            "content-type": "application/json",
            "user-agent": client.user_agent,
            "origin": SHOP,
            "x-amzn-trace-id": f"Root=1-{int(received.timestamp()):08x}-{self.rng.getrandbits(96):024x}",
        }
        if gzip_it:
            data = gzip.compress(data, mtime=0)
            headers["content-encoding"] = "gzip"
        return SimulatedRequest(received, data, headers, client.ip, self._uuid())
