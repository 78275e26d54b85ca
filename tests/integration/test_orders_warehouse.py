"""Orders in the warehouse, on hand-built cases: the shop's orders (written into its database as the back office
would) matched to hand-made tracked purchases (through the collector), revenue and reconciliation, then late status
changes, a deletion and a late event, built incrementally and compared with a full refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loader.config import WarehouseSettings
from loader.shop import CATALOG
from tests.support.built_warehouse import Warehouse

DAY = datetime(2026, 11, 20, tzinfo=UTC)
KEYBOARD, MOUSE = CATALOG[10], CATALOG[30]  # products of the shop's catalog (their ids are the shop's)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


class Shop:
    """The hand-built day: visitors' purchases through the collector, orders in the shop's database."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.sent = 0

    def purchase(self, client: str, user: str | None, moment: datetime, total: int, order_id: str = "",
                 number: str = "", *, cart: bool = True) -> None:  # fmt: skip
        """A visit ending with checkout_complete at ``moment`` (what the storefront's tracker sends)."""
        base = {"clientId": client, "sessionId": f"tab-{client}", "pageUrl": "https://shop.example.com/checkout"}
        if user:
            base |= {"userId": user, "userLoginState": "logged_in"}
        else:
            base |= {"userLoginState": "anonymous"}
        if cart:
            self._send(
                moment - timedelta(minutes=3), base | {"eventName": "add_to_cart_click", "product": KEYBOARD.payload()}
            )
            self._send(moment - timedelta(minutes=1), base | {"eventName": "checkout_start",
                       "element": {"dataset": {"cartId": "", "total": str(total), "itemCount": "1"}}})  # fmt: skip
        dataset = {"orderId": order_id, "orderNumber": number, "total": str(total)}
        self._send(moment, base | {"eventName": "checkout_complete", "element": {"dataset": dataset}})

    def _send(self, moment: datetime, body: dict[str, Any]) -> None:
        self.sent += 1
        self.warehouse.send(moment, {**body, "eventId": f"00000000-0000-4000-8000-{self.sent:012d}"})

    def order(self, order_id: str, user: str | None, moment: datetime, total: int, status: str, payment: str,
              number: str | None = None) -> None:  # fmt: skip
        """An order of one keyboard line and, for the rest of the total, mice (the shop's catalog)."""
        naive = moment.replace(tzinfo=None)
        if user:
            self.warehouse.shop_execute(
                'insert into "User" (id, email, "createdAt", "updatedAt") values (%s, %s, %s, %s) on conflict do nothing',
                user, f"{user}@example.vn", naive, naive,
            )  # fmt: skip
        self.warehouse.shop_execute(
            'insert into "Order" values (%s, %s, %s, %s, %s, %s, %s, %s)',
            order_id, user, number or f"DH-{order_id}", status, total, payment, naive, naive,
        )  # fmt: skip
        self.warehouse.shop_execute(
            'insert into "OrderItem" values (%s, %s, %s, 1, %s)', f"{order_id}-1", order_id, KEYBOARD.id, total
        )

    def change(self, order_id: str, moment: datetime, **columns: str) -> None:
        assignments = ", ".join(f'"{name}" = %s' for name in columns)
        self.warehouse.shop_execute(
            f'update "Order" set {assignments}, "updatedAt" = %s where id = %s',
            *columns.values(), moment.replace(tzinfo=None), order_id,
        )  # fmt: skip


@pytest.fixture
def day(tmp_path: Path, dw: WarehouseSettings) -> tuple[Warehouse, Shop]:
    warehouse = Warehouse(tmp_path, dw)
    shop = Shop(warehouse)
    # by id: oA (the success page reloaded: a duplicate), oF (refunded); by number only: oB (an anonymous visitor)
    shop.purchase("cA", "uA", at(10), 1_000_000, "oA")
    shop.purchase("cA", "uA", at(10) + timedelta(minutes=2), 1_000_000, "oA", cart=False)
    shop.order("oA", "uA", at(10) - timedelta(seconds=10), 1_000_000, "delivered", "paid")
    shop.purchase("cB", None, at(11), 2_000_000, number="DH-B")
    shop.order("oB", "uB", at(11) - timedelta(seconds=5), 2_000_000, "shipped", "paid", number="DH-B")
    shop.purchase("cF", "uF", at(14), 700_000, "oF")
    shop.order("oF", "uF", at(14) - timedelta(seconds=10), 700_000, "refunded", "refunded")
    # by user and time, ambiguous: uC's two purchases without ids and two orders; each goes to the closest
    shop.purchase("cC", "uC", at(12), 400_000)
    shop.purchase("cC", "uC", at(12.1), 300_000, cart=False)
    shop.order("oC2", "uC", at(12) - timedelta(seconds=5), 400_000, "delivered", "paid")
    shop.order("oC1", "uC", at(12.1) - timedelta(seconds=10), 300_000, "delivered", "paid")
    # by user and time: cash on delivery, not paid yet
    shop.purchase("cH", "uH", at(16), 900_000)
    shop.order("oH", "uH", at(16) - timedelta(seconds=20), 900_000, "shipped", "pending")
    # unmatched both ways: an order nobody tracked; a purchase naming an order the shop lacks; a gateway error
    shop.order("oD", "uD", at(13), 5_000_000, "delivered", "paid")
    shop.purchase("cE", None, at(15), 500_000, "o-missing")
    shop.purchase("cG", None, at(15.5), 800_000)
    warehouse.load()
    warehouse.build()
    return warehouse, shop


def orders(warehouse: Warehouse) -> dict[str, tuple[Any, ...]]:
    rows = warehouse.query(
        "select order_id, match_method, client_id, revenue, is_revenue, tracked_at from marts.fct_orders"
    )
    return {row[0]: row[1:] for row in rows}


