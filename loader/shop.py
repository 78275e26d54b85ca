"""The synthetic shop: its catalog (products and categories as Prisma stores them) and its audience (user agents,
traffic sources), fixed across seeds so repeated runs talk about the same items."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

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
    ("https://www.google.com/", "gclid=Cj0KCQiAgaming_laptops", "product", 0.05),  # a Google Ads click
    ("https://shopee.vn/", "", "product", 0.02),
    ("https://www.lazada.vn/", "", "product", 0.01),
]  # fmt: skip
# Payment gateways a checkout paid online goes through (their page is the referrer of the page the visitor returns to).
PAYMENT_GATEWAYS = [
    "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html",
    "https://payment.momo.vn/v2/gateway/pay",
    "https://mtf.onepay.vn/paygate/vpcpay.op",
]


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


def slug(text: str) -> str:
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
                products.append(Product(cuid(rng), name, category, brand, price, discount, f"/product/{slug(name)}"))
    return products, categories


CATALOG, CATEGORY_ROWS = build_catalog()
CATEGORIES = sorted({p.category for p in CATALOG})
CATEGORY_BY_SLUG = {row.slug: row for row in CATEGORY_ROWS}
SHARE_CHANNELS = ["facebook", "zalo", "messenger", "copy_link"]

# The paid sources of SOURCES and what the shop spends on them a day (VND): the demo's ad spend, for ROAS.
AD_SPEND_PER_DAY: list[tuple[str, str, int]] = [
    ("paid_social", "black_friday_2026", 2_400_000),  # facebook cpc
    ("paid_social", "gaming_gear", 1_100_000),  # tiktok paid_social
    ("paid_search", "(not set)", 1_800_000),  # Google Ads, auto-tagged (gclid, no UTM)
]


def ad_spend_csv(first: date, last: date) -> str:
    """The demo's ad spend from ``first`` to ``last`` (UTC days) as an ads manager's CSV export, trimmed to the four
    columns ``clickstream ad-spend import`` reads; the amounts vary a little from day to day."""
    lines = ["date,channel,campaign,spend"]
    day = first
    while day <= last:
        rng = random.Random(f"spend-{day.isoformat()}")
        for channel, campaign, amount in AD_SPEND_PER_DAY:
            lines.append(f"{day.isoformat()},{channel},{campaign},{int(round(amount * rng.uniform(0.8, 1.2), -4))}")
        day += timedelta(days=1)
    return "\n".join(lines) + "\n"
