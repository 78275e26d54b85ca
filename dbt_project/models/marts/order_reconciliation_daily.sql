{#-
    The shop's orders against the tracker's purchases, per UTC day: how many orders (and how much revenue) the
    clickstream saw. Orders count on the day they were placed; tracked purchases (checkout_complete events) on the
    day they happened. A tracked purchase is matched (it placed an order), a duplicate (it names an order another
    event already matched: the success page seen twice) or unmatched (no order: a failed payment the shop never
    saved, an order from another system, or an id the shop does not have).
-#}
with

orders as (
    select
        ordered_date as date_day,
        count(*) as shop_orders,
        count(*) filter (where match_method <> 'none') as matched_orders,
        count(*) filter (where match_method = 'order_id') as matched_by_order_id,
        count(*) filter (where match_method = 'user_time') as matched_by_user_time,
        count(*) filter (where is_revenue) as paid_orders,
        sum(revenue) as shop_revenue,
        coalesce(sum(revenue) filter (where match_method <> 'none'), 0) as matched_revenue
    from {{ ref('fct_orders') }}
    group by ordered_date
),

matched_events as (
    select matched_event_id as event_id
    from {{ ref('fct_orders') }}
    where matched_event_id is not null
),

named_orders as (
    select
        order_id,
        order_number
    from {{ ref('stg_shop__orders') }}
),

purchases as (
    select
        events.event_id,
        {{ utc_date('events.event_at') }} as date_day,
        events.order_total,
        -- uncorrelated IN lists: hashed once, not searched per event
        events.event_id in (select matched_events.event_id from matched_events) as is_matched,
        coalesce(events.order_id in (select named_orders.order_id from named_orders), false)
        or coalesce(events.order_number in (select named_orders.order_number from named_orders), false)
            as names_an_order
    from {{ ref('int_tracked_purchases') }} as events
),

tracked as (
    select
        date_day,
        count(*) as tracked_orders,
        count(*) filter (where not is_matched and not names_an_order) as unmatched_tracked_purchases,
        count(*) filter (where not is_matched and names_an_order) as duplicate_tracked_purchases,
        coalesce(sum(order_total), 0) as tracked_revenue
    from purchases
    group by date_day
),

final as (
    select
        coalesce(orders.date_day, tracked.date_day) as date_day,
        coalesce(orders.shop_orders, 0)::integer as shop_orders,
        coalesce(tracked.tracked_orders, 0)::integer as tracked_orders,
        coalesce(orders.matched_orders, 0)::integer as matched_orders,
        coalesce(orders.matched_by_order_id, 0)::integer as matched_by_order_id,
        coalesce(orders.matched_by_user_time, 0)::integer as matched_by_user_time,
        coalesce(tracked.unmatched_tracked_purchases, 0)::integer as unmatched_tracked_purchases,
        coalesce(tracked.duplicate_tracked_purchases, 0)::integer as duplicate_tracked_purchases,
        round(orders.matched_orders::{{ type_decimal() }} / nullif(orders.shop_orders, 0), 4) as capture_rate,
        coalesce(orders.paid_orders, 0)::integer as paid_orders,
        coalesce(orders.shop_revenue, 0) as shop_revenue,
        coalesce(tracked.tracked_revenue, 0) as tracked_revenue,
        coalesce(orders.matched_revenue, 0) as matched_revenue,
        round(orders.matched_revenue / nullif(orders.shop_revenue, 0), 4) as revenue_capture_rate
    from orders
    full outer join tracked on orders.date_day = tracked.date_day
)

select * from final
