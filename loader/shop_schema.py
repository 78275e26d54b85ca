"""The shop database's tables as the ETL copies them: Prisma's tables and columns (quoted camelCase, in the shop's
schema) and their copies in the warehouse's schema ``raw_shop`` (snake_case), with how each copy is kept current.

The column lists are explicit: a column the shop adds is not copied until it is listed here (and in the
``raw_shop`` migration, ``loader/schema.py``); a required column the shop lacks stops the sync with its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How a table is kept current:
#   updated_at   rows whose "updatedAt" is at or after the last one seen, minus an overlap; deletes by comparing keys
#   whole        small dimensions: every row, every run (changed rows updated, missing ones marked deleted)
#   with_parent  children without timestamps (order items): re-read with their changed parents, and replaced
Sync = Literal["updated_at", "whole", "with_parent"]


@dataclass(frozen=True)
class Column:
    source: str  # Prisma's name ("createdAt")
    name: str  # raw_shop's name (created_at)
    type: str  # raw_shop's type; the shop's value is cast to it when read (an enum or varchar reads as text)
    required: bool = True  # missing in the shop: the sync stops naming it (optional ones read as null, with a warning)


@dataclass(frozen=True)
class Table:
    source: str  # Prisma's table ("Order")
    name: str  # raw_shop's table (orders)
    columns: tuple[Column, ...]
    sync: Sync
    parent: str | None = None  # with_parent: the raw_shop table whose re-read rows' children are re-read
    parent_key: str | None = None  # with_parent: this table's column holding the parent's id

    @property
    def key(self) -> Column:
        return self.columns[0]  # every table's first column is its primary key, "id"

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


def _id(required: bool = True) -> Column:
    return Column("id", "id", "text", required)


def _created() -> Column:
    return Column("createdAt", "created_at", "timestamp(3)")


def _updated() -> Column:
    return Column("updatedAt", "updated_at", "timestamp(3)")


# Personal data (e-mail, name) is not copied: the analytics need the account's id and age, not who it is.
USERS = Table("User", "users", (_id(), _created(), _updated()), "updated_at")
BRANDS = Table(
    "Brand",
    "brands",
    (
        _id(),
        Column("name", "name", "text"),
        Column("slug", "slug", "text", False),
        Column("imageUrl", "image_url", "text", False),
        Column("createdAt", "created_at", "timestamp(3)", False),
    ),
    "whole",
)
CATEGORIES = Table(
    "Category",
    "categories",
    (
        _id(),
        Column("title", "title", "text"),
        Column("slug", "slug", "text", False),
        Column("imageUrl", "image_url", "text", False),
        Column("createdAt", "created_at", "timestamp(3)", False),
    ),
    "whole",
)
PRODUCT_CATEGORIES = Table(
    "ProductCategory",
    "product_categories",
    (_id(), Column("productId", "product_id", "text"), Column("categoryId", "category_id", "text")),
    "whole",
)
PRODUCTS = Table(
    "Product",
    "products",
    (
        _id(),
        Column("name", "name", "text"),
        Column("slug", "slug", "text", False),
        Column("description", "description", "text", False),
        Column("price", "price", "numeric"),
        Column("discount", "discount", "numeric", False),
        Column("stock", "stock", "integer", False),
        Column("status", "status", "text", False),
        Column("variant", "variant", "text", False),
        Column("isFeatured", "is_featured", "boolean", False),
        Column("brandId", "brand_id", "text", False),
        Column("images", "images", "text[]", False),
        _created(),
        _updated(),
    ),
    "updated_at",
)
ORDERS = Table(
    "Order",
    "orders",
    (
        _id(),
        Column("userId", "user_id", "text"),
        Column("orderNumber", "order_number", "text"),
        Column("status", "status", "text"),
        Column("totalPrice", "total_price", "numeric"),
        Column("paymentStatus", "payment_status", "text"),
        _created(),
        _updated(),
    ),
    "updated_at",
)
ORDER_ITEMS = Table(
    "OrderItem",
    "order_items",
    (
        _id(),
        Column("orderId", "order_id", "text"),
        Column("productId", "product_id", "text"),
        Column("quantity", "quantity", "integer"),
        Column("price", "price", "numeric"),
    ),
    "with_parent",
    parent="orders",
    parent_key="order_id",
)

# In the order a sync copies them (a child after its parent).
SHOP_TABLES: tuple[Table, ...] = (BRANDS, CATEGORIES, PRODUCT_CATEGORIES, USERS, PRODUCTS, ORDERS, ORDER_ITEMS)
BOOKKEEPING_COLUMNS = ("_sync_id", "_synced_at", "_deleted_at")  # every raw_shop table's last three columns
