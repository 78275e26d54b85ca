{#-
    Product interactions per UTC day, product and `segments` (device_class, login_state: the event's), bots and
    zombies excluded. Checkout events carry no product: their counts come from the reconstructed carts
    (fct_cart_items). product_engagement_daily and product_engagement_daily_by_segment are this macro without and
    with the dashboard's segments; the shop's orders per product are in product_sales_daily.
-#}
{% macro product_engagement_by_day(segments=[]) -%}
{%- set event_columns = {'device_class': 'device_class', 'login_state': 'user_login_state'} %}
{%- set group_by = (['date_day', 'product_id'] + segments) | join(', ') %}
with

events as (
    select
        {{ utc_date('event_at') }} as date_day,
        product_id,
        product_name,
        product_category,
        product_brand,
        {%- for segment in segments %}
        {{ event_columns[segment] }} as {{ segment }},
        {%- endfor %}
        client_id,
        session_key,
        event_name,
        event_at,
        event_id,
        1 as quantity
    from {{ ref('fct_events') }}
    where
        product_id is not null
        and event_name not in ('checkout_start', 'checkout_complete')
        and {{ in_changed_periods('event_at') }}

    union all

    -- each product in a checkout's reconstructed cart counts for that checkout
    select
        checkout_date as date_day,
        product_id,
        product_name,
        product_category,
        product_brand,
        {%- for segment in segments %}
        {{ segment }},
        {%- endfor %}
        client_id,
        session_key,
        checkout_event_name as event_name,
        checkout_at as event_at,
        checkout_event_id as event_id,
        quantity
    from {{ ref('fct_cart_items') }}
    where {{ in_changed_periods('checkout_at') }}
),

per_product as (
    select
        date_day,
        product_id,
        {%- for segment in segments %}
        {{ segment }},
        {%- endfor %}
        {{ first_by('product_name', ['event_at desc', 'event_id desc']) }} as product_name,
        {{ first_by('product_category', ['event_at desc', 'event_id desc']) }} as product_category,
        {{ first_by('product_brand', ['event_at desc', 'event_id desc']) }} as product_brand,
        count(*) filter (where event_name = 'product_view') as views,
        count(distinct client_id) filter (where event_name = 'product_view') as unique_viewers,
        count(*) filter (where event_name = 'add_to_cart_click') as add_to_carts,
        count(*) filter (where event_name = 'remove_from_cart_click') as remove_from_carts,
        count(*) filter (where event_name = 'wishlist_toggle') as wishlist_toggles,
        count(*) filter (where event_name = 'share_click') as shares,
        count(*) filter (where event_name = 'checkout_start') as checkout_starts,
        count(*) filter (where event_name = 'checkout_complete') as purchases,
        coalesce(sum(quantity) filter (where event_name = 'checkout_complete'), 0) as purchased_units,
        count(distinct session_key) filter (where event_name = 'product_view') as viewing_sessions
    from events
    group by {{ group_by }}
),

final as (
    select
        date_day,
        product_id,
        product_name,
        product_category,
        product_brand,
        {%- for segment in segments %}
        {{ segment }},
        {%- endfor %}
        views::integer as views,
        unique_viewers::integer as unique_viewers,
        add_to_carts::integer as add_to_carts,
        remove_from_carts::integer as remove_from_carts,
        wishlist_toggles::integer as wishlist_toggles,
        shares::integer as shares,
        checkout_starts::integer as checkout_starts,
        purchases::integer as purchases,
        purchased_units::integer as purchased_units,
        round(add_to_carts::{{ type_decimal() }} / nullif(views, 0), 4) as view_to_cart_rate,
        viewing_sessions::integer as viewing_sessions
    from per_product
)

select * from final
{%- endmacro %}
