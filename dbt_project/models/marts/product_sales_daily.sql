{#-
    The shop's sales per UTC day and product: orders placed that day holding the product (tracked or not, any
    status), their units and paid revenue (fct_order_items), beside the sessions that viewed the product that day
    (product_engagement_daily): the product conversion rate is orders ÷ viewing sessions. A plain table rebuilt by
    every build (a status set later changes old days' revenue; the rows are few).
-#}
with

sales as (
    select
        ordered_date as date_day,
        product_id,
        {{ first_by('product_name', ['ordered_at desc', 'order_item_id desc']) }} as product_name,
        {{ first_by('product_category', ['ordered_at desc', 'order_item_id desc']) }} as product_category,
        {{ first_by('product_brand', ['ordered_at desc', 'order_item_id desc']) }} as product_brand,
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(revenue) as revenue
    from {{ ref('fct_order_items') }}
    group by ordered_date, product_id
),

views as (
    select
        date_day,
        product_id,
        product_name,
        product_category,
        product_brand,
        viewing_sessions
    from {{ ref('product_engagement_daily') }}
),

final as (
    select
        coalesce(sales.date_day, views.date_day) as date_day,
        coalesce(sales.product_id, views.product_id) as product_id,
        coalesce(sales.product_name, views.product_name) as product_name,
        coalesce(sales.product_category, views.product_category) as product_category,
        coalesce(sales.product_brand, views.product_brand) as product_brand,
        coalesce(views.viewing_sessions, 0)::integer as viewing_sessions,
        coalesce(sales.orders, 0)::integer as orders,
        coalesce(sales.units, 0)::integer as units,
        coalesce(sales.revenue, 0) as revenue,
        round(sales.orders::{{ type_decimal() }} / nullif(views.viewing_sessions, 0), 4) as product_conversion_rate
    from sales
    full outer join views on sales.date_day = views.date_day and sales.product_id = views.product_id
)

select * from final
