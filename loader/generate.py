"""Synthetic traffic of a computer-products shop, in the real tracker's payload shapes.

Visits are simulated in time order by a small state machine (home → category → product →
cart → checkout) with realistic drop-off, returning visitors, logins mid-visit, multi-tab
browsing, device clocks that drift, retries, and a little bad input. Everything is drawn from
one ``random.Random(seed)``, so a seed always yields the same requests.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loader.config import IngestSettings, RawStoreSettings

SHOP = "https://shop.example.com"

# category → (Vietnamese page title prefix, price range in VND, {brand: model names})
_CATALOG_SPEC: dict[str, tuple[str, tuple[int, int], dict[str, list[str]]]] = {
    "laptop": ("Laptop", (12_000_000, 45_000_000), {
        "Acer": ["Aspire 7", "Nitro V 15", "Swift Go 14"], "ASUS": ["Vivobook 15", "TUF Gaming F15", "ROG Strix G16"],
        "Dell": ["Inspiron 15", "XPS 13", "Latitude 5440"], "Gigabyte": ["G5 MF", "Aero 16"],
        "MSI": ["Modern 14", "Katana 15", "Thin GF63"], "LG": ["Gram 14", "Gram 16"], "Samsung": ["Galaxy Book4"],
    }),
    "keyboard": ("Bàn phím", (390_000, 4_500_000), {
        "Akko": ["3068B Plus", "5075B", "MOD007"], "AULA": ["M75 TM", "F75", "F99"], "Corsair": ["K70 RGB", "K65 Mini"],
        "DareU": ["EK87", "A98"], "Keychron": ["K2 Pro", "Q1 Max", "V1"], "Logitech": ["G Pro X TKL", "MX Keys S"],
        "Razer": ["BlackWidow V4", "Huntsman Mini"], "SteelSeries": ["Apex Pro TKL"],
    }),
    "monitor": ("Màn hình", (2_490_000, 19_900_000), {
        "AOC": ["24G2SP", "Q27G3XMN"], "ASUS": ["TUF VG249Q3A", "ProArt PA278CV"], "Dell": ["S2425H", "U2724D"],
        "Gigabyte": ["M27Q", "G24F 2"], "LG": ["27GP850", "24MR400"], "MSI": ["MAG 274QRF", "G2412"],
        "Samsung": ["Odyssey G5", "ViewFinity S6"], "ViewSonic": ["VX2479", "VA2432"], "Xiaomi": ["A27i", "G27i"],
    }),
    "mouse": ("Chuột", (150_000, 3_290_000), {
        "Logitech": ["G102 Lightsync", "G Pro X Superlight 2", "MX Master 3S"], "Razer": ["DeathAdder V3", "Viper V3 Pro"],
        "Corsair": ["M75 Wireless"], "DareU": ["EM901X", "A950"], "SteelSeries": ["Rival 3"], "Xiaomi": ["Mi Dual Mode"],
    }),
    "headphone": ("Tai nghe", (290_000, 4_990_000), {
        "Razer": ["BlackShark V2 X", "Kraken V4"], "Corsair": ["HS55 Stereo", "Virtuoso Max"],
        "SteelSeries": ["Arctis Nova 1", "Arctis Nova 7"], "Logitech": ["G435", "G Pro X 2"], "Xiaomi": ["Redmi Buds 6"],
    }),
    "accessory": ("Phụ kiện", (99_000, 1_490_000), {
        "Akko": ["Lót chuột Cinnamoroll"], "Logitech": ["Hub USB-C 7 in 1"], "Razer": ["Lót chuột Gigantus V2"],
        "Xiaomi": ["Giá đỡ màn hình"], "DareU": ["Balo laptop 15.6"], "Corsair": ["Lót chuột MM300"],
    }),
}  # fmt: skip

USER_AGENTS: list[tuple[str, float]] = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 0.25),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", 0.07),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0", 0.03),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", 0.05),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 0.2),
    ("Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", 0.18),
    ("Mozilla/5.0 (Linux; Android 13; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Zalo/1.0", 0.07),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 0.03),
    ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 0.02),
]  # fmt: skip
BROWSER_SAMPLE = USER_AGENTS[0][0]
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
]

# (referrer, landing query string, landing page kind, weight)
SOURCES: list[tuple[str | None, str, str, float]] = [
    (None, "", "home", 0.34),
    ("https://www.google.com/", "", "product", 0.22),
    ("https://www.google.com/", "", "category", 0.06),
    ("https://coccoc.com/search", "", "product", 0.04),
    ("https://www.facebook.com/", "utm_source=facebook&utm_medium=cpc&utm_campaign=black_friday_2026", "product", 0.12),
    ("https://zalo.me/", "utm_source=zalo&utm_medium=social&utm_campaign=oa_post", "category", 0.06),
    (None, "utm_source=newsletter&utm_medium=email&utm_campaign=weekly_deals", "product", 0.05),
    ("https://www.tiktok.com/", "utm_source=tiktok&utm_medium=paid_social&utm_campaign=gaming_gear", "product", 0.05),
    ("https://www.youtube.com/", "", "product", 0.03),
    ("https://tinhte.vn/", "", "category", 0.03),
]  # fmt: skip

# Hourly weight of visits by UTC hour (the shop's visitors are on UTC+7; evenings peak).
# A visit's events stop this long before ``now``, so even batched requests (sent up to ~20 s later) arrive by then.
_LAST_EVENT_MARGIN = timedelta(seconds=30)
_USER_NAMESPACE = uuid.UUID("0b9c7a52-3f1e-4d6a-8c2b-5e4f3a2d1c0b")  # users' ids: Cognito subs (UUIDs)
_HOUR_WEIGHTS = [6, 7, 8, 8, 7, 6, 6, 6, 6, 7, 8, 10, 12, 13, 14, 12, 8, 5, 3, 2, 1.5, 1.5, 2, 4]


@dataclass(frozen=True)
class Product:
    id: str  # a cuid, as Prisma makes them
    name: str
    category: str  # the product's variant: laptop, keyboard, ...
    brand: str
    price: int  # VND
    discount_price: int | None
    url_path: str

    @property
    def effective_price(self) -> int:
        return self.discount_price or self.price

    def payload(self) -> dict[str, Any]:
        """``product`` as the storefront's tracker sends it (``discountPrice`` only when there is one)."""
        sent: dict[str, Any] = {"id": self.id, "name": self.name, "category": self.category, "brand": self.brand,
                                "price": self.price, "urlPath": self.url_path}  # fmt: skip
        if self.discount_price is not None:
            sent["discountPrice"] = self.discount_price
        return sent


