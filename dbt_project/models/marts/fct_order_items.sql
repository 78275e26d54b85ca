{#-
    One row per line of a shop order: the product (named as the shop's catalog names it now), its units and price,
    and the order's status, revenue flag and tracked session. revenue is the line's total when the order counts as
    revenue (fct_orders.is_revenue); the order's own total may differ from its lines' sum (shipping, vouchers).
    Computed whole by every build (small: the shop's order lines; a product renamed in the catalog renames all its
    lines) and compared with the previous build: only the lines that changed are rewritten.
-#}
{{
    rebuilt_and_compared(
        unique_key='order_item_id',
        indexes=[
            {'columns': ['ordered_at']},
            {'columns': ['product_id']},
        ],
    )
}}

with

items as (
    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        line_total
    from {{ ref('stg_shop__order_items') }}
),

orders as (
    select
        order_id,
        ordered_at,
        ordered_date,
        user_id,
        status,
        is_revenue,
        match_method,
        session_key,
        client_id,
        device_class,
        login_state
    from {{ ref('fct_orders') }}
),

products as (
    select
        product_id,
        product_name,
        product_category,
        brand_id
    from {{ ref('stg_shop__products') }}
),

brands as (
    select
        brand_id,
        brand_name
    from {{ ref('stg_shop__brands') }}
),

final as (
    select
        items.order_item_id,
        items.order_id,
        orders.ordered_at,
        orders.ordered_date,
        items.product_id,
        products.product_name,
        products.product_category,
        brands.brand_name as product_brand,
        items.quantity,
        items.unit_price,
        items.line_total,
        orders.is_revenue,
        case when orders.is_revenue then items.line_total else 0 end as revenue,
        orders.status,
        orders.user_id,
        orders.match_method,
        orders.session_key,
        orders.client_id,
        orders.device_class,
        orders.login_state
    from items
    inner join orders on items.order_id = orders.order_id
    left join products on items.product_id = products.product_id
    left join brands on products.brand_id = brands.brand_id
)

select * from final
