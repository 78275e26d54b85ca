"""Where visits come from and which channels the orders are credited to, on hand-made visits sent through the
collector and orders written into the shop's database: the channel rules as the seeds ship them, and a
payment gateway's redirect in the middle of a checkout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loader.config import WarehouseSettings
from tests.support.built_warehouse import Warehouse

T = datetime(2026, 11, 20, 10, tzinfo=UTC)
SHOP = "https://shop.example.com"

# (client, landing query, referrer) → (source, medium, channel)
LANDINGS = {
    "google": ("", "https://www.google.com.vn/", ("google", "organic", "organic_search")),
    "coccoc": ("", "https://coccoc.com/search?query=ban+phim", ("coccoc", "organic", "organic_search")),
    "facebook-ads": ("utm_source=Facebook&utm_medium=CPC&utm_campaign=black_friday", "https://www.google.com/",
                     ("facebook", "cpc", "paid_social")),
    "google-ads": ("gclid=Cj0KCQiA123", None, ("google", "cpc", "paid_search")),
    "zalo": ("utm_source=zalo&utm_medium=social&utm_campaign=oa_post", "https://zalo.me/", ("zalo", "social", "organic_social")),
    "shopee": ("", "https://shopee.vn/shop/123", ("shopee", "referral", "organic_shopping")),
    "youtube": ("", "https://m.youtube.com/watch?v=x", ("youtube", "referral", "organic_video")),
    "forum": ("", "https://tinhte.vn/thread/ban-phim", ("tinhte.vn", "referral", "referral")),
    "newsletter": ("utm_source=newsletter&utm_medium=email&utm_campaign=weekly_deals", None, ("newsletter", "email", "email")),
    "webmail": ("", "https://mail.google.com/mail/u/0/", ("gmail", "referral", "email")),
    "typed": ("", None, ("(direct)", "(none)", "direct")),
    "flyer": ("utm_source=partner&utm_medium=qr_flyer", None, ("partner", "qr_flyer", "unassigned")),
    "own-domain": ("", "https://shop.example.com/blog/chon-ban-phim", ("(direct)", "(none)", "direct")),
}  # fmt: skip


def event(client: str, name: str, query: str = "", referrer: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"eventName": name, "clientId": client, "pageUrl": f"{SHOP}/{'?' + query if query else ''}",
            "referrer": referrer, "userLoginState": "anonymous", **fields}  # fmt: skip
    if "userId" in fields:
        body["userLoginState"] = "logged_in"
    return body


@pytest.fixture
def warehouse(tmp_path: Path, dw: WarehouseSettings) -> Warehouse:
    return Warehouse(tmp_path, dw)


def test_sessions_take_their_source_and_channel_from_utm_then_click_ids_then_the_referrer(warehouse: Warehouse) -> None:
    for number, (client, (query, referrer, _)) in enumerate(LANDINGS.items()):
        warehouse.send(T + timedelta(minutes=number), event(client, "page_view", query, referrer))
    warehouse.load()
    warehouse.build()
    found = {
        client: (source, medium, channel)
        for client, source, medium, channel in warehouse.query(
            "select client_id, source, medium, channel from marts.fct_sessions"
        )
    }
    assert found == {client: expected for client, (_, _, expected) in LANDINGS.items()}
    assert warehouse.query(
        "select campaign, source_category, click_id_parameter from marts.fct_sessions where client_id = 'facebook-ads'"
    ) == [("black_friday", "social", None)]
    assert warehouse.one("select click_id_parameter from marts.fct_sessions where client_id = 'google-ads'") == "gclid"
    assert warehouse.one("select is_referral_continuation from marts.fct_sessions where client_id = 'own-domain'"), (
        "the shop's own domain is no referrer"
    )


def test_a_payment_gateway_redirect_mid_checkout_steals_no_credit(warehouse: Warehouse) -> None:
    """A visitor from a Facebook ad checks out and pays through VNPay; the OTP takes 40 minutes, so the return is a
    new session, whose referrer is the gateway. That session is direct, flagged as a continuation, and no touch:
    every model credits the ad; the order is placed by the user of the session that came back."""
    client, user, ad = "paying-client", "paying-user", "utm_source=facebook&utm_medium=cpc&utm_campaign=black_friday"
    warehouse.send(T, event(client, "page_view", ad, "https://www.facebook.com/", userId=user))
    warehouse.send(T + timedelta(minutes=5), event(client, "checkout_start", userId=user))
    gateway = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html"
    warehouse.send(T + timedelta(minutes=45), event(client, "checkout_complete", "vnp_ResponseCode=00", gateway,
                                                    userId=user, element={"dataset": {"orderId": "o-paid"}}))  # fmt: skip
    naive = (T + timedelta(minutes=6)).replace(tzinfo=None)
    warehouse.shop_execute(
        'insert into "User" (id, email, "createdAt", "updatedAt") values (%s, %s, %s, %s)',
        user,
        "p@example.vn",
        naive,
        naive,
    )
    warehouse.shop_execute(
        """insert into "Order" values ('o-paid', %s, 'DH-P', 'confirmed', 2000000, 'paid', %s, %s)""",
        user,
        naive,
        naive,
    )
    warehouse.load()
    warehouse.build()

    sessions = warehouse.query(
        "select channel, source, is_referral_continuation from marts.fct_sessions where client_id = %s order by started_at",
        client,
    )
    assert sessions == [("paid_social", "facebook", False), ("direct", "(direct)", True)]
    assert warehouse.one("select match_method from marts.fct_orders where order_id = 'o-paid'") == "order_id"
    paths = warehouse.query(
        "select channel, first_touch, last_touch, last_non_direct, linear, position_based, time_decay, markov"
        " from marts.attribution_paths where order_id = 'o-paid'"
    )
    assert paths == [("paid_social", 1, 1, 1, 1, 1, 1, 1)], "the gateway's return is no touch"
    credited = warehouse.query(
        "select model, channel, attributed_conversions, attributed_revenue from marts.attribution_channel_daily"
        " where date_day = %s order by model",
        T.date(),
    )
    assert {(model, channel, conversions, revenue) for model, channel, conversions, revenue in credited} == {
        (model, "paid_social", 1, 2_000_000)
        for model in (
            "first_touch",
            "last_touch",
            "last_non_direct",
            "linear",
            "position_based",
            "time_decay",
            "markov",
        )
    }


def test_ad_spend_imported_from_a_csv_gives_roas_and_a_corrected_file_replaces_it(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    def clickstream(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "clickstream", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip

    client, ad = "ad-client", "utm_source=facebook&utm_medium=cpc&utm_campaign=black_friday"
    warehouse.send(T, event(client, "page_view", ad, None, userId="ad-user"))
    warehouse.send(T + timedelta(minutes=3), event(client, "checkout_complete", userId="ad-user",
                                                   element={"dataset": {"orderId": "o-ad"}}))  # fmt: skip
    naive = (T + timedelta(minutes=2)).replace(tzinfo=None)
    warehouse.shop_execute('insert into "Order" values (%s, null, %s, %s, %s, %s, %s, %s)', "o-ad", "DH-AD", "delivered",
                           3_000_000, "paid", naive, naive)  # fmt: skip
    spend = tmp_path / "spend.csv"
    spend.write_text(f"date,channel,campaign,spend\n{T.date()},paid_social,black_friday,1.500.000\n")
    imported = clickstream("ad-spend", "import", str(spend))
    assert imported.returncode == 0 and "1 rows added, 0 replaced" in imported.stdout, imported.stderr
    warehouse.load()
    warehouse.build()

    def roas() -> list[tuple[Any, ...]]:
        return warehouse.query(
            "select spend, roas from marts.attribution_campaign_daily"
            " where date_day = %s and model = 'markov' and campaign = 'black_friday'",
            T.date(),
        )

    assert roas() == [(1_500_000, 2)]
    spend.write_text(f"date,channel,campaign,spend\n{T.date()},paid_social,black_friday,1000000\n")
    assert "0 rows added, 1 replaced" in clickstream("ad-spend", "import", str(spend)).stdout
    warehouse.build()
    assert roas() == [(1_000_000, 3)], "a corrected file replaces the day's spend, never adds to it"

    spend.write_text(f"date,channel,campaign,spend\n{T.date()},tv,prime_time,1000000\n")
    refused = clickstream("ad-spend", "import", str(spend))
    assert refused.returncode == 1 and "line 2: channel 'tv' is not a channel (known: " in refused.stderr