@dataclass(frozen=True)
class Category:
    """A row of the shop's Category table: what category_view sends as its ``product``."""

    id: str  # a cuid
    title: str  # Vietnamese, with its diacritics ("Bàn phím")
    slug: str  # the variant ("keyboard"); some pages send only this, as ``product.id``


def cuid(rng: random.Random) -> str:
    """An id shaped like Prisma's cuid(): 'c', then 24 lower-case base-36 characters."""
    return "c" + "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(24))


def _slug(text: str) -> str:
    """URL slug: Vietnamese letters without their marks (đ → d), lower case, hyphens."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return "-".join("".join(c if c.isascii() and c.isalnum() else " " for c in plain.lower()).split())


def build_catalog() -> tuple[list[Product], list[Category]]:
    """The shop's products and categories: fixed across seeds so repeated runs talk about the same items."""
    rng = random.Random(2026)
    products, categories = [], []
    for category, (title, (low, high), brands) in _CATALOG_SPEC.items():
        categories.append(Category(cuid(rng), title, category))
        for brand, models in brands.items():
            for model in models:
                name = f"{title} {brand} {model}"
                price = int(round(math.exp(rng.uniform(math.log(low), math.log(high))), -4))
                discount = int(round(price * rng.uniform(0.8, 0.95), -4)) if rng.random() < 0.2 else None
                products.append(Product(cuid(rng), name, category, brand, price, discount, f"/product/{_slug(name)}"))
    return products, categories


CATALOG, CATEGORY_ROWS = build_catalog()
CATEGORIES = sorted({p.category for p in CATALOG})
_CATEGORY_BY_SLUG = {row.slug: row for row in CATEGORY_ROWS}
SHARE_CHANNELS = ["facebook", "zalo", "messenger", "copy_link"]


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
        row = _CATEGORY_BY_SLUG[slug]
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
            visit.page_url = f"{SHOP}/checkout/success"
            order = Order(visit.client.client_id, visit.client.user_id if visit.client.logged_in else None,
                          tuple(cart), visit.now)  # fmt: skip
            order_id, order_number = (self.place_order(order) if self.place_order else None) or ("", "")
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


@dataclass
class ReplayReport:
    requests: int = 0
    events_accepted: int = 0
    events_rejected: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def replay(requests: Iterator[SimulatedRequest], store: Any, settings: Any | None = None) -> ReplayReport:
    """Send generated requests through the real ingest code path, each at its own receive time."""
    from loader.config import IngestSettings
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
    import time

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
