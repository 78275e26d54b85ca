"""A shop database for the demo and the tests: the shop's Prisma tables, as ``prisma migrate`` creates them (quoted
camelCase names, text ids, ``timestamp(3)`` instants in UTC), filled with the synthetic shop's catalog and with
orders that agree with the generated checkouts (:mod:`loader.shop_orders`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from loader.shop import CATALOG, CATEGORY_ROWS, cuid, slug

_CATALOG_LISTED_AT = datetime(2025, 1, 6, 3, 0, tzinfo=UTC).replace(tzinfo=None)  # Prisma stores UTC, without zone

# The tables and columns the issue gives for the shop's schema (Prisma's defaults for ids, timestamps and relations;
# "userId" may be null: a guest checkout).
PRISMA_TABLES = """
CREATE TABLE IF NOT EXISTS "User" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "User_email_key" ON "User"("email");

CREATE TABLE IF NOT EXISTS "Brand" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "imageUrl" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Brand_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "Brand_slug_key" ON "Brand"("slug");

CREATE TABLE IF NOT EXISTS "Category" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "imageUrl" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Category_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "Category_slug_key" ON "Category"("slug");

CREATE TABLE IF NOT EXISTS "Product" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "description" TEXT,
    "price" INTEGER NOT NULL,
    "discount" INTEGER NOT NULL DEFAULT 0,
    "stock" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'active',
    "variant" TEXT,
    "isFeatured" BOOLEAN NOT NULL DEFAULT false,
    "brandId" TEXT,
    "images" TEXT[],
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "Product_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "Product_slug_key" ON "Product"("slug");

CREATE TABLE IF NOT EXISTS "ProductCategory" (
    "id" TEXT NOT NULL,
    "productId" TEXT NOT NULL,
    "categoryId" TEXT NOT NULL,
    CONSTRAINT "ProductCategory_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "Order" (
    "id" TEXT NOT NULL,
    "userId" TEXT,
    "orderNumber" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "totalPrice" INTEGER NOT NULL,
    "paymentStatus" TEXT NOT NULL DEFAULT 'pending',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "Order_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "Order_orderNumber_key" ON "Order"("orderNumber");

CREATE TABLE IF NOT EXISTS "OrderItem" (
    "id" TEXT NOT NULL,
    "orderId" TEXT NOT NULL,
    "productId" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "price" INTEGER NOT NULL,
    CONSTRAINT "OrderItem_pkey" PRIMARY KEY ("id")
);
"""

PRISMA_FOREIGN_KEYS = (
    ("Product", "Product_brandId_fkey", '"brandId"', '"Brand"("id") ON DELETE SET NULL ON UPDATE CASCADE'),
    ("ProductCategory", "ProductCategory_productId_fkey", '"productId"',
     '"Product"("id") ON DELETE CASCADE ON UPDATE CASCADE'),
    ("ProductCategory", "ProductCategory_categoryId_fkey", '"categoryId"',
     '"Category"("id") ON DELETE CASCADE ON UPDATE CASCADE'),
    ("Order", "Order_userId_fkey", '"userId"', '"User"("id") ON DELETE SET NULL ON UPDATE CASCADE'),
    ("OrderItem", "OrderItem_orderId_fkey", '"orderId"', '"Order"("id") ON DELETE CASCADE ON UPDATE CASCADE'),
    ("OrderItem", "OrderItem_productId_fkey", '"productId"', '"Product"("id") ON DELETE RESTRICT ON UPDATE CASCADE'),
)  # fmt: skip


def create_prisma_tables(conn: psycopg.Connection[Any], schema: str = "public") -> None:
    """The shop's tables in ``schema`` (idempotent), with Prisma's foreign keys."""
    with conn.transaction():
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("set local search_path to {}").format(sql.Identifier(schema)))
        conn.execute(PRISMA_TABLES)  # type: ignore[arg-type]
        for table, name, column, reference in PRISMA_FOREIGN_KEYS:
            exists = conn.execute(
                "select 1 from pg_constraint where conname = %s and connamespace = %s::regnamespace", (name, schema)
            ).fetchone()
            if not exists:
                conn.execute(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ({column}) REFERENCES {reference}'
                )  # type: ignore[arg-type]


def _brand_id(name: str) -> str:
    return cuid(random.Random(f"brand-{name}"))


def seed_catalog(conn: psycopg.Connection[Any], schema: str = "public") -> int:
    """The synthetic shop's brands, categories and products (:mod:`loader.shop`, the ids its tracker sends) in the
    shop database, once (rows already there are left alone); returns the products added."""
    listed = _CATALOG_LISTED_AT
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("set local search_path to {}").format(sql.Identifier(schema)))
        brands = sorted({product.brand for product in CATALOG})
        cur.executemany(
            'insert into "Brand" ("id", "name", "slug", "createdAt") values (%s, %s, %s, %s) on conflict do nothing',
            [(_brand_id(brand), brand, slug(brand), listed) for brand in brands],
        )
        cur.executemany(
            'insert into "Category" ("id", "title", "slug", "createdAt") values (%s, %s, %s, %s) on conflict do nothing',
            [(row.id, row.title, row.slug, listed) for row in CATEGORY_ROWS],
        )
        rng = random.Random(2026)
        products = [
            (
                product.id, product.name, product.url_path.rsplit("/", 1)[-1], f"{product.name} chính hãng",
                product.price, product.price - product.discount_price if product.discount_price else 0,
                rng.randint(0, 120), "active", product.category, rng.random() < 0.1, _brand_id(product.brand),
                [f"/images/products{product.url_path.removeprefix('/product')}.webp"], listed, listed,
            )
            for product in CATALOG
        ]  # fmt: skip
        cur.executemany(
            'insert into "Product" ("id", "name", "slug", "description", "price", "discount", "stock", "status",'
            ' "variant", "isFeatured", "brandId", "images", "createdAt", "updatedAt")'
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            products,
        )
        added = cur.rowcount
        categories = {row.slug: row.id for row in CATEGORY_ROWS}
        cur.executemany(
            'insert into "ProductCategory" ("id", "productId", "categoryId") values (%s, %s, %s) on conflict do nothing',
            [(f"pc-{product.id}", product.id, categories[product.category]) for product in CATALOG],
        )
    return added
