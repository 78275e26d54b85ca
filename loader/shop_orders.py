"""The synthetic shop's orders, agreeing with its generated checkouts, with the mismatches a real shop has.

:meth:`ShopOrders.place_order` is the traffic generator's hook: each completed checkout places an order (its id and
number go into the event when the storefront build sends them, a share of the time), except when the payment gateway
fails before the order is saved (a tracked purchase with no order). :meth:`ShopOrders.write` stores the orders in the
shop database together with orders whose visitors blocked tracking (no event at all), and moves every recent order
along its life: paid at once, paid later (bank transfer) or on delivery (cash on delivery), confirmed, shipped,
delivered; some payments fail, some orders are cancelled or refunded. An order's life is a function of its id and
creation time, so a later run (``make demo`` again) applies the changes that have come due since, as a shop's
back office would.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from loader.generate import Order, user_id_of
from loader.shop import CATALOG, Product, cuid
from loader.shop_database import create_prisma_tables, seed_catalog

IDS_SENT_SHARE = 0.7  # checkouts whose event carries orderId/orderNumber (the storefront builds that fill them)
GATEWAY_ERROR_SHARE = 0.015  # tracked purchases the payment gateway failed before the order was saved
UNTRACKED_SHARE = 0.12  # orders whose visitor blocked the tracker, per tracked order
LIFE_DAYS = 20  # an order's status may still change this long after it was placed
_NAMES = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu", "Phạm Quốc Dũng", "Hoàng Thu Hà", "Vũ Đức Huy",
          "Đặng Ngọc Lan", "Bùi Thanh Long", "Đỗ Mai Phương", "Hồ Gia Bảo", "Ngô Khánh Linh", "Dương Tuấn Kiệt")  # fmt: skip


@dataclass(frozen=True)
class Step:
    """A change in an order's life: from ``at`` on, its status and payment status."""

    at: datetime
    status: str
    payment_status: str


def life(order_id: str, placed_at: datetime) -> list[Step]:
    """Every state an order goes through, in time order (the first is its state when placed)."""
    rng = random.Random(order_id)

    def minutes(low: float, high: float) -> timedelta:  # whole milliseconds: what timestamp(3) keeps
        return timedelta(milliseconds=round(rng.uniform(low, high) * 60_000))

    steps = [Step(placed_at, "pending", "pending")]
    if rng.random() < 0.04:  # the card or wallet payment fails: the order is cancelled
        return [*steps, Step(placed_at + minutes(2, 10), "cancelled", "failed")]
    method = rng.choices(["online", "bank_transfer", "cash_on_delivery"], [0.55, 0.15, 0.30])[0]
    paid = "pending"
    if method == "online":
        paid = "paid"
        steps.append(Step(placed_at + minutes(1, 3), "pending", paid))
    confirmed_at = placed_at + minutes(30, 120)
    if method == "bank_transfer":  # paid later: the transfer arrives hours after the order
        paid = "paid"
        steps.append(Step(placed_at + minutes(60, 12 * 60), "pending", paid))
        confirmed_at = steps[-1].at + minutes(10, 60)
    steps.append(Step(confirmed_at, "confirmed", paid))
    if rng.random() < 0.03:  # cancelled before shipping: a paid order is refunded
        return [
            *steps,
            Step(confirmed_at + minutes(60, 20 * 60), "cancelled", "refunded" if paid == "paid" else "failed"),
        ]
    shipped_at = confirmed_at + minutes(12 * 60, 36 * 60)
    delivered_at = shipped_at + minutes(36 * 60, 4 * 24 * 60)
    steps += [Step(shipped_at, "shipped", paid), Step(delivered_at, "delivered", "paid")]
    if rng.random() < 0.02:  # returned within the week: refunded
        steps.append(Step(delivered_at + minutes(2 * 24 * 60, 7 * 24 * 60), "refunded", "refunded"))
    return steps


def state_at(steps: list[Step], moment: datetime) -> Step:
    """The order's state at ``moment`` (its ``at`` is the order's updatedAt then)."""
    return [step for step in steps if step.at <= moment][-1]


@dataclass
class _Placed:
    order_id: str
    number: str
    user_id: str | None
    items: list[tuple[Product, int]]  # product, quantity
    placed_at: datetime


@dataclass
class ShopWrite:
    """What :meth:`ShopOrders.write` did."""

    orders: int = 0
    tracked: int = 0  # placed at a tracked checkout
    untracked: int = 0  # placed by visitors who blocked the tracker
    gateway_errors: int = 0  # tracked purchases without an order
    status_changes: int = 0  # earlier orders whose status moved since the last write
    statuses: Counter[str] = field(default_factory=Counter)