def reconciliation(warehouse: Warehouse) -> dict[str, Any]:
    rows = warehouse.query("select * from marts.order_reconciliation_daily where date_day = %s", DAY.date())
    columns = [c for (c,) in warehouse.query(
        "select column_name from information_schema.columns where table_schema = 'marts'"
        " and table_name = 'order_reconciliation_daily' order by ordinal_position"
    )]  # fmt: skip
    return dict(zip(columns, rows[0], strict=True))


def session_revenue(warehouse: Warehouse, client: str) -> list[tuple[Any, ...]]:
    return warehouse.query(
        "select order_count, revenue from marts.fct_sessions where client_id = %s order by started_at", client
    )


def test_orders_match_by_id_number_or_user_and_time_and_reconcile_with_the_tracker(day: tuple[Warehouse, Shop]) -> None:
    warehouse, _ = day
    found = orders(warehouse)
    assert {order_id: row[0] for order_id, row in found.items()} == {
        "oA": "order_id", "oB": "order_id", "oF": "order_id",
        "oC1": "user_time", "oC2": "user_time", "oH": "user_time",
        "oD": "none",
    }  # fmt: skip
    assert found["oC2"][4] == at(12) and found["oC1"][4] == at(12.1), "each goes to the closest purchase"
    assert found["oB"][1] == "cB", "the anonymous visitor who named the order's number placed it"
    assert {order_id: (row[2], row[3]) for order_id, row in found.items()} == {
        "oA": (1_000_000, True), "oB": (2_000_000, True), "oC1": (300_000, True), "oC2": (400_000, True),
        "oD": (5_000_000, True), "oF": (0, False), "oH": (0, False),
    }  # fmt: skip

    daily = reconciliation(warehouse)
    assert {key: daily[key] for key in (
        "shop_orders", "tracked_orders", "matched_orders", "matched_by_order_id", "matched_by_user_time",
        "unmatched_tracked_purchases", "duplicate_tracked_purchases", "paid_orders",
    )} == {
        "shop_orders": 7, "tracked_orders": 9, "matched_orders": 6, "matched_by_order_id": 3,
        "matched_by_user_time": 3, "unmatched_tracked_purchases": 2, "duplicate_tracked_purchases": 1,
        "paid_orders": 5,
    }  # fmt: skip
    assert (daily["shop_revenue"], daily["matched_revenue"], daily["tracked_revenue"]) == (
        8_700_000,
        3_700_000,
        7_600_000,
    )
    assert (daily["capture_rate"], daily["revenue_capture_rate"]) == (Decimal("0.8571"), Decimal("0.4253"))

    assert session_revenue(warehouse, "cA") == [(1, 1_000_000)]
    assert session_revenue(warehouse, "cC") == [(2, 700_000)], "both orders in the one session"
    assert session_revenue(warehouse, "cH") == [(1, 0)], "cash on delivery: an order, no revenue yet"
    assert warehouse.query("select order_count, lifetime_revenue from marts.dim_clients where client_id = 'cB'") == [
        (1, 2_000_000)
    ]
    assert (
        warehouse.one("select revenue from marts.funnel_daily where date_day = %s and step_order = 0", DAY.date())
        == 3_700_000
    )
    assert warehouse.query(
        "select orders, units, revenue from marts.product_sales_daily where date_day = %s and product_id = %s",
        DAY.date(), KEYBOARD.id,
    ) == [(7, 7, 8_700_000)]  # fmt: skip


def test_late_status_changes_a_deleted_order_and_a_late_event_reach_every_mart_as_a_full_refresh_would(
    day: tuple[Warehouse, Shop],
) -> None:
    warehouse, shop = day
    later = at(24 * 5)
    shop.change("oH", later, status="delivered", paymentStatus="paid")  # cash on delivery, paid at the door
    shop.change("oA", later, status="refunded", paymentStatus="refunded")  # returned
    warehouse.shop_execute('delete from "Order" where id = %s', "oB")
    shop.purchase("cD", "uD", at(13) + timedelta(seconds=20), 5_000_000)  # the untracked order's event, late
    warehouse.load()
    stamps_before = dict(warehouse.query("select order_id, dbt_processed_at from marts.fct_orders"))
    warehouse.build()
    stamps_after = dict(warehouse.query("select order_id, dbt_processed_at from marts.fct_orders"))
    rewritten = {order for order, stamp in stamps_after.items() if stamps_before.get(order) != stamp}
    assert rewritten == {"oH", "oA", "oD"}, "a build rewrites only the orders that changed"

    found = orders(warehouse)
    assert "oB" not in found and found["oD"][:2] == ("user_time", "cD") and found["oA"][2] == 0
    assert session_revenue(warehouse, "cH") == [(1, 900_000)]
    assert session_revenue(warehouse, "cA") == [(1, 0)]
    assert session_revenue(warehouse, "cB") == [(0, 0)]
    assert session_revenue(warehouse, "cD") == [(1, 5_000_000)]
    daily = reconciliation(warehouse)
    assert (daily["shop_orders"], daily["matched_orders"], daily["unmatched_tracked_purchases"]) == (6, 6, 3)
    assert (daily["shop_revenue"], daily["capture_rate"]) == (6_600_000, Decimal("1.0000"))
    assert (
        warehouse.one("select revenue from marts.funnel_daily where date_day = %s and step_order = 0", DAY.date())
        == 6_600_000
    )

    warehouse.snapshot()
    warehouse.build("--full-refresh")
    differences = warehouse.differences_from_snapshot(every_table_has_rows=False)
    assert differences == dict.fromkeys(warehouse.compared, 0)
