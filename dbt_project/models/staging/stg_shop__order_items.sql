{#- The shop's order lines (Prisma's "OrderItem"): a product, its quantity and unit price (VND) in one order. -#}
with

source as (
    select
        id,
        order_id,
        product_id,
        quantity,
        price
    from {{ source('raw_shop', 'order_items') }}
    where _deleted_at is null
),

final as (
    select
        id as order_item_id,
        order_id,
        product_id,
        quantity,
        price as unit_price,
        quantity * price as line_total
    from source
)

select * from final
