"""Products: categories, brands and products ranked by views or add-to-carts (product_engagement_daily), and every
product in a sortable table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
from htmltools import TagList
from psycopg import sql
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, reactive, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout
from dashboard.filters import Filters, date_where, segmented

Breakdown = Literal["product", "category", "brand"]
RankBy = Literal["views", "add_to_carts"]
TOP_N = 10
_BREAKDOWN_KEYS: dict[str, tuple[str, ...]] = {
    "product": ("product_id",),
    "category": ("product_category",),
    "brand": ("product_brand",),
}
PRODUCT_COLUMNS = (
    "views",
    "add_to_carts",
    "view_to_cart_rate",
    "unique_viewer_days",
    "remove_from_carts",
    "wishlist_toggles",
    "shares",
    "checkout_starts",
    "purchases",
)
TABLE_COLUMNS = {
    "product_name": "Product",
    "product_category": "Category",
    "product_brand": "Brand",
    "views": "Views",
    "add_to_carts": "Add to cart",
    "view_to_cart_pct": "View → cart %",
    "unique_viewer_days": "Viewer-days",
    "remove_from_carts": "Removed from cart",
    "wishlist_toggles": "Wishlist",
    "shares": "Shares",
    "checkout_starts": "Checkout starts",
    "purchases": "Purchases",
    "product_id": "Product id",
}


# -- queries --------------------------------------------------------------------------------------
def ranking(
    pool: ConnectionPool,
    filters: Filters,
    by: Breakdown = "product",
    rank_by: RankBy = "views",
    limit: int | None = None,
) -> pd.DataFrame:
    """Products, categories or brands by views or add-to-carts (product_engagement_daily over the range).

    Products carry their latest name, category and brand. ``view_to_cart_rate`` = add_to_carts / views;
    ``unique_viewer_days`` sums the mart's per-day viewers (a client viewing on two days counts twice; with a
    segment chosen, once per day and segment).
    """
    if by not in _BREAKDOWN_KEYS:
        raise ValueError(f"by must be one of {', '.join(_BREAKDOWN_KEYS)}, got {by!r}")
    if rank_by not in ("views", "add_to_carts"):
        raise ValueError(f"rank_by must be views or add_to_carts, got {rank_by!r}")
    where, params = date_where(filters)
    key = sql.Identifier(_BREAKDOWN_KEYS[by][0])
    labels = (
        sql.SQL(
            """,
            (array_agg(product_name order by date_day desc) filter (where product_name is not null))[1] as product_name,
            (array_agg(product_category order by date_day desc) filter (where product_category is not null))[1]
                as product_category,
            (array_agg(product_brand order by date_day desc) filter (where product_brand is not null))[1]
                as product_brand"""
        )
        if by == "product"
        else sql.SQL("")
    )
    second = "add_to_carts" if rank_by == "views" else "views"
    query = sql.SQL(
        """
        select
            {key}{labels},
            sum(views)::bigint as views,
            sum(add_to_carts)::bigint as add_to_carts,
            sum(add_to_carts)::float8 / nullif(sum(views), 0) as view_to_cart_rate,
            sum(unique_viewers)::bigint as unique_viewer_days,
            sum(remove_from_carts)::bigint as remove_from_carts,
            sum(wishlist_toggles)::bigint as wishlist_toggles,
            sum(shares)::bigint as shares,
            sum(checkout_starts)::bigint as checkout_starts,
            sum(purchases)::bigint as purchases
        from {products}
        {where}
        group by {key}
        order by {rank} desc, {second} desc, {key} nulls last
        {limit}
        """
    ).format(
        key=key,
        labels=labels,
        products=segmented("product_engagement_daily", filters),
        where=where,
        rank=sql.Identifier(rank_by),
        second=sql.Identifier(second),
        limit=sql.SQL("limit %(limit)s") if limit is not None else sql.SQL(""),
    )
    if limit is not None:
        params["limit"] = limit
    columns = [_BREAKDOWN_KEYS[by][0]]
    if by == "product":
        columns += ["product_name", "product_category", "product_brand"]
    return db.frame(db.rows(pool, query, params), [*columns, *PRODUCT_COLUMNS])


# -- pieces ---------------------------------------------------------------------------------------
def figure(frame: pd.DataFrame, key: str, label_column: str, rank_by: str, top: int = TOP_N) -> go.Figure:
    """Horizontal bars of views and add-to-carts for the first ``top`` rows (already ranked)."""
    if frame.empty or frame["views"].sum() == 0:
        return charts.empty(key)
    head = frame.head(top).iloc[::-1]
    labels = head[label_column].fillna("(none)").astype(str)
    if labels.duplicated(keep=False).any() and "product_id" in head:  # two products named alike stay two bars
        repeated = labels.duplicated(keep=False)
        labels = labels.where(~repeated, labels + " (" + head["product_id"].astype(str) + ")")
    bars = go.Figure()
    for column, name, color in (
        ("views", "Views", charts.EVENTS_COLOR),
        ("add_to_carts", "Add to cart", charts.CART_COLOR),
    ):
        bars.add_trace(
            go.Bar(
                y=labels,
                x=head[column],
                name=name,
                orientation="h",
                marker_color=color,
                customdata=charts.values(head["view_to_cart_rate"]),
                hovertemplate="%{y}: %{x:,} " + name.lower() + "<br>view-to-cart %{customdata:.1%}<extra></extra>",
            )
        )
    return charts.style(
        bars,
        key,
        height=max(260, 34 * len(head) + 80),
        barmode="group",
        legend={"orientation": "h", "y": 1.1, "x": 0},
        xaxis_title="views" if rank_by == "views" else "add to cart",
    )


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel() -> NavSetArg:
    return layout.tab(
        "Products",
        layout.stylesheet(f"#{module.resolve_id('table')} td {{ white-space: nowrap; }}"),
        ui.input_radio_buttons(
            "rank_by",
            "Rank by",
            {"views": "Views", "add_to_carts": "Add to cart"},
            selected="views",
            inline=True,
        ),
        ui.layout_columns(
            layout.card("Top categories", ui.output_ui("categories")),
            layout.card("Top brands", ui.output_ui("brands")),
            col_widths=(6, 6),
        ),
        layout.card(f"Top {TOP_N} products", ui.output_ui("top_products")),
        layout.card(
            "All products",
            ui.output_data_frame("table"),
            note="Click a column to sort. Viewer-days: distinct viewers per day, summed over the range.",
        ),
    )


@module.server
def server(
    input: Inputs, output: Outputs, session: Session, filters: Callable[[], Filters], pool: ConnectionPool
) -> None:
    @reactive.calc
    async def every_product() -> pd.DataFrame:
        return await asyncio.to_thread(ranking, pool, filters(), "product", input.rank_by())

    async def top(by: Breakdown, label_column: str, element_id: str) -> TagList:
        f, rank_by = filters(), input.rank_by()
        frame = await asyncio.to_thread(ranking, pool, f, by, rank_by, TOP_N)
        return charts.html(figure(frame, f.key(), label_column, rank_by), element_id)

    @render.ui
    async def categories() -> TagList:
        return await top("category", "product_category", "categories_plot")

    @render.ui
    async def brands() -> TagList:
        return await top("brand", "product_brand", "brands_plot")

    @render.ui
    async def top_products() -> TagList:
        chart = figure(await every_product(), filters().key(), "product_name", input.rank_by(), TOP_N)
        return charts.html(chart, "products_plot")

    @render.data_frame
    async def table() -> render.DataGrid[Any]:
        frame = (await every_product()).copy()
        frame["view_to_cart_pct"] = (frame["view_to_cart_rate"] * 100).round(1)
        shown = frame[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
        return render.DataGrid(shown, width="100%", height="520px", summary=True)