class ShopOrders:
    """Orders for one slice of generated traffic, ``since`` to ``now`` (see the module's docstring)."""

    def __init__(self, *, seed: int, since: datetime, now: datetime, first_number: int = 1) -> None:
        self.rng = random.Random(f"orders-{seed}")
        self.since, self.now = since, now
        self._next_number = first_number
        self.placed: list[_Placed] = []
        self.gateway_errors = 0

    @classmethod
    def open(cls, conn: psycopg.Connection[Any], *, seed: int, since: datetime, now: datetime) -> ShopOrders:
        """For the shop database on ``conn``: its tables and catalog created if missing, order numbers following
        the ones it has."""
        create_prisma_tables(conn)
        seed_catalog(conn)
        row = conn.execute(
            """select coalesce(max(substring("orderNumber" from '^DH([0-9]+)$')::bigint), 0) from "Order" """
        ).fetchone()
        return cls(seed=seed, since=since, now=now, first_number=int(row[0] if row else 0) + 1)

    def _number(self) -> str:
        number = f"DH{self._next_number:07d}"
        self._next_number += 1
        return number

    def place_order(self, order: Order) -> tuple[str, str] | None:
        """The traffic generator's hook: the order of a completed checkout, and the (orderId, orderNumber) its event
        carries (empty when the storefront build does not send them; None when no order was saved)."""
        if self.rng.random() < GATEWAY_ERROR_SHARE:
            self.gateway_errors += 1
            return None
        quantities = Counter(product.id for product in order.items)
        products = {product.id: product for product in order.items}
        placed = _Placed(
            cuid(self.rng), self._number(), order.user_id,
            [(products[product_id], quantity) for product_id, quantity in quantities.items()],
            order.placed_at.replace(microsecond=order.placed_at.microsecond // 1000 * 1000),
        )  # fmt: skip
        self.placed.append(placed)
        return (placed.order_id, placed.number) if self.rng.random() < IDS_SENT_SHARE else ("", "")

    def _untracked(self, tracked: list[_Placed]) -> list[_Placed]:
        """Orders of visitors who blocked the tracker: known shop users, at any time of the slice."""
        users = [placed.user_id for placed in tracked if placed.user_id] or [user_id_of(0)]
        orders = []
        for _ in range(sum(self.rng.random() < UNTRACKED_SHARE for _ in tracked)):
            user = self.rng.choice(users) if self.rng.random() < 0.5 else user_id_of(self.rng.randrange(5000))
            items = [
                (product, self.rng.choice([1, 1, 1, 2])) for product in self.rng.sample(CATALOG, self.rng.randint(1, 3))
            ]
            placed_at = self.since + (self.now - self.since) * self.rng.random()
            placed_at = placed_at.replace(microsecond=placed_at.microsecond // 1000 * 1000)
            orders.append(_Placed(cuid(self.rng), self._number(), user, items, placed_at))
        return orders

    def write(self, conn: psycopg.Connection[Any]) -> ShopWrite:
        """Store this slice's orders (and the untracked ones), their users and items, each in its state at ``now``,
        and move the earlier orders to theirs, in one transaction."""
        tracked = [placed for placed in self.placed if placed.placed_at <= self.now]
        orders = tracked + self._untracked(tracked)
        done = ShopWrite(tracked=len(tracked), untracked=len(orders) - len(tracked), gateway_errors=self.gateway_errors)
        with conn.transaction(), conn.cursor() as cur:
            first_orders: dict[str, datetime] = {}
            for placed in orders:
                if placed.user_id and placed.placed_at < first_orders.get(
                    placed.user_id, placed.placed_at + timedelta(1)
                ):
                    first_orders[placed.user_id] = placed.placed_at
            cur.executemany(
                'insert into "User" ("id", "email", "name", "createdAt", "updatedAt") values (%s, %s, %s, %s, %s)'
                " on conflict do nothing",
                [
                    (user, f"khach.{user[:8]}@example.vn", random.Random(user).choice(_NAMES), _naive(at - timedelta(days=3)),
                     _naive(at - timedelta(days=3)))
                    for user, at in first_orders.items()
                ],
            )  # fmt: skip
            rows, items = [], []
            for placed in orders:
                state = state_at(life(placed.order_id, placed.placed_at), self.now)
                total = sum(product.effective_price * quantity for product, quantity in placed.items)
                rows.append((placed.order_id, placed.user_id, placed.number, state.status, total, state.payment_status,
                             _naive(placed.placed_at), _naive(state.at)))  # fmt: skip
                items += [
                    (f"{placed.order_id}-{line}", placed.order_id, product.id, quantity, product.effective_price)
                    for line, (product, quantity) in enumerate(placed.items, 1)
                ]
                done.statuses[state.status] += 1
            cur.executemany(
                'insert into "Order" ("id", "userId", "orderNumber", "status", "totalPrice", "paymentStatus",'
                ' "createdAt", "updatedAt") values (%s, %s, %s, %s, %s, %s, %s, %s)',
                rows,
            )
            cur.executemany(
                'insert into "OrderItem" ("id", "orderId", "productId", "quantity", "price") values (%s, %s, %s, %s, %s)',
                items,
            )
            done.orders = len(rows)
            done.status_changes = advance_orders(conn, self.now, exclude={placed.order_id for placed in orders})
        return done


def _naive(moment: datetime) -> datetime:
    """As Prisma stores instants: timestamp(3), UTC, without a zone."""
    return moment.replace(tzinfo=None)


def advance_orders(conn: psycopg.Connection[Any], now: datetime, *, exclude: set[str] | None = None) -> int:
    """Move the orders placed in the last :data:`LIFE_DAYS` days to their state at ``now`` (what the back office
    did since); returns how many changed."""
    rows = conn.execute(
        sql.SQL('select "id", "createdAt", "updatedAt" from "Order" where "createdAt" between %s and %s'),
        (_naive(now - timedelta(days=LIFE_DAYS)), _naive(now)),
    ).fetchall()
    changes = []
    for order_id, created_at, updated_at in rows:
        if exclude and order_id in exclude:
            continue
        state = state_at(life(order_id, created_at.replace(tzinfo=now.tzinfo)), now)
        if _naive(state.at) > updated_at:  # only forward: a slice generated for an earlier moment changes nothing
            changes.append((state.status, state.payment_status, _naive(state.at), order_id))
    with conn.cursor() as cur:
        cur.executemany(
            'update "Order" set "status" = %s, "paymentStatus" = %s, "updatedAt" = %s where "id" = %s', changes
        )
    return len(changes)
