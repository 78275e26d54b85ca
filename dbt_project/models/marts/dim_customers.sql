{#-
    One row per customer with an order: the shop account (the order's user), else, for a guest whose checkout the
    tracker saw, the browser that placed it. RFM: recency (days since the last order, as of this build), frequency
    (orders placed) and monetary value (paid revenue), each scored 1-5 by quintile among the customers (5: most
    recent, most frequent, most spent; equal values share a score), and the named segment of the seed rfm_segments
    (the first by priority whose recency and frequency-monetary score ranges hold; fm is the rounded mean of the two).
    The first order's channel and device are those of the tracked session that placed it.

    A plain table rebuilt by every build: recency moves with the clock, the scores with every customer's orders.
-#}
with

orders as (
    select
        coalesce('user:' || user_id, 'client:' || client_id) as customer_key,
        user_id,
        client_id,
        order_id,
        ordered_at,
        revenue,
        is_revenue,
        channel,
        device_class
    from {{ ref('fct_orders') }}
    where user_id is not null or client_id is not null
),

per_customer as (
    select
        customer_key,
        max(user_id) as user_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as order_count,
        count(*) filter (where is_revenue) as paid_order_count,
        sum(revenue) as revenue
    from orders
    group by customer_key
),

first_orders as (
    select {{ distinct_on('customer_key') }}
        customer_key,
        order_id as first_order_id,
        channel as first_order_channel,
        device_class as first_order_device_class
    from orders
    {{ first_per_key('customer_key', 'ordered_at asc, order_id asc') }}
),

measured as (
    select
        per_customer.*,
        {{ seconds_between('per_customer.last_order_at', run_started()) }} / 86400.0 as recency_days
    from per_customer
),

-- quintiles by rank share, so equal values share a score
scored as (
    select
        measured.*,
        least(5, 1 + floor(5 * percent_rank() over (order by measured.recency_days desc)))::integer as r_score,
        least(5, 1 + floor(5 * percent_rank() over (order by measured.order_count asc)))::integer as f_score,
        least(5, 1 + floor(5 * percent_rank() over (order by measured.revenue asc)))::integer as m_score
    from measured
),

segmented as (
    select
        scored.*,
        round((scored.f_score + scored.m_score) / 2.0)::integer as fm_score,
        (
            select segments.segment from {{ ref('rfm_segments') }} as segments
            where
                scored.r_score between segments.r_min and segments.r_max
                and round((scored.f_score + scored.m_score) / 2.0) between segments.fm_min and segments.fm_max
            order by segments.priority
            limit 1
        ) as rfm_segment
    from scored
),

final as (
    select
        segmented.customer_key,
        segmented.user_id,
        segmented.first_order_at,
        segmented.last_order_at,
        segmented.order_count::integer as order_count,
        segmented.paid_order_count::integer as paid_order_count,
        segmented.revenue,
        round(segmented.recency_days::{{ type_decimal() }}, 1) as recency_days,
        segmented.r_score,
        segmented.f_score,
        segmented.m_score,
        segmented.fm_score,
        segmented.r_score::{{ type_text() }}
        || segmented.f_score::{{ type_text() }}
        || segmented.m_score::{{ type_text() }} as rfm_score,
        coalesce(segmented.rfm_segment, 'unsegmented') as rfm_segment,
        first_orders.first_order_id,
        first_orders.first_order_channel,
        first_orders.first_order_device_class
    from segmented
    inner join first_orders on segmented.customer_key = first_orders.customer_key
)

select * from final
